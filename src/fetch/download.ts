/**
 * One image download over http(s) into this process's partial file: the request (resuming what a broken
 * earlier download left, or asking for a 304) and the body written to disk with progress reports.
 */
import { createWriteStream, openSync, rmSync } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatBytes } from '../common/bytes.js';
import { describe, RktError } from '../common/errors.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { trace } from '../common/trace.js';
import type { HttpResponse } from './http.js';
import { PROGRESS_INTERVAL_MS, type FetchOptions } from './options.js';
import { parseContentRange, strongValidator, validatorsOf, type PartialDownload, type Validators } from './partial.js';

/** The http(s) settings a fetch passes to every request. */
export interface HttpSettings {
  readonly insecureTls: boolean;
  readonly allowHttp: boolean;
}

/**
 * GET the image, resuming `partial` when it can be (`Range` from its size, `If-Range` its validator) and asking
 * for a 304 with `etag`. `resumeAt` is set when the answer is a 206 that continues the partial exactly; a
 * server that answers otherwise to a range request is asked again for the whole image.
 */
export async function requestImage(http: typeof import('./http.js'), url: string, httpOpts: HttpSettings,
  partial: PartialDownload, etag: string | undefined): Promise<{ res: HttpResponse; resumeAt: number | undefined }> {
  let resume = partial.resume;
  for (;;) {
    const headers: Record<string, string> = {};
    if (etag !== undefined) headers['If-None-Match'] = etag;
    if (resume !== undefined) {
      headers['Range'] = `bytes=${resume.size}-`;
      headers['If-Range'] = resume.validator;
    }
    const res = await http.httpGet(url, { ...httpOpts, headers });
    // The server may hang up before the body is piped anywhere: the pipeline in receiveImage reports that error.
    res.body.on('error', (err) => trace(`${url}: ${describe(err)} (receiveImage reports it)`));
    if (resume === undefined) return { res, resumeAt: undefined };
    if (res.status === 206) {
      const range = parseContentRange(res.headers['content-range']);
      const now = validatorsOf(res.headers);
      const same = now.etag === undefined || now.etag === partial.meta.etag;
      if (range !== undefined && range.start === resume.size && same) return { res, resumeAt: resume.size };
    } else if (res.status !== 416) {
      return { res, resumeAt: undefined };
    }
    // A range we did not ask for, or none left: the partial is of no use.
    res.body.destroy();
    resume = undefined;
  }
}

/**
 * Read the image's body into the partial file (appending from `resumeAt`, else from scratch with `validators`
 * recorded first), reporting progress. A connection that breaks leaves the partial for the next fetch to resume.
 */
export async function receiveImage(opts: FetchOptions, url: string, res: HttpResponse, partial: PartialDownload,
  resumeAt: number | undefined, validators: Validators): Promise<void> {
  let total: number | undefined;
  if (resumeAt !== undefined) {
    total = parseContentRange(res.headers['content-range'])?.total;
  } else {
    const length = Number(res.headers['content-length']);
    total = res.headers['content-length'] !== undefined && Number.isSafeInteger(length) && length >= 0 ? length : undefined;
  }
  // The file is opened (truncated, for a fresh start) before anything else waits, so that what a server sends
  // just before it hangs up is kept. The old record goes first and the new one is written after the truncation:
  // bytes are never described by the record of other bytes, and bytes without a record are never resumed.
  let fd: number;
  try {
    if (resumeAt === undefined) rmSync(partial.metaFile, { force: true });
    fd = openSync(partial.part, resumeAt !== undefined ? 'a' : 'w', 0o600);
  } catch (err) {
    res.body.destroy();
    throw new RktError('ESTORE', `cannot save the download of ${url} in ${partial.part}: ${describe(err)}`, { cause: err });
  }
  const recorded = resumeAt !== undefined ? Promise.resolve() : writeFileAtomic(partial.metaFile, `${JSON.stringify({ url, ...validators })}\n`, 0o600, false);
  let received = resumeAt ?? 0;
  opts.note?.(resumeAt !== undefined ? `Resuming the download of ${url} at ${formatBytes(resumeAt)}` : `Downloading ${url}`);
  let last = Date.now();
  const report = (done: boolean) => {
    const now = Date.now();
    if (!done && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    if (opts.progress !== undefined) opts.progress({ url, received, total, done });
    else if (!done) opts.note?.(`${url}: ${formatBytes(received)}${total !== undefined ? ` of ${formatBytes(total)}` : ''}`);
  };
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      report(false);
      callback(null, chunk);
    },
  });
  const [piped, saved] = await Promise.allSettled([pipeline(res.body, counter, createWriteStream(partial.part, { fd })), recorded]);
  for (const outcome of [saved, piped]) {
    if (outcome.status === 'fulfilled') continue;
    const err: unknown = outcome.reason;
    if (!(err instanceof RktError)) {
      throw new RktError('ESTORE', `cannot save the download of ${url} in ${partial.part}: ${describe(err)}`, { cause: err });
    }
    if (strongValidator(validators) === undefined) throw err;
    throw new RktError(err.code, err.message, { cause: err, hint: 'run the same command again to resume the download' });
  }
  if (total !== undefined && received !== total) {
    throw new RktError('EFETCH', `fetching ${url} failed: the server sent ${received} bytes of the ${total} it announced`);
  }
  report(true);
}
