/**
 * Getting images into the store: the entry point of the fetch code (loaded by a dynamic import only when the
 * store alone cannot answer, see source.ts `fromStore`). Each kind of source has its module: file.ts, url.ts,
 * and discovery by name here; the pull policy decides what the store may answer (pull-policy.ts).
 */
import { RktError } from '../common/errors.js';
import { defaultOsArch } from '../image/labels.js';
import type { ImageRecord } from '../store/records.js';
import { readRemote } from '../store/records.js';
import { findImages, resolveImage } from '../store/resolve.js';
import { fetchFile } from './file.js';
import type { FetchOptions } from './options.js';
import { storePlan } from './pull-policy.js';
import { classifySource, type ImageSource } from './source.js';
import { fetchUrl } from './url.js';

export type { DownloadProgress, FetchOptions } from './options.js';
export { MAX_DEPENDENCY_DEPTH, PROGRESS_INTERVAL_MS } from './options.js';
export type { PullPolicy } from './pull-policy.js';
export { classifySource, type ImageSource } from './source.js';

/** Fetch by name: the store first under `new`, only under `never`; otherwise (and if missing) appc discovery. */
async function fetchName(opts: FetchOptions, src: Extract<ImageSource, { kind: 'name' }>, arg: string): Promise<ImageRecord> {
  const plan = storePlan('name', opts.pullPolicy);
  if (plan !== 'fetch') {
    const found = await findImages(opts.store.layout, arg);
    if (found[0] !== undefined) return found[0];
    if (plan === 'store-only') {
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
  return fetchUrl(opts, fetchOne, first.aci, { trustName: src.name, ascUrl: first.asc, want: src, latest });
}

/** Fetch from a URL; under `never` only what an earlier download of it left in the store. */
async function fetchFromUrl(opts: FetchOptions, url: string): Promise<ImageRecord> {
  if (storePlan('url', opts.pullPolicy) === 'store-only') {
    const cached = await readRemote(opts.store.layout, url);
    const rec = cached !== undefined ? await opts.store.get(cached.imageId) : undefined;
    if (rec !== undefined) return rec;
    throw new RktError('ENOIMAGE', `no image from ${url} in the store and --pull-policy=never`);
  }
  return fetchUrl(opts, fetchOne, url, { latest: false });
}

async function fetchOne(opts: FetchOptions, arg: string): Promise<ImageRecord> {
  const src = await classifySource(arg);
  switch (src.kind) {
    case 'id':
      return resolveImage(opts.store.layout, src.id);
    case 'file':
      if (storePlan('file', opts.pullPolicy) === 'refuse') throw new RktError('ENOIMAGE', `--pull-policy=never: not importing ${src.path}`);
      return fetchFile(opts, fetchOne, src.path);
    case 'url':
      return fetchFromUrl(opts, src.url);
    case 'name':
      return fetchName(opts, src, arg);
    case 'oci': {
      const { fetchOciImage } = await import('../oci/fetch.js');
      return fetchOciImage(opts, src.ref);
    }
  }
}

/**
 * Get one image into the store as `arg` names it (file, URL, Image ID, or name with labels) under the pull
 * policy, verifying its signature unless --insecure-options=image. Returns its record.
 */
export function fetchImage(opts: FetchOptions, arg: string): Promise<ImageRecord> {
  return fetchOne(opts, arg);
}
