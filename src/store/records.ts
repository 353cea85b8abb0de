import { accessSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { byCodeUnits } from '../common/compare.js';
import { describe, isErrno, RktError } from '../common/errors.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import type { Label } from '../image/labels.js';
import { ensureStoreDir, type StoreLayout } from './layout.js';
import type { OciRecordInfo } from './oci.js';

/** Where an image came from, for ETag / max-age reuse and for `rkt image list`. */
export interface RemoteInfo {
  readonly url: string;
  readonly signatureUrl?: string;
  readonly etag?: string;
  /** Cache-Control max-age in seconds, if the server gave one. */
  readonly maxAge?: number;
  /** ISO time of the download. */
  readonly downloadTime: string;
}

/** One image in the store. Written last, atomically: its presence is what makes the image exist. */
export interface ImageRecord {
  readonly id: string;
  readonly name: string;
  readonly labels: readonly Label[];
  readonly importTime: string;
  readonly lastUsed: string;
  /** Bytes of the stored blob (as fetched, possibly compressed). */
  readonly blobSize: number;
  /** Bytes of the uncompressed tar. */
  readonly size: number;
  /** Bytes of the rendered tree on disk. */
  readonly treeSize: number;
  readonly compression: string;
  /** Fetched by name without a version label: the image was the latest one. */
  readonly latest: boolean;
  /** Image IDs of the dependencies, in manifest order (already resolved). */
  readonly dependencies: readonly string[];
  readonly remote?: RemoteInfo;
  /** Set for an OCI image: its config and layers (stored by digest, see oci.ts); `dependencies` is then empty. */
  readonly oci?: OciRecordInfo;
}

/** A remote URL's cache entry. */
export interface RemoteRecord {
  readonly url: string;
  readonly imageId: string;
  readonly etag?: string;
  readonly maxAge?: number;
  readonly downloadTime: string;
}

async function readJsonFile(file: string): Promise<unknown | undefined> {
  return readJsonFileSync(file);
}

/**
 * `readJsonFile`, synchronously: a record is a small file, and an asynchronous read of one costs more than the
 * read (a thread-pool round trip, a file handle), which `rkt image list` of a hundred images pays per image.
 */
function readJsonFileSync(file: string): unknown | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new RktError('ESTORE', `cannot read ${file}: ${describe(err)}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RktError('ESTORE', `store file ${file} is corrupt: ${describe(err)}`, {
      cause: err, hint: 'remove it (the image is then fetched again) or run "rkt image gc"',
    });
  }
}

function isRecord(v: unknown): v is ImageRecord {
  const r = v as Partial<ImageRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.id === 'string' && typeof r.name === 'string'
    && Array.isArray(r.labels) && typeof r.importTime === 'string' && Array.isArray(r.dependencies);
}

/**
 * The record of image `id`, or undefined if the store has no such image. Its `lastUsed` is the later of the
 * record's own field and the record file's mtime, which touchRecord advances.
 */
export async function readRecord(layout: StoreLayout, id: string): Promise<ImageRecord | undefined> {
  return readRecordSync(layout, id);
}

/** `readRecord`, synchronously (see readJsonFileSync). */
function readRecordSync(layout: StoreLayout, id: string, file = layout.record(id)): ImageRecord | undefined {
  const v = readJsonFileSync(file);
  if (v === undefined) return undefined;
  if (!isRecord(v) || v.id !== id) throw new RktError('ESTORE', `store file ${file} is corrupt: not an image record for ${id}`);
  let mtimeMs: number;
  try {
    mtimeMs = statSync(file).mtimeMs;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined; // removed since it was read
    throw new RktError('ESTORE', `cannot read ${file}: ${describe(err)}`, { cause: err });
  }
  const used = Math.round(mtimeMs);
  return used > Date.parse(v.lastUsed) ? { ...v, lastUsed: new Date(used).toISOString() } : v;
}

/**
 * Write (create or replace) an image's record atomically. The file's mtime is then set to the record's
 * `lastUsed` (readRecord reports the later of the two; a touch racing this write may be lost, never an image).
 */
export async function writeRecord(layout: StoreLayout, record: ImageRecord): Promise<void> {
  await ensureStoreDir(layout.images);
  const file = layout.record(record.id);
  await writeFileAtomic(file, JSON.stringify(record, null, 1) + '\n');
  const used = new Date(record.lastUsed);
  if (!Number.isFinite(used.getTime())) return;
  try {
    utimesSync(file, used, used);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return; // the image was removed as soon as it was written
    throw new RktError('ESTORE', `cannot set the last-use time of ${file}: ${describe(err)}`, { cause: err });
  }
}

/**
 * Note that an image was just used (by a pod): bookkeeping for `rkt image gc`, not fsynced. Only an image whose
 * blob, tree and record are all there is touched, and the record is never rewritten: its mtime is set by one
 * utimes(2), which fails on a record removed meanwhile instead of bringing it back (`rkt image rm` and gc
 * remove the record first; the store has no lock, see README.md). Returns whether the record was touched.
 */
export async function touchRecord(layout: StoreLayout, record: ImageRecord): Promise<boolean> {
  const file = layout.record(record.id);
  try {
    for (const p of [layout.blob(record.id), layout.tree(record.id)]) accessSync(p);
    const now = new Date();
    utimesSync(file, now, now);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw new RktError('ESTORE', `cannot note the use of image ${record.id} in ${file}: ${describe(err)}`, { cause: err });
  }
}

/** Every image record in the store, oldest import first. */
export async function listRecords(layout: StoreLayout): Promise<ImageRecord[]> {
  let names: string[];
  try {
    // Synchronous, as the records' reads: the first use of fs.promises loads ten of Node's modules.
    names = readdirSync(layout.images);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw new RktError('ESTORE', `cannot list images in ${layout.images}: ${describe(err)}`, { cause: err });
  }
  const out: ImageRecord[] = [];
  const dir = layout.images;
  for (const n of names) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    // (The path by concatenation: a directory entry's name has no slash, and a path.join per record showed.)
    const r = readRecordSync(layout, n.slice(0, -'.json'.length), `${dir}/${n}`);
    if (r !== undefined) out.push(r);
  }
  return out.sort((a, b) => byCodeUnits(a.importTime, b.importTime));
}

/** The cache entry of a remote URL, if any. */
export async function readRemote(layout: StoreLayout, url: string): Promise<RemoteRecord | undefined> {
  const v = (await readJsonFile(layout.remote(url))) as RemoteRecord | undefined;
  return v !== undefined && v.url === url && typeof v.imageId === 'string' ? v : undefined;
}

/** Write a remote URL's cache entry atomically. */
export async function writeRemote(layout: StoreLayout, remote: RemoteRecord): Promise<void> {
  await ensureStoreDir(layout.remotes);
  await writeFileAtomic(layout.remote(remote.url), JSON.stringify(remote) + '\n');
}
