/**
 * The detached signature (`.asc`) of an image served over http(s). A server may still be making it: HTTP 202
 * means "not ready yet" and is asked again, a bounded number of times with a growing pause.
 */
import { RktError } from '../common/errors.js';
import type { HttpSettings } from './download.js';
import type { FetchOptions } from './options.js';

/** How often a signature answered with HTTP 202 (not ready yet) is asked for, at most. */
const SIGNATURE_ATTEMPTS = 5;

/** The signature at `url` (armored text), or undefined when the server has none (404). Other statuses are EFETCH errors. */
export async function fetchSignature(http: typeof import('./http.js'), url: string, httpOpts: HttpSettings, opts: FetchOptions): Promise<string | undefined> {
  for (let attempt = 1; ; attempt++) {
    const r = await http.httpGetText(url, httpOpts, 1 << 20);
    if (r.status === 200) return r.text;
    if (r.status === 404) return undefined;
    if (r.status !== 202) throw new RktError('EFETCH', `fetching signature ${url} failed: HTTP ${r.status}`);
    if (attempt === SIGNATURE_ATTEMPTS) break;
    opts.note?.(`signature ${url} not ready yet (HTTP 202), retrying`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** (attempt - 1), 2000)));
  }
  throw new RktError('EFETCH', `signature ${url} still not ready after ${SIGNATURE_ATTEMPTS} attempts (the server answered HTTP 202 each time)`, {
    hint: 'try again later, or skip the signature check with --insecure-options=image',
  });
}

