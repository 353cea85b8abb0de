import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { describe, isErrno, RktError } from '../common/errors.js';
import { fsyncDir, tempNameFor } from '../common/fs-atomic.js';
import { trace } from '../common/trace.js';
import { decompress, detectCompression } from '../image/compression.js';
import { peek } from '../image/aci.js';
import type { Store } from './store.js';
import { listRecords, type ImageRecord } from './records.js';
import type { OciRecordInfo } from './oci.js';
import { applyPathWhitelist, overlayInto } from './render.js';

/**
 * Remove an image: its record first (from then on no command sees it), then its tree, layer, blob and remote
 * cache entries. Safe to interrupt: leftovers without a record are collected by gc. An OCI image is removed
 * under the OCI lock (oci.ts), with the layers and blobs no remaining image uses; the caller must not hold it.
 */
export async function removeImage(store: Store, rec: ImageRecord): Promise<void> {
  if (rec.oci === undefined) return removeImageLocked(store, rec);
  const { withOciLock } = await import('./oci.js');
  return withOciLock(store.layout, () => removeImageLocked(store, rec));
}

/** removeImage with the OCI lock held by the caller (or not needed: an ACI). */
async function removeImageLocked(store: Store, rec: ImageRecord): Promise<void> {
  const l = store.layout;
  await fs.rm(l.record(rec.id), { force: true });
  // The record is gone for every command from now on; a crash before the directory is flushed may bring it back.
  await fsyncDir(l.images).catch((err: unknown) => trace(`removing image ${rec.id}: cannot flush ${l.images}: ${describe(err)}, ignoring`));
  await removeLeftovers(store, rec.id);
  // An OCI image's layers and blobs go only when no remaining image uses them.
  if (rec.oci !== undefined) {
    const { removeUnusedOciDataLocked } = await import('./oci.js');
    const gone = await removeUnusedOciDataLocked(l);
    trace(`removing image ${rec.id}: ${gone.length} layer(s) no other image uses removed`);
  }
}

async function removeLeftovers(store: Store, id: string): Promise<void> {
  const l = store.layout;
  for (const p of [l.tree(id), l.layer(id), l.blob(id)]) await fs.rm(p, { recursive: true, force: true });
  let names: string[] = [];
  try {
    names = await fs.readdir(l.remotes);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  for (const n of names) {
    const file = path.join(l.remotes, n);
    // Removed meanwhile by another rkt (a refetch replacing it, another rm): nothing of this image to drop there.
    const text = await fs.readFile(file, 'utf8').catch((err: unknown) => { if (isErrno(err, 'ENOENT')) return ''; throw err; });
    if (text.includes(`"imageId":"${id}"`)) await fs.rm(file, { force: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

export interface GcResult { readonly removed: readonly ImageRecord[]; readonly leftovers: readonly string[] }

/**
 * The Image IDs gc keeps: those in `inUse`, those used within `graceMs` of `now`, and every image any of them
 * depends on, directly or through other dependencies (a kept image's tree is rendered from them, and `rkt image
 * verify` re-renders it from them). Pure.
 */
export function imagesToKeep(records: readonly ImageRecord[], graceMs: number, inUse: ReadonlySet<string>, now: number): Set<string> {
  const byId = new Map(records.map((r) => [r.id, r]));
  const keep = new Set<string>();
  const todo = [...inUse, ...records.filter((r) => now - Date.parse(r.lastUsed) < graceMs).map((r) => r.id)];
  for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
    if (keep.has(id)) continue;
    keep.add(id);
    todo.push(...(byId.get(id)?.dependencies ?? []));
  }
  return keep;
}

/**
 * Collect garbage: images not kept by imagesToKeep (not in `inUse` — Image IDs pods need —, not used within
 * `graceMs`, and no dependency of such an image), staging directories of dead processes, and trees/blobs that
 * have no record (a crash between rename and record).
 */
export async function gcImages(store: Store, graceMs: number, inUse: ReadonlySet<string>, now = Date.now()): Promise<GcResult> {
  const l = store.layout;
  const records = await listRecords(l);
  const keep = imagesToKeep(records, graceMs, inUse, now);
  const removed: ImageRecord[] = [];
  for (const r of records) {
    if (keep.has(r.id)) continue;
    await removeImage(store, r);
    removed.push(r);
  }
  const leftovers: string[] = [];
  for (const n of await listDir(l.tmp)) {
    // Staging dirs (`import-<pid>-…`; OCI fetches' `blob-`, `layer-`, `oci-`, `oci-archive-`, renderings'
    // `render-`) and partial downloads (`download-<hash>.<ctx>-<pid>-<start>.part|json`) of a live process
    // stay; a dead fetch's partial stays resumable for the grace period.
    const pid = Number(/^(?:import|blob|layer|oci|oci-archive|render)-(\d+)-/.exec(n)?.[1] ?? /^download-[0-9a-f]+\.[0-9a-f]+-(\d+)-/.exec(n)?.[1]);
    if (Number.isInteger(pid) && pidAlive(pid)) continue;
    if (n.startsWith('download-')) {
      const st = await fs.stat(path.join(l.tmp, n)).catch((err: unknown) => { if (isErrno(err, 'ENOENT')) return undefined; throw err; });
      if (st === undefined || now - st.mtimeMs < graceMs) continue;
    }
    await fs.rm(path.join(l.tmp, n), { recursive: true, force: true });
    leftovers.push(path.join(l.tmp, n));
  }
  // No store yet: nothing to sweep (and no lock file to make).
  if ((await listDir(l.root)).length === 0) return { removed, leftovers };
  // Under the OCI lock: an OCI fetch publishes its tree and blob and writes its record under it.
  const { withOciLock, removeUnusedOciDataLocked } = await import('./oci.js');
  await withOciLock(l, async () => {
    const live = new Set((await listRecords(l)).map((r) => r.id));
    for (const dir of [l.trees, l.layers, l.blobs]) {
      for (const n of await listDir(dir)) {
        if (live.has(n) || n.startsWith('.')) continue;
        await fs.rm(path.join(dir, n), { recursive: true, force: true });
        leftovers.push(path.join(dir, n));
      }
    }
    for (const d of await removeUnusedOciDataLocked(l)) leftovers.push(`layer ${d}`);
  });
  return { removed, leftovers };
}

/**
 * An OCI image exported as an ACI: its tree (the appc manifest it yields and the rootfs its layers render to),
 * by GNU tar (owners, modes, xattrs kept). Its Image ID is then that ACI's own, not the OCI image's.
 */
async function exportOciImage(store: Store, rec: ImageRecord & { readonly oci: OciRecordInfo }, out: string, tmp: string): Promise<void> {
  const { spawn } = await import('node:child_process');
  const { withOciTree } = await import('./oci.js');
  try {
    await withOciTree(store.layout, rec, (tree) => new Promise<void>((resolve, reject) => {
      const child = spawn('tar', ['--create', `--file=${tmp}`, `--directory=${tree}`, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', 'manifest', 'rootfs'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (t: string) => { err += t; });
      child.on('error', reject);
      child.on('close', (code) => code === 0 ? resolve() : reject(new Error(`tar exited ${code}: ${err.trim()}`)));
    }));
    await fs.rename(tmp, out);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    if (err instanceof RktError && err.code === 'ESTORE') throw err;
    throw new RktError('EEXPORT', `cannot export ${rec.id} to ${out}: ${describe(err)}`, { cause: err });
  }
}

/** Write the image's uncompressed tar (its Image ID bytes) to `out`, atomically. */
export async function exportImage(store: Store, rec: ImageRecord, out: string): Promise<void> {
  const tmp = tempNameFor(path.resolve(out));
  if (rec.oci !== undefined) return exportOciImage(store, { ...rec, oci: rec.oci }, out, tmp);
  try {
    const { head, stream } = await peek(createReadStream(store.layout.blob(rec.id)), 6);
    const plain = decompress(stream, detectCompression(head), store.layout.blob(rec.id));
    const hash = createHash('sha512');
    plain.on('data', (c: Buffer) => hash.update(c));
    await pipeline(plain, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
    if (`sha512-${hash.digest('hex')}` !== rec.id) {
      throw new RktError('ECORRUPT', `stored image ${rec.id} is corrupt: its blob no longer hashes to its ID`, { hint: 'remove it with "rkt image rm" and fetch it again' });
    }
    await fs.rename(tmp, out);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    if (err instanceof RktError) throw err;
    throw new RktError('EEXPORT', `cannot export ${rec.id} to ${out}: ${describe(err)}`, { cause: err });
  }
}

interface Node { type: string; mode: number; uid: number; gid: number; size: number; link?: string; digest?: string }

async function describeTree(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      const st = await fs.lstat(p);
      const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
      const node: Node = { type, mode: st.mode, uid: st.uid, gid: st.gid, size: type === 'dir' ? 0 : st.size };
      if (type === 'symlink') node.link = await fs.readlink(p);
      if (type === 'file') {
        const h = createHash('sha256');
        await pipeline(createReadStream(p), h);
        node.digest = h.digest('hex');
      }
      if (type === 'other') node.size = Number(st.rdev);
      out.set(r, node);
      if (type === 'dir') await walk(p, r);
    }
  };
  await walk(root, '');
  return out;
}

/** The paths where two trees differ (missing, extra, or changed type, mode, owner, size, content or target). */
async function diffTrees(want: string, have: string): Promise<string[]> {
  const [a, b] = await Promise.all([describeTree(want), describeTree(have)]);
  const diffs: string[] = [];
  for (const [p, n] of a) {
    const m = b.get(p);
    if (m === undefined) diffs.push(`missing ${p}`);
    else if (JSON.stringify(n) !== JSON.stringify(m)) diffs.push(`changed ${p}`);
  }
  for (const p of b.keys()) if (!a.has(p)) diffs.push(`extra ${p}`);
  return diffs;
}

/**
 * Check an image's rendered tree against its blob (re-extracted into tmp/) and, with `repair`, replace a
 * tampered tree with a fresh rendering. Returns the differences found.
 */
export async function verifyImage(store: Store, rec: ImageRecord, repair: boolean): Promise<string[]> {
  if (rec.oci !== undefined) return verifyOciImage(store, { ...rec, oci: rec.oci }, repair);
  const l = store.layout;
  const staged = await store.stage(createReadStream(l.blob(rec.id)), l.blob(rec.id));
  try {
    if (staged.info.imageId !== rec.id) {
      throw new RktError('ECORRUPT', `stored image ${rec.id} is corrupt: its blob hashes to ${staged.info.imageId}`, { hint: 'remove it with "rkt image rm" and fetch it again' });
    }
    const fresh = path.join(staged.workDir, 'tree');
    if (rec.dependencies.length > 0) {
      const rendered = path.join(staged.workDir, 'rendered');
      await fs.mkdir(path.join(rendered, 'rootfs'), { recursive: true });
      for (const dep of rec.dependencies) await overlayInto(path.join(l.tree(dep), 'rootfs'), path.join(rendered, 'rootfs'));
      await overlayInto(fresh, rendered);
      await applyPathWhitelist(path.join(rendered, 'rootfs'), staged.info.manifest.pathWhitelist);
      await fs.rm(fresh, { recursive: true, force: true });
      await fs.rename(rendered, fresh);
    }
    const diffs = await diffTrees(fresh, l.tree(rec.id));
    if (diffs.length > 0 && repair) {
      const old = `${l.tree(rec.id)}.old-${process.pid}`;
      await fs.rename(l.tree(rec.id), old);
      await fs.rename(fresh, l.tree(rec.id));
      await fsyncDir(l.trees);
      await fs.rm(old, { recursive: true, force: true });
    }
    return diffs;
  } finally {
    await staged.discard();
  }
}

/**
 * Check an OCI image: its manifest and config blobs against their digests, then each layer's tree against its
 * blob (extracted again; its diff_id must be the one recorded when it was fetched), repairing a tampered layer
 * tree with `repair`. Returns the differences found. A blob that no longer matches is ECORRUPT.
 */
async function verifyOciImage(store: Store, rec: ImageRecord & { readonly oci: OciRecordInfo }, repair: boolean): Promise<string[]> {
  const l = store.layout;
  const { ociBlob, verifyLayer } = await import('./oci.js');
  const blob = async (digest: string): Promise<Buffer> => {
    const bytes = await fs.readFile(ociBlob(l, digest)).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
      throw new RktError('ECORRUPT', `stored image ${rec.id} is corrupt: its blob ${digest} is missing`, { hint: 'remove it with "rkt image rm" and fetch it again' });
    });
    if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) {
      throw new RktError('ECORRUPT', `stored image ${rec.id} is corrupt: its blob ${digest} no longer matches its digest`, { hint: 'remove it with "rkt image rm" and fetch it again' });
    }
    return bytes;
  };
  await blob(rec.oci.manifestDigest);
  await blob(rec.oci.configDigest);
  const diffs: string[] = [];
  for (const d of new Set(rec.oci.layers)) {
    await blob(d);
    diffs.push(...await verifyLayer(l, d, `image ${rec.id}: layer ${d}`, repair, diffTrees));
  }
  return diffs;
}
