/**
 * Fetching an image from an http(s) URL: the URL's cache record (max-age, ETag) under the pull policy, a
 * resumable download into cas/tmp, the signature beside it, then the import.
 */
import type { Readable } from 'node:stream';
import { RktError } from '../common/errors.js';
import type { ImageRecord, RemoteInfo } from '../store/records.js';
import { readRemote, writeRemote } from '../store/records.js';
import { receiveImage, requestImage } from './download.js';
import { importVerified } from './import-image.js';
import type { FetchOne, FetchOptions } from './options.js';
import { claimPartial, dropPartial, openDownload, validatorsOf } from './partial.js';
import { reuseDownload } from './pull-policy.js';
import { fetchSignature } from './remote-signature.js';
import type { ImageSource } from './source.js';

/** What a URL fetch was asked for beyond the URL. */
export interface UrlRequest {
  /** The image name the signature must be trusted for; the manifest's name when undefined. */
  readonly trustName?: string;
  /** Where the signature is (discovery may say); `<url>.asc` when undefined. */
  readonly ascUrl?: string;
  /** What the image must be (discovery by name): name and labels are checked. */
  readonly want?: ImageSource;
  /** The image is the latest of its name (discovered without a version label). */
  readonly latest: boolean;
}

/**
 * Get the image at `url` into the store, or the one an earlier download of it left there when the pull policy
 * and the server's max-age or ETag say it is still good; its dependencies through `fetchOne`.
 */
export async function fetchUrl(opts: FetchOptions, fetchOne: FetchOne, url: string, req: UrlRequest): Promise<ImageRecord> {
  const { trustName, ascUrl, want, latest } = req;
  const http = await import('./http.js');
  const layout = opts.store.layout;
  const httpOpts = { insecureTls: opts.globals.insecure.has('tls'), allowHttp: opts.globals.insecure.has('http') };
  const cached = await readRemote(layout, url);
  const cachedRecord = cached !== undefined ? await opts.store.get(cached.imageId) : undefined;
  if (cached !== undefined && cachedRecord !== undefined && reuseDownload(opts.pullPolicy, cached.downloadTime, cached.maxAge, Date.now())) {
    return cachedRecord;
  }
  const partial = await claimPartial(layout.tmp, url);
  const etagCached = cached?.etag !== undefined && cachedRecord !== undefined ? cached.etag : undefined;
  const { res, resumeAt } = await requestImage(http, url, httpOpts, partial, etagCached);
  if (res.status === 304 && cached !== undefined && cachedRecord !== undefined) {
    res.body.destroy();
    await dropPartial(partial);
    await writeRemote(layout, { ...cached, downloadTime: new Date().toISOString(), maxAge: http.parseCacheControlMaxAge(res.headers['cache-control'] as string | undefined) ?? cached.maxAge });
    return cachedRecord;
  }
  if (res.status !== 200 && resumeAt === undefined) {
    res.body.destroy();
    throw new RktError('EFETCH', `fetching ${url} failed: HTTP ${res.status}`);
  }
  const validators = resumeAt !== undefined ? { ...partial.meta, ...validatorsOf(res.headers) } : validatorsOf(res.headers);
  await receiveImage(opts, url, res, partial, resumeAt, validators);
  const etag = validators.etag;
  const maxAge = http.parseCacheControlMaxAge(res.headers['cache-control'] as string | undefined);
  const downloadTime = new Date().toISOString();
  let rec: ImageRecord;
  let input: Readable | undefined;
  try {
    input = (await openDownload(url, partial)).createReadStream({ highWaterMark: 1 << 20 });
    // The signature is asked for once the image is in: a server still making it (HTTP 202) has had that long.
    let signature: string | undefined;
    if (!opts.globals.insecure.has('image')) signature = await fetchSignature(http, ascUrl ?? `${url}.asc`, httpOpts, opts);
    const remote: RemoteInfo = {
      url, ...(ascUrl !== undefined || signature !== undefined ? { signatureUrl: ascUrl ?? `${url}.asc` } : {}),
      ...(etag !== undefined ? { etag } : {}), ...(maxAge !== undefined ? { maxAge } : {}), downloadTime,
    };
    rec = await importVerified(opts, fetchOne, input, url, trustName, signature, { remote, latest, ...(want !== undefined ? { want } : {}) });
  } finally {
    input?.destroy(); // closes the file if the import did not read it to the end
    // Complete bytes are not resumed: whether they were imported or refused, a new fetch starts afresh.
    await dropPartial(partial);
  }
  await writeRemote(layout, { url, imageId: rec.id, ...(etag !== undefined ? { etag } : {}), ...(maxAge !== undefined ? { maxAge } : {}), downloadTime });
  return rec;
}
