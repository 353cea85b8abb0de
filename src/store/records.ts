import { promises as fs } from 'node:fs';
import { describe, isErrno, RktError } from '../common/errors.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import type { Label } from '../image/labels.js';
import { ensureStoreDir, type StoreLayout } from './layout.js';

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
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
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

/** The record of image `id`, or undefined if the store has no such image. */
export async function readRecord(layout: StoreLayout, id: string): Promise<ImageRecord | undefined> {
  const file = layout.record(id);
  const v = await readJsonFile(file);
  if (v === undefined) return undefined;
  if (!isRecord(v) || v.id !== id) throw new RktError('ESTORE', `store file ${file} is corrupt: not an image record for ${id}`);
  return v;
}

/** Write (create or replace) an image's record atomically. */
export async function writeRecord(layout: StoreLayout, record: ImageRecord): Promise<void> {
  await ensureStoreDir(layout.images);
  await writeFileAtomic(layout.record(record.id), JSON.stringify(record, null, 1) + '\n');
}

/** Note that an image was just used (by a pod): bookkeeping for `rkt image gc`, written without fsync. */
export async function touchRecord(layout: StoreLayout, record: ImageRecord): Promise<void> {
  await writeFileAtomic(layout.record(record.id), JSON.stringify({ ...record, lastUsed: new Date().toISOString() }, null, 1) + '\n', 0o644, false);
}

/** Every image record in the store, oldest import first. */
export async function listRecords(layout: StoreLayout): Promise<ImageRecord[]> {
  let names: string[];
  try {
    names = await fs.readdir(layout.images);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw new RktError('ESTORE', `cannot list images in ${layout.images}: ${describe(err)}`, { cause: err });
  }
  const out: ImageRecord[] = [];
  for (const n of names) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    const r = await readRecord(layout, n.slice(0, -'.json'.length));
    if (r !== undefined) out.push(r);
  }
  return out.sort((a, b) => a.importTime.localeCompare(b.importTime));
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
