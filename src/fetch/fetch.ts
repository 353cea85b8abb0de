import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, openSync, promises as fs, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, isErrno, RktError } from '../common/errors.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import type { GlobalOptions } from '../common/options.js';
import { parseImageReference } from '../image/names.js';
import { defaultOsArch } from '../image/labels.js';
import type { Store, StagedImage } from '../store/store.js';
import type { ImageRecord, RemoteInfo } from '../store/records.js';
import { readRemote, writeRemote } from '../store/records.js';
import { findImages, resolveImage } from '../store/resolve.js';
import { classifySource, type ImageSource } from './source.js';

export type PullPolicy = 'new' | 'update' | 'never';

export interface FetchOptions {
  readonly store: Store;
  readonly globals: GlobalOptions;
  readonly pullPolicy: PullPolicy;
  /** Progress and notes for the user (drawn on stderr by the CLI). */
  readonly note?: (msg: string) => void;
  /**
   * Download progress, for a reporter that draws it on a terminal: called at most every PROGRESS_INTERVAL_MS
   * while an image downloads, and once when it is complete. Without it, progress goes to `note` as a line per
   * PROGRESS_INTERVAL_MS.
   */
  readonly progress?: (p: DownloadProgress) => void;
  /** Names of the images whose dependencies are being fetched, outermost first (cycle and depth checks). */
  readonly chain?: readonly string[];
}

/** How far an image download has got. */
export interface DownloadProgress {
  readonly url: string;
  /** Bytes of the image on disk so far (a resumed download starts above 0). */
  readonly received: number;
  /** The image's size in bytes, when the server said. */
  readonly total: number | undefined;
  readonly done: boolean;
}

/** How deep dependencies may nest. */
export const MAX_DEPENDENCY_DEPTH = 10;
/** The shortest time between two progress reports of one download. */
export const PROGRESS_INTERVAL_MS = 1000;
/** How often a signature answered with HTTP 202 (not ready yet) is asked for, at most. */
const SIGNATURE_ATTEMPTS = 5;

export { classifySource, type ImageSource } from './source.js';

/** Signature checking for one image: loaded only when needed (openpgp is heavy to load). */
async function verifier(opts: FetchOptions, imageName: string, signature: string | undefined, what: string): Promise<{ sink?: Writable; done: () => Promise<void> }> {
  if (opts.globals.insecure.has('image')) return { done: async () => undefined };
  if (signature === undefined) {
    throw new RktError('ESIGNATURE', `signature verification failed for ${imageName}: no signature found for ${what}`, {
      hint: 'provide the .asc signature beside the image, or skip the check with --insecure-options=image',
    });
  }
  const { startImageVerification } = await import('./signature.js');
  const v = await startImageVerification(opts.globals, signature, imageName);
  return { sink: v.sink, done: async () => { await v.result; } };
}

/**
 * Stage an image from a stream, verify its signature against the trust store on the way, then check and
 * publish it (dependencies first). The image name used for trust is the one the user asked for, or the
 * manifest's when the user gave a file or URL.
 */
async function importVerified(opts: FetchOptions, input: Readable, what: string, trustName: string | undefined,
  signature: string | undefined, extra: { remote?: RemoteInfo; latest?: boolean; want?: ImageSource; sourceFile?: string }): Promise<ImageRecord> {
  // For files and URLs the name is known only from the manifest: verify against it after staging.
  const early = trustName !== undefined ? await verifier(opts, trustName, signature, what) : undefined;
  const late: Writable[] = [];
  let lateDone: (() => Promise<void>) | undefined;
  let staged: StagedImage | undefined;
  if (early === undefined && !opts.globals.insecure.has('image')) {
    // Buffering nothing: we stage first and verify by re-reading the staged blob.
    staged = await opts.store.stage(input, what, late, extra.sourceFile);
    try {
      const v = await verifier(opts, staged.info.manifest.name, signature, what);
      if (v.sink !== undefined) {
        const blob = path.join(staged.workDir, 'blob');
        await new Promise<void>((resolve, reject) => {
          createReadStream(blob).on('error', reject).pipe(v.sink as Writable).on('finish', resolve).on('error', reject);
        });
      }
      lateDone = v.done;
      await lateDone();
    } catch (err) {
      await staged.discard();
      throw err;
    }
  } else {
    staged = await opts.store.stage(input, what, early?.sink !== undefined ? [early.sink] : [], extra.sourceFile);
    try {
      await early?.done();
    } catch (err) {
      await staged.discard();
      throw err;
    }
  }
  const m = staged.info.manifest;
  const want = extra.want;
  if (want?.kind === 'name') {
    const problems: string[] = [];
    if (m.name !== want.name) problems.push(`its name is "${m.name}"`);
    for (const [k, v] of want.labels) {
      const have = m.labels.find((l) => l.name === k)?.value;
      if (have !== v) problems.push(`label ${k} is ${have === undefined ? 'missing' : `"${have}"`}, want "${v}"`);
    }
    if (problems.length > 0) {
      await staged.discard();
      throw new RktError('EMISMATCH', `image fetched from ${what} is not ${want.name}: ${problems.join('; ')}`);
    }
  }
  const dependencies: string[] = [];
  const chain = [...(opts.chain ?? []), m.name];
  const depOpts: FetchOptions = { ...opts, chain };
  try {
    if (m.dependencies.length > 0 && chain.length > MAX_DEPENDENCY_DEPTH) {
      throw new RktError('EDEPENDENCY', `dependencies of ${chain[0] ?? m.name} nest deeper than ${MAX_DEPENDENCY_DEPTH}: ${chain.join(' -> ')}`);
    }
    for (const dep of m.dependencies) {
      if (chain.includes(dep.imageName)) {
        throw new RktError('EDEPENDENCY', `dependency cycle: ${[...chain, dep.imageName].join(' -> ')}`);
      }
      const labels = new Map(dep.labels.map((l) => [l.name, l.value] as const));
      const rec = dep.imageID !== undefined
        ? await fetchOne(depOpts, dep.imageID).catch(async (err: unknown) => {
            if (!(err instanceof RktError) || err.code !== 'ENOIMAGE') throw err;
            return fetchOne(depOpts, [dep.imageName, ...[...labels].map(([k, v]) => `${k}=${v}`)].join(','));
          })
        : await fetchOne(depOpts, [dep.imageName, ...[...labels].map(([k, v]) => `${k}=${v}`)].join(','));
      if (dep.imageID !== undefined && rec.id !== dep.imageID) {
        throw new RktError('EDEPENDENCY', `dependency ${dep.imageName} of ${m.name} has Image ID ${rec.id}, the manifest requires ${dep.imageID}`);
      }
      dependencies.push(rec.id);
    }
  } catch (err) {
    await staged.discard();
    throw err;
  }
  return staged.publish({
    ...(extra.remote !== undefined ? { remote: extra.remote } : {}), ...(extra.latest !== undefined ? { latest: extra.latest } : {}), dependencies,
  });
}

/** Fetch from a local file (signature: the `.asc` file beside it). */
async function fetchFile(opts: FetchOptions, file: string): Promise<ImageRecord> {
  let signature: string | undefined;
  if (!opts.globals.insecure.has('image')) {
    try {
      signature = await fs.readFile(`${file}.asc`, 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw new RktError('EFETCH', `cannot read signature ${file}.asc: ${describe(err)}`, { cause: err });
    }
  }
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw new RktError('EFETCH', `${file}: not a regular file`);
  } catch (err) {
    if (err instanceof RktError) throw err;
    if (isErrno(err, 'ENOENT')) throw new RktError('ENOENT', `${file}: no such file`);
    throw new RktError('EFETCH', `${file}: ${describe(err)}`, { cause: err });
  }
  return importVerified(opts, createReadStream(file, { highWaterMark: 1 << 20 }), file, undefined, signature, { sourceFile: file });
}

/** Fetch over http(s), honouring the URL's cache record (max-age, ETag) under pull policy `update`. */
async function fetchUrl(opts: FetchOptions, url: string, trustName: string | undefined, ascUrl: string | undefined,
  want: ImageSource | undefined, latest: boolean): Promise<ImageRecord> {
  const http = await import('./http.js');
  const layout = opts.store.layout;
  const httpOpts = { insecureTls: opts.globals.insecure.has('tls'), allowHttp: opts.globals.insecure.has('http') };
  const cached = await readRemote(layout, url);
  const cachedRecord = cached !== undefined ? await opts.store.get(cached.imageId) : undefined;
  if (cached !== undefined && cachedRecord !== undefined) {
    const age = (Date.now() - Date.parse(cached.downloadTime)) / 1000;
    if (opts.pullPolicy === 'new' || (cached.maxAge !== undefined && age < cached.maxAge)) return cachedRecord;
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
    rec = await importVerified(opts, input, url, trustName, signature, { remote, latest, ...(want !== undefined ? { want } : {}) });
  } finally {
    input?.destroy(); // closes the file if the import did not read it to the end
    // Complete bytes are not resumed: whether they were imported or refused, a new fetch starts afresh.
    await dropPartial(partial);
  }
  await writeRemote(layout, { url, imageId: rec.id, ...(etag !== undefined ? { etag } : {}), ...(maxAge !== undefined ? { maxAge } : {}), downloadTime });
  return rec;
}

/**
 * GET the image, resuming `partial` when it can be (`Range` from its size, `If-Range` its validator) and asking
 * for a 304 with `etag`. `resumeAt` is set when the answer is a 206 that continues the partial exactly; a
 * server that answers otherwise to a range request is asked again for the whole image.
 */
async function requestImage(http: typeof import('./http.js'), url: string, httpOpts: { insecureTls: boolean; allowHttp: boolean },
  partial: PartialDownload, etag: string | undefined): Promise<{ res: import('./http.js').HttpResponse; resumeAt: number | undefined }> {
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
    res.body.on('error', () => undefined);
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
async function receiveImage(opts: FetchOptions, url: string, res: import('./http.js').HttpResponse, partial: PartialDownload,
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

/**
 * Open a finished download for reading: from then on the bytes are ours even if the file is removed (`rkt image
 * gc` clears cas/tmp). The handle closes with the stream made from it.
 */
async function openDownload(url: string, partial: PartialDownload): Promise<FileHandle> {
  try {
    return await fs.open(partial.part, 'r');
  } catch (err) {
    throw new RktError('ESTORE', `cannot read the download of ${url} in ${partial.part}: ${describe(err)}`, {
      cause: err, hint: isErrno(err, 'ENOENT') ? 'it was removed while it ran (by "rkt image gc"?): fetch the image again' : undefined,
    });
  }
}

/** GET a signature; HTTP 202 means "not ready yet": retry a bounded number of times. */
async function fetchSignature(http: typeof import('./http.js'), url: string, httpOpts: { insecureTls: boolean; allowHttp: boolean }, opts: FetchOptions): Promise<string | undefined> {
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

/** Fetch by name: the store under `new`/`never`; otherwise appc discovery. */
async function fetchName(opts: FetchOptions, src: Extract<ImageSource, { kind: 'name' }>, arg: string): Promise<ImageRecord> {
  if (opts.pullPolicy !== 'update') {
    const found = await findImages(opts.store.layout, arg);
    if (found[0] !== undefined) return found[0];
    if (opts.pullPolicy === 'never') {
      throw new RktError('ENOIMAGE', `no image "${arg}" in the store and --pull-policy=never`, { hint: `fetch it first: rkt fetch ${arg}` });
    }
  }
  const { discover } = await import('./discovery.js');
  const labels = new Map(src.labels);
  const { os, arch } = defaultOsArch();
  if (!labels.has('os')) labels.set('os', os);
  if (!labels.has('arch')) labels.set('arch', arch);
  const latest = !labels.has('version');
  const endpoints = await discover(src.name, labels, {
    insecureHttp: opts.globals.insecure.has('http'), insecureTls: opts.globals.insecure.has('tls'), trace: opts.note,
  });
  const first = endpoints.aci[0];
  if (first === undefined) throw new RktError('EDISCOVERY', `discovery found no image URL for ${arg}`);
  return fetchUrl(opts, first.aci, src.name, first.asc, src, latest);
}

async function fetchOne(opts: FetchOptions, arg: string): Promise<ImageRecord> {
  const src = await classifySource(arg);
  switch (src.kind) {
    case 'id':
      return resolveImage(opts.store.layout, src.id);
    case 'file':
      if (opts.pullPolicy === 'never') throw new RktError('ENOIMAGE', `--pull-policy=never: not importing ${src.path}`);
      return fetchFile(opts, src.path);
    case 'url':
      if (opts.pullPolicy === 'never') {
        const cached = await readRemote(opts.store.layout, src.url);
        const rec = cached !== undefined ? await opts.store.get(cached.imageId) : undefined;
        if (rec !== undefined) return rec;
        throw new RktError('ENOIMAGE', `no image from ${src.url} in the store and --pull-policy=never`);
      }
      return fetchUrl(opts, src.url, undefined, undefined, undefined, false);
    case 'name':
      return fetchName(opts, src, arg);
  }
}

/**
 * Get one image into the store as `arg` names it (file, URL, Image ID, or name with labels) under the pull
 * policy, verifying its signature unless --insecure-options=image. Returns its record.
 */
export function fetchImage(opts: FetchOptions, arg: string): Promise<ImageRecord> {
  return fetchOne(opts, arg);
}

// ---------------------------------------------------------------------------------------------------------------
// Resumable downloads
//
// A URL's image is downloaded to `cas/tmp/download-<sha256 of url>.<owner>.part`, beside a `.json` naming the URL
// and the validators (ETag, Last-Modified) of the bytes, and staged from the finished file. The owner tag (the
// downloading process: boot and PID namespace, pid, start time) keeps concurrent fetches of one URL out of each
// other's files without a lock: a fetch takes over only a partial whose owner is gone, by renaming it to its own
// name (a rename of one path succeeds once). Partials of owners we cannot judge (another PID namespace, an
// earlier boot) are left alone; `rkt image gc` removes them with the rest of cas/tmp.

interface Validators {
  readonly etag?: string;
  readonly lastModified?: string;
}

interface PartialDownload {
  /** The file the image's bytes go to. */
  readonly part: string;
  readonly metaFile: string;
  /** The validators of the bytes already there. */
  readonly meta: Validators;
  /** Where to resume and the If-Range value, when the bytes there can be resumed. */
  readonly resume: { readonly size: number; readonly validator: string } | undefined;
}

/** The ETag and Last-Modified of a response. */
function validatorsOf(headers: IncomingHttpHeaders): Validators {
  const etag = headers.etag;
  const lastModified = headers['last-modified'];
  return { ...(etag !== undefined ? { etag } : {}), ...(lastModified !== undefined ? { lastModified } : {}) };
}

/** What If-Range may carry: a strong ETag, else the Last-Modified date (a weak ETag cannot vouch for bytes). */
function strongValidator(v: Validators): string | undefined {
  if (v.etag !== undefined && !v.etag.startsWith('W/')) return v.etag;
  return v.lastModified;
}

/** `bytes START-END/TOTAL` (TOTAL may be `*`), or undefined. */
function parseContentRange(header: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (m === null) return undefined;
  const start = Number(m[1]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  return Number.isSafeInteger(start) ? { start, total: total !== undefined && Number.isSafeInteger(total) ? total : undefined } : undefined;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined if no such process runs. */
async function processStartTime(pid: number): Promise<string | undefined> {
  let stat: string;
  try {
    stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) return undefined;
    throw err;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'. A zombie has ended.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
}

/** What makes a pid meaningful: the boot and the PID namespace, hashed short. */
async function pidContext(): Promise<string> {
  let boot = '';
  let ns = '';
  try {
    boot = await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8');
    ns = await fs.readlink('/proc/self/ns/pid');
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'EACCES')) throw err;
  }
  return createHash('sha256').update(`${boot.trim()} ${ns}`).digest('hex').slice(0, 12);
}

let ownTag: Promise<string> | undefined;
/** This process's owner tag: `<context>-<pid>-<start time>`. */
function ownerTag(): Promise<string> {
  ownTag ??= (async () => `${await pidContext()}-${process.pid}-${(await processStartTime(process.pid)) ?? '0'}`)();
  return ownTag;
}

/** True if the process that `tag` names has ended (false when it runs or cannot be judged from here). */
async function ownerGone(tag: string, own: string): Promise<boolean> {
  const [context, pid, start] = tag.split('-');
  if (context !== own.split('-')[0] || pid === undefined || !/^\d+$/.test(pid)) return false;
  const now = await processStartTime(Number(pid));
  return now === undefined || now !== start;
}

async function readPartialMeta(file: string, url: string): Promise<Validators | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    if (err instanceof SyntaxError) return undefined; // torn by a crash: start afresh
    throw err;
  }
  const m = v as { url?: unknown; etag?: unknown; lastModified?: unknown } | null;
  if (typeof m !== 'object' || m === null || m.url !== url) return undefined;
  return {
    ...(typeof m.etag === 'string' ? { etag: m.etag } : {}),
    ...(typeof m.lastModified === 'string' ? { lastModified: m.lastModified } : {}),
  };
}

/**
 * This process's partial download of `url` in `tmp`: an abandoned one taken over when there is one (the others
 * of the URL whose owners are gone are removed), else a fresh, empty one. Creates nothing but `tmp`.
 */
async function claimPartial(tmp: string, url: string): Promise<PartialDownload> {
  const own = await ownerTag();
  const base = `download-${createHash('sha256').update(url).digest('hex')}`;
  const part = path.join(tmp, `${base}.${own}.part`);
  const metaFile = path.join(tmp, `${base}.${own}.json`);
  try {
    await fs.mkdir(tmp, { recursive: true, mode: 0o700 });
    // The files of other fetches of this URL, by owner; those whose owner is gone are ours to take or remove.
    const gone = new Map<string, Set<string>>();
    for (const name of await fs.readdir(tmp)) {
      const m = name.startsWith(`${base}.`) ? /^(.+)\.(part|json)$/.exec(name.slice(base.length + 1)) : null;
      if (m === null || m[1] === undefined || m[2] === undefined || m[1] === own) continue;
      if (!gone.has(m[1]) && !(await ownerGone(m[1], own))) continue;
      gone.set(m[1], (gone.get(m[1]) ?? new Set()).add(m[2]));
    }
    let claimed = false;
    for (const [tag, kinds] of gone) {
      const from = path.join(tmp, `${base}.${tag}`);
      if (!claimed && kinds.has('part')) {
        try {
          await fs.rename(`${from}.part`, part);
          claimed = true;
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err; // else taken over by another fetch meanwhile
        }
        if (claimed) {
          try {
            await fs.rename(`${from}.json`, metaFile);
          } catch (err) {
            if (!isErrno(err, 'ENOENT')) throw err;
            await fs.rm(metaFile, { force: true });
          }
          continue;
        }
      }
      for (const kind of kinds) await fs.rm(`${from}.${kind}`, { force: true });
    }
    if (!claimed) return { part, metaFile, meta: {}, resume: undefined };
    const meta = await readPartialMeta(metaFile, url);
    const size = (await fs.stat(part)).size;
    const validator = meta !== undefined ? strongValidator(meta) : undefined;
    if (meta === undefined || validator === undefined || size === 0) {
      await dropPartial({ part, metaFile });
      return { part, metaFile, meta: {}, resume: undefined };
    }
    return { part, metaFile, meta, resume: { size, validator } };
  } catch (err) {
    throw new RktError('ESTORE', `cannot prepare the download of ${url} in ${tmp}: ${describe(err)}`, {
      cause: err, hint: isErrno(err, 'EACCES') ? 'run as root, or as a member of group rkt on a store created for it' : undefined,
    });
  }
}

/** Remove a partial download and its record. */
async function dropPartial(p: Pick<PartialDownload, 'part' | 'metaFile'>): Promise<void> {
  await fs.rm(p.part, { force: true });
  await fs.rm(p.metaFile, { force: true });
}
