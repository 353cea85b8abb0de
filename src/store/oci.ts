/**
 * OCI images in the store: blobs by digest, once (`cas/oci/blobs/sha256-<hex>`); each layer extracted once into
 * a layer of its own (`cas/oci/layers/sha256-<hex>/{tree/,layer.json}`), with the layer's whiteouts made
 * overlayfs whiteouts (a 0/0 character device for `.wh.NAME`, the `trusted.overlay.opaque=y` xattr for
 * `.wh..wh..opq`) so that a pod can stack the layers as overlay lower dirs; `layer.json` lists them so that a
 * rendered tree honours them too. An OCI image's record carries `oci` (its config and ordered layers); its
 * `trees/<id>/` holds the appc manifest and a rootfs rendered from the layers by hard links (for planning pods,
 * `--no-overlay`, `image extract/render/export`). Layer extraction takes the same hostile-tar rules as ACIs:
 * every header is checked (tar-scan.ts) before GNU tar sees it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { describe, isErrno, RktError } from '../common/errors.js';
import { fsyncDir, writeFileAtomic } from '../common/fs-atomic.js';
import { trace } from '../common/trace.js';
import { decompress } from '../image/compression.js';
import { TarScanner, type TarHeader } from '../image/tar-scan.js';
import { startExtraction } from './extract.js';
import { ensureStoreDir, type StoreLayout } from './layout.js';
import { listRecords, type ImageRecord } from './records.js';
import { overlayInto } from './render.js';
import { ociLayerTree } from './oci-lowers.js';

/** What an OCI image's record keeps of it. */
export interface OciRecordInfo {
  readonly reference: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
  /** The layers' digests (compressed, as the manifest names them), bottom first. */
  readonly layers: readonly string[];
  /** The registry and repository for `--pull-policy=update`, or the layout path. */
  readonly source: string;
  readonly tag?: string;
}

/** What a layer's extraction found, kept beside its tree. */
export interface LayerInfo {
  readonly digest: string;
  /** Paths (relative, no leading slash) deleted by this layer. */
  readonly whiteouts: readonly string[];
  /** Directories (relative; '' for the root) whose lower contents this layer hides. */
  readonly opaque: readonly string[];
  readonly entries: number;
  readonly contentBytes: number;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/** `sha256:<hex>` as a file name. */
export function digestKey(digest: string): string {
  return digest.replace(':', '-');
}

export function ociBlobsDir(l: StoreLayout): string { return path.join(l.root, 'oci', 'blobs'); }
export function ociLayersDir(l: StoreLayout): string { return path.join(l.root, 'oci', 'layers'); }
export function ociBlob(l: StoreLayout, digest: string): string { return path.join(ociBlobsDir(l), digestKey(digest)); }
/** The directory of a layer: `tree/` (the extracted layer) and `layer.json`. */
export function ociLayer(l: StoreLayout, digest: string): string { return path.join(ociLayersDir(l), digestKey(digest)); }
export { ociLayerTree, TREE_LAYERS_FILE } from './oci-lowers.js';

/** The lower dirs of an OCI image's overlay: its layer trees, top first (as overlayfs `lowerdir=` wants them). */
export function ociLowerDirs(l: StoreLayout, info: OciRecordInfo): string[] {
  return [...info.layers].reverse().map((d) => ociLayerTree(l, d));
}

/**
 * Checks one layer entry path: relative, no `..`, not through a symlink an earlier entry of the layer planted,
 * no device nodes; hard links only to paths inside the layer. Returns the normalised path ('' for the root).
 */
export class LayerChecker {
  private readonly symlinks = new Set<string>();
  readonly whiteouts: string[] = [];
  readonly opaque: string[] = [];
  constructor(private readonly what: string) {}

  private norm(raw: string, role: string): string {
    const bad = (why: string) => new RktError('EACILAYOUT', `${this.what}: bad layer: ${role} "${raw}" ${why}`);
    if (raw.startsWith('/')) throw bad('has an absolute path');
    const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw bad('has a ".." component');
    const p = parts.join('/');
    for (let at = p.indexOf('/'); at !== -1; at = p.indexOf('/', at + 1)) {
      if (this.symlinks.has(p.slice(0, at))) throw bad(`goes through the symlink "${p.slice(0, at)}" planted by an earlier entry`);
    }
    return p;
  }

  /** Check a header (throws EACILAYOUT); notes whiteouts and opaque markers. */
  check(h: TarHeader): string {
    const p = this.norm(h.path, 'entry');
    if (h.type === 'chardev' || h.type === 'blockdev') {
      throw new RktError('EACILAYOUT', `${this.what}: bad layer: entry "${h.path}" is a device node (layers may not carry devices)`);
    }
    if (h.type === 'hardlink') {
      const target = this.norm(h.linkpath, `hard link "${h.path}" ->`);
      if (target === '') throw new RktError('EACILAYOUT', `${this.what}: bad layer: hard link "${h.path}" points at the layer's root`);
    }
    const base = path.posix.basename(p);
    const dir = path.posix.dirname(p) === '.' ? '' : path.posix.dirname(p);
    if (base === OPAQUE_MARKER) this.opaque.push(dir);
    else if (base.startsWith(WHITEOUT_PREFIX)) {
      const name = base.slice(WHITEOUT_PREFIX.length);
      if (name === '' || name === '.' || name === '..') throw new RktError('EACILAYOUT', `${this.what}: bad layer: whiteout "${h.path}" names nothing`);
      this.whiteouts.push(dir === '' ? name : `${dir}/${name}`);
    }
    if (h.type === 'symlink') this.symlinks.add(p);
    else this.symlinks.delete(p);
    return p;
  }
}

/** Call `done` once, at the first of `events` on `stream`. */
function settle(stream: Writable, events: readonly string[], done: () => void): void {
  let called = false;
  const once = () => {
    if (called) return;
    called = true;
    for (const e of events) stream.off(e, once);
    done();
  };
  for (const e of events) stream.on(e, once);
}

function run(cmd: string, args: readonly string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    child.on('error', (e) => reject(new RktError('EEXTRACT', `${what}: cannot run ${cmd}: ${describe(e)}`, { cause: e })));
    child.on('close', (code) => code === 0 ? resolve() : reject(new RktError('EEXTRACT', `${what}: ${cmd} ${args.join(' ')} failed: ${err.trim()}`)));
  });
}

/** Turn the `.wh.*` files GNU tar extracted into overlayfs whiteouts (see the module comment). */
async function convertWhiteouts(tree: string, info: { whiteouts: readonly string[]; opaque: readonly string[] }, what: string): Promise<void> {
  for (const dir of info.opaque) {
    const d = path.join(tree, dir);
    await fs.rm(path.join(d, OPAQUE_MARKER), { force: true });
    await run('setfattr', ['-h', '-n', 'trusted.overlay.opaque', '-v', 'y', d], what);
  }
  for (const w of info.whiteouts) {
    const dir = path.dirname(w);
    const marker = path.join(tree, dir, `${WHITEOUT_PREFIX}${path.basename(w)}`);
    await fs.rm(marker, { force: true });
    const target = path.join(tree, w);
    await fs.rm(target, { recursive: true, force: true });
    await run('mknod', [target, 'c', '0', '0'], what);
  }
}

function decoded(input: Readable, compression: 'gzip' | 'zstd' | 'none', what: string): Readable {
  if (compression === 'none') return input;
  if (compression === 'gzip') {
    const z = createGunzip({ chunkSize: 1 << 20 });
    input.on('error', (err) => z.destroy(err));
    z.on('error', (err) => trace(`${what}: gzip: ${describe(err)} (reported by the pipeline)`));
    return input.pipe(z);
  }
  return decompress(input, 'zstd', what);
}

/**
 * Extract the layer blob `blobFile` (compressed as `compression`) into the store as layer `digest`, unless it is
 * there already. Every header is checked before GNU tar sees it; whiteouts become overlayfs whiteouts; the
 * layer is published by one rename. Returns its info.
 */
export async function storeLayer(l: StoreLayout, digest: string, blobFile: string, compression: 'gzip' | 'zstd' | 'none', what: string): Promise<LayerInfo> {
  const existing = await readLayerInfo(l, digest);
  if (existing !== undefined) return existing;
  await ensureStoreDir(l.tmp);
  const work = path.join(l.tmp, `layer-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const tree = path.join(work, 'tree');
    await fs.mkdir(tree, { recursive: true, mode: 0o755 });
    const checker = new LayerChecker(what);
    let entries = 0;
    let contentBytes = 0;
    const scanner = new TarScanner({ onEntry: (h) => { checker.check(h); entries++; contentBytes += h.size; return false; } });
    const extraction = startExtraction(tree, what);
    const sink = extraction.stdin;
    const gate = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, done) {
        try {
          scanner.write(chunk);
        } catch (err) {
          done(err as Error);
          return;
        }
        // GNU tar may stop reading at the end-of-archive blocks (a closed sink takes no more bytes): the rest
        // is still scanned.
        if (sink.destroyed || sink.writableFinished || sink.write(chunk)) done();
        else settle(sink, ['drain', 'close', 'error'], done);
      },
      final(done) {
        try {
          scanner.end();
        } catch (err) {
          done(err as Error);
          return;
        }
        if (sink.destroyed || sink.writableFinished) done();
        else {
          settle(sink, ['finish', 'close', 'error'], done);
          sink.end();
        }
      },
    });
    try {
      await pipeline(decoded(createReadStream(blobFile), compression, what), gate);
    } catch (err) {
      sink.destroy();
      await extraction.done.catch((e: unknown) => {
        if (!(e instanceof RktError) || e.code !== 'EEXTRACT') throw e;
        trace(`${e.message} after the layer was refused, ignoring`);
      });
      if (err instanceof RktError && err.code === 'ETARFORMAT') throw new RktError('EACIFORMAT', `${what}: not a valid layer: ${err.message}`, { cause: err });
      if (err instanceof RktError) throw err;
      throw new RktError('EEXTRACT', `${what}: cannot read the layer: ${describe(err)}`, { cause: err });
    }
    await extraction.done;
    const info: LayerInfo = { digest, whiteouts: checker.whiteouts, opaque: checker.opaque, entries, contentBytes };
    await convertWhiteouts(tree, info, what);
    await fs.writeFile(path.join(work, 'layer.json'), JSON.stringify(info) + '\n');
    await ensureStoreDir(ociLayersDir(l));
    try {
      await fs.rename(work, ociLayer(l, digest));
      await fsyncDir(ociLayersDir(l));
    } catch (err) {
      // Another fetch published the same layer first: identical content, keep theirs.
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      await fs.rm(work, { recursive: true, force: true });
    }
    return info;
  } catch (err) {
    await fs.rm(work, { recursive: true, force: true });
    throw err;
  }
}

/** The info of a stored layer, or undefined when the store does not have it (complete). */
export async function readLayerInfo(l: StoreLayout, digest: string): Promise<LayerInfo | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(ociLayer(l, digest), 'layer.json'), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new RktError('ESTORE', `cannot read layer ${digest}: ${describe(err)}`, { cause: err });
  }
  const v = JSON.parse(text) as LayerInfo;
  return v.digest === digest && Array.isArray(v.whiteouts) && Array.isArray(v.opaque) ? v : undefined;
}

/**
 * Render the layers (bottom first) into `rootfs` (an existing, empty directory) by hard links, honouring each
 * layer's whiteouts and opaque directories: the tree a pod would see through the overlay.
 */
export async function renderLayers(l: StoreLayout, layers: readonly string[], rootfs: string): Promise<void> {
  for (const digest of layers) {
    const info = await readLayerInfo(l, digest);
    if (info === undefined) throw new RktError('ESTORE', `layer ${digest} is missing from the store`, { hint: 'fetch the image again' });
    for (const dir of info.opaque) {
      const d = path.join(rootfs, dir);
      let names: string[] = [];
      try {
        names = await fs.readdir(d);
      } catch (err) {
        if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      }
      for (const n of names) await fs.rm(path.join(d, n), { recursive: true, force: true });
    }
    for (const w of info.whiteouts) await fs.rm(path.join(rootfs, w), { recursive: true, force: true });
    await overlayInto(ociLayerTree(l, digest), rootfs);
    // overlayInto linked the whiteout devices themselves: they mean "absent" here.
    for (const w of info.whiteouts) await fs.rm(path.join(rootfs, w), { recursive: true, force: true });
  }
}

/** Store a small blob (a config or manifest) by digest, once. */
export async function storeBlobBytes(l: StoreLayout, digest: string, bytes: Uint8Array): Promise<void> {
  await ensureStoreDir(ociBlobsDir(l));
  const file = ociBlob(l, digest);
  try {
    await fs.access(file);
    return;
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await writeFileAtomic(file, bytes, 0o644, false);
}

/**
 * The layers and blobs no remaining record uses (records of OCI images name theirs in `oci`), removed. Called
 * after an image's record is gone (`image rm`, gc). Returns the digests of the removed layers.
 */
export async function removeUnusedOciData(l: StoreLayout): Promise<string[]> {
  const used = new Set<string>();
  for (const r of await listRecords(l)) {
    const o = r.oci;
    if (o === undefined) continue;
    used.add(digestKey(o.manifestDigest));
    used.add(digestKey(o.configDigest));
    for (const d of o.layers) used.add(digestKey(d));
  }
  const removed: string[] = [];
  for (const dir of [ociLayersDir(l), ociBlobsDir(l)]) {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    for (const n of names) {
      if (used.has(n) || !n.startsWith('sha256-')) continue;
      await fs.rm(path.join(dir, n), { recursive: true, force: true });
      if (dir === ociLayersDir(l)) removed.push(n.replace('-', ':'));
    }
  }
  return removed;
}

/** True if the record is of an OCI image. */
export function isOciRecord(r: ImageRecord): r is ImageRecord & { readonly oci: OciRecordInfo } {
  return r.oci !== undefined;
}
