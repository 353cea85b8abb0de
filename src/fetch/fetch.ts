import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { describe, isErrno, RktError } from '../common/errors.js';
import type { GlobalOptions } from '../common/options.js';
import { parseImageReference } from '../image/names.js';
import { defaultOsArch } from '../image/labels.js';
import type { Store, StagedImage } from '../store/store.js';
import type { ImageRecord, RemoteInfo } from '../store/records.js';
import { readRemote, writeRemote } from '../store/records.js';
import { findImages, looksLikeImageId, resolveImage } from '../store/resolve.js';

export type PullPolicy = 'new' | 'update' | 'never';

export interface FetchOptions {
  readonly store: Store;
  readonly globals: GlobalOptions;
  readonly pullPolicy: PullPolicy;
  /** Progress and notes for the user (drawn on stderr by the CLI). */
  readonly note?: (msg: string) => void;
  /** Names of the images whose dependencies are being fetched, outermost first (cycle and depth checks). */
  readonly chain?: readonly string[];
}

/** How deep dependencies may nest. */
export const MAX_DEPENDENCY_DEPTH = 10;

/** How a user's word names an image. */
export type ImageSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'id'; readonly id: string }
  | { readonly kind: 'name'; readonly name: string; readonly labels: ReadonlyMap<string, string> };

/**
 * Classify an image argument as rkt does: `file://` or a path (absolute, `./`, or an existing file) is a file;
 * `http(s)://` a URL; `sha512-…` an Image ID; anything else an image name with optional labels.
 */
export async function classifySource(arg: string): Promise<ImageSource> {
  if (arg.startsWith('file://')) return { kind: 'file', path: fileURLToPath(arg) };
  if (/^https?:\/\//.test(arg)) return { kind: 'url', url: arg };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) throw new RktError('EFETCH', `unsupported image source "${arg}": want a file, http(s) URL, Image ID or image name`);
  if (looksLikeImageId(arg)) return { kind: 'id', id: arg };
  if (arg.startsWith('/') || arg.startsWith('./') || arg.startsWith('../') || arg.endsWith('.aci')) return { kind: 'file', path: arg };
  try {
    if ((await fs.stat(arg)).isFile()) return { kind: 'file', path: arg };
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
  }
  const ref = parseImageReference(arg);
  return { kind: 'name', name: ref.name, labels: ref.labels };
}

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
  signature: string | undefined, extra: { remote?: RemoteInfo; latest?: boolean; want?: ImageSource }): Promise<ImageRecord> {
  // For files and URLs the name is known only from the manifest: verify against it after staging.
  const early = trustName !== undefined ? await verifier(opts, trustName, signature, what) : undefined;
  const late: Writable[] = [];
  let lateDone: (() => Promise<void>) | undefined;
  let staged: StagedImage | undefined;
  if (early === undefined && !opts.globals.insecure.has('image')) {
    // Buffering nothing: we stage first and verify by re-reading the staged blob.
    staged = await opts.store.stage(input, what, late);
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
    staged = await opts.store.stage(input, what, early?.sink !== undefined ? [early.sink] : []);
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
  return staged.publish({ ...extra, dependencies });
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
  return importVerified(opts, createReadStream(file, { highWaterMark: 1 << 20 }), file, undefined, signature, {});
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
  const headers: Record<string, string> = {};
  if (cached?.etag !== undefined && cachedRecord !== undefined) headers['If-None-Match'] = cached.etag;
  const res = await http.httpGet(url, { ...httpOpts, headers });
  if (res.status === 304 && cached !== undefined && cachedRecord !== undefined) {
    res.body.resume();
    await writeRemote(layout, { ...cached, downloadTime: new Date().toISOString(), maxAge: http.parseCacheControlMaxAge(res.headers['cache-control'] as string | undefined) ?? cached.maxAge });
    return cachedRecord;
  }
  if (res.status !== 200) {
    res.body.resume();
    throw new RktError('EFETCH', `fetching ${url} failed: HTTP ${res.status}`);
  }
  let signature: string | undefined;
  if (!opts.globals.insecure.has('image')) signature = await fetchSignature(http, ascUrl ?? `${url}.asc`, httpOpts, opts);
  const etag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
  const maxAge = http.parseCacheControlMaxAge(res.headers['cache-control'] as string | undefined);
  const remote: RemoteInfo = {
    url, ...(ascUrl !== undefined || signature !== undefined ? { signatureUrl: ascUrl ?? `${url}.asc` } : {}),
    ...(etag !== undefined ? { etag } : {}), ...(maxAge !== undefined ? { maxAge } : {}), downloadTime: new Date().toISOString(),
  };
  const rec = await importVerified(opts, res.body, url, trustName, signature, { remote, latest, ...(want !== undefined ? { want } : {}) });
  await writeRemote(layout, { url, imageId: rec.id, ...(etag !== undefined ? { etag } : {}), ...(maxAge !== undefined ? { maxAge } : {}), downloadTime: remote.downloadTime });
  return rec;
}

/** GET a signature; HTTP 202 means "not ready yet": retry a bounded number of times. */
async function fetchSignature(http: typeof import('./http.js'), url: string, httpOpts: { insecureTls: boolean; allowHttp: boolean }, opts: FetchOptions): Promise<string | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await http.httpGetText(url, httpOpts, 1 << 20);
    if (r.status === 200) return r.text;
    if (r.status === 202) {
      opts.note?.(`signature ${url} not ready yet (HTTP 202), retrying`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, 2000)));
      continue;
    }
    if (r.status === 404) return undefined;
    throw new RktError('EFETCH', `fetching signature ${url} failed: HTTP ${r.status}`);
  }
  throw new RktError('EFETCH', `signature ${url} still not ready after 5 attempts (HTTP 202)`);
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
