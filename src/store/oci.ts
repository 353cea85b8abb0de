/**
 * OCI images in the store: blobs by digest, once (`cas/oci/blobs/sha256-<hex>`); each layer extracted once into
 * a layer of its own (`cas/oci/layers/sha256-<hex>/{tree/,layer.json}`), with the layer's whiteouts made
 * overlayfs whiteouts (a 0/0 character device for `.wh.NAME`, the `trusted.overlay.opaque=y` xattr for
 * `.wh..wh..opq`) so that a pod can stack the layers as overlay lower dirs; `layer.json` lists them (and the
 * layer's diff_id, checked when it was extracted) so that lookups and renderings honour them too. An OCI
 * image's record carries `oci` (its config and ordered layers); its `trees/<id>/` holds only the appc manifest
 * and the layer list: nothing is rendered at fetch time. Pods are planned by lookups through the layers
 * (oci-lowers.ts); `--no-overlay`, `image extract/render/export` render the layers when they run, by hard
 * links into `cas/tmp/render-<pid>-…/`, removed after. Layer extraction takes the same hostile-tar rules as
 * ACIs: every header is checked (tar-scan.ts) before GNU tar sees it.
 *
 * Lock: `cas/oci/lock` (flock, exclusive) is held while a fetch re-checks its layers and commits its record,
 * and while `image rm`/`gc` decide which layers and blobs no record names and remove them; so a fetch that
 * reuses a stored layer either commits before the removal looks (and the layer is kept) or finds it gone at
 * commit (and stores it again).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createHash, type Hash } from 'node:crypto';
import { constants as fsc, createReadStream, promises as fs } from 'node:fs';
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
import { layerStackOf, ociLayerTree, type StackLayer } from './oci-lowers.js';

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
  /** The sha256 of the layer's uncompressed tar (`sha256:<hex>`), computed while it was extracted. */
  readonly diffId: string;
  /** How its blob is compressed (from its media type), for `rkt image verify`. */
  readonly compression: 'gzip' | 'zstd' | 'none';
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

/** A layer extracted into the store's tmp/ (`work`: `tree/` and `layer.json`), not yet published. */
export interface StagedLayer { readonly work: string; readonly info: LayerInfo }

/**
 * Extract the layer blob `blob` (a file, or its bytes as they arrive; compressed as `compression`) into a
 * staging directory under tmp/: every header is checked before GNU tar sees it, the uncompressed bytes are
 * hashed beside the extraction (no second pass), and when `expect` is given the hash must be its diff_id
 * (EOCIDIFFID, naming the layer and both digests). Whiteouts become overlayfs whiteouts. On failure nothing is
 * left in tmp/. A stream given is read to its end on success; on failure it is left to the caller (the caller
 * must fail it with an error, not just destroy it, if it stops feeding: its end is what finishes the layer).
 */
export async function stageLayer(l: StoreLayout, digest: string, blob: string | Readable, compression: 'gzip' | 'zstd' | 'none', what: string,
  expect?: { readonly diffId: string; readonly index: number }): Promise<StagedLayer> {
  await ensureStoreDir(l.tmp);
  const work = path.join(l.tmp, `layer-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const tree = path.join(work, 'tree');
    await fs.mkdir(tree, { recursive: true, mode: 0o755 });
    const checker = new LayerChecker(what);
    let entries = 0;
    let contentBytes = 0;
    const hash: Hash = createHash('sha256');
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
        hash.update(chunk);
        // GNU tar may stop reading at the end-of-archive blocks (a closed sink takes no more bytes): the rest
        // is still scanned and hashed.
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
      await pipeline(decoded(typeof blob === 'string' ? createReadStream(blob) : blob, compression, what), gate);
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
    const diffId = `sha256:${hash.digest('hex')}`;
    if (expect !== undefined && diffId !== expect.diffId) throw diffIdMismatch(what, expect.index, expect.diffId, diffId);
    const info: LayerInfo = { digest, whiteouts: checker.whiteouts, opaque: checker.opaque, entries, contentBytes, diffId, compression };
    await convertWhiteouts(tree, info, what);
    await fs.writeFile(path.join(work, 'layer.json'), JSON.stringify(info) + '\n');
    return { work, info };
  } catch (err) {
    await fs.rm(work, { recursive: true, force: true });
    throw err;
  }
}

export function diffIdMismatch(what: string, index: number, expected: string, actual: string): RktError {
  return new RktError('EOCIDIFFID', `${what}: the image config's rootfs.diff_ids[${index}] is ${expected}, but the layer's uncompressed content is ${actual}`, {
    hint: 'the image is corrupt or its config does not describe its layers: rebuild or push it again',
  });
}

/**
 * Extract the layer blob `blobFile` into the store as layer `digest`, unless it is there already (see
 * stageLayer; `expect` is checked against a stored layer's recorded diff_id too). The layer is published by
 * one rename. Returns its info.
 */
export async function storeLayer(l: StoreLayout, digest: string, blobFile: string, compression: 'gzip' | 'zstd' | 'none', what: string,
  expect?: { readonly diffId: string; readonly index: number }): Promise<LayerInfo> {
  const existing = await readLayerInfo(l, digest);
  if (existing !== undefined) {
    if (expect !== undefined && existing.diffId !== expect.diffId) throw diffIdMismatch(what, expect.index, expect.diffId, existing.diffId);
    return existing;
  }
  const staged = await stageLayer(l, digest, blobFile, compression, what, expect);
  await publishLayer(l, staged);
  return staged.info;
}

/** Publish a staged layer by one rename (a layer published meanwhile by another fetch is kept: same content). */
export async function publishLayer(l: StoreLayout, staged: StagedLayer): Promise<void> {
  try {
    await ensureStoreDir(ociLayersDir(l));
    try {
      await fs.rename(staged.work, ociLayer(l, staged.info.digest));
      await fsyncDir(ociLayersDir(l));
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      // What is there is complete, or a layer of an older store without a recorded diff_id: replaced.
      if ((await readLayerInfo(l, staged.info.digest)) === undefined) {
        const dir = ociLayer(l, staged.info.digest);
        const old = `${dir}.old-${process.pid}`;
        await fs.rename(dir, old);
        await fs.rename(staged.work, dir);
        await fs.rm(old, { recursive: true, force: true });
      }
    }
  } finally {
    await fs.rm(staged.work, { recursive: true, force: true });
  }
}

/**
 * Check stored layer `digest` against its blob: the blob is extracted again into tmp/ (its diff_id must be the
 * recorded one) and the trees compared with `diff`. With `repair`, a layer tree that differs is replaced by the
 * fresh extraction. Returns the differences (paths prefixed by the layer).
 */
export async function verifyLayer(l: StoreLayout, digest: string, what: string, repair: boolean,
  diff: (want: string, have: string) => Promise<string[]>): Promise<string[]> {
  const info = await readLayerInfo(l, digest);
  if (info === undefined) {
    throw new RktError('ECORRUPT', `${what}: the store has no complete layer.json for it (missing, damaged, or written by an older rkt without a diff_id)`, { hint: 'fetch the image again: the layer is extracted and checked anew' });
  }
  const staged = await stageLayer(l, digest, ociBlob(l, digest), info.compression, what, { diffId: info.diffId, index: 0 })
    .catch((err: unknown) => {
      if (err instanceof RktError && err.code === 'EOCIDIFFID') {
        throw new RktError('ECORRUPT', `stored layer ${digest} is corrupt: its blob no longer yields the diff_id recorded when it was fetched`, { cause: err, hint: 'remove the images that use it and fetch them again' });
      }
      throw err;
    });
  try {
    const diffs = await diff(path.join(staged.work, 'tree'), ociLayerTree(l, digest));
    if (diffs.length > 0 && repair) {
      const dir = ociLayer(l, digest);
      const old = `${dir}.old-${process.pid}`;
      await fs.rename(dir, old).catch((err: unknown) => { if (!isErrno(err, 'ENOENT')) throw err; });
      await fs.rename(staged.work, dir);
      await fsyncDir(ociLayersDir(l));
      await fs.rm(old, { recursive: true, force: true });
    }
    return diffs.map((d) => `layer ${digest}: ${d}`);
  } finally {
    await fs.rm(staged.work, { recursive: true, force: true });
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
  let v: LayerInfo;
  try {
    v = JSON.parse(text) as LayerInfo;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    return undefined;
  }
  // A layer stored before diff_ids were recorded counts as not stored: it is extracted (and checked) again.
  const known = typeof v.diffId === 'string' && ['gzip', 'zstd', 'none'].includes(v.compression);
  return v.digest === digest && Array.isArray(v.whiteouts) && Array.isArray(v.opaque) && known ? v : undefined;
}

/** The layers (digests, bottom first) as a stack for lookups and renderings, top first (oci-lowers.ts). */
export function layerStack(l: StoreLayout, layers: readonly string[]): Promise<StackLayer[]> {
  return layerStackOf(l, layers);
}

/**
 * overlayInto's copying twin, for a rendering by a user who may not hard-link the store's files: directories
 * merge, anything else replaces what `dst` has; regular files are copied, symlinks and FIFOs made again, modes
 * and times kept (owners only as root); nothing is ever followed. Whiteout devices are skipped (the paths they
 * name are absent from a rendering anyway; layers carry no other devices). Not kept: xattrs, hard links.
 */
async function copyInto(src: string, dst: string, what: string): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const attrs = async (p: string, st: import('node:fs').Stats, symlink = false) => {
    if (asRoot) await fs.lchown(p, st.uid, st.gid);
    if (symlink) return;
    await fs.chmod(p, st.mode & 0o7777);
    await fs.utimes(p, st.atime, st.mtime);
  };
  for (const name of await fs.readdir(src)) {
    const s = path.join(src, name);
    const d = path.join(dst, name);
    const st = await fs.lstat(s);
    let existing: import('node:fs').Stats | undefined;
    try {
      existing = await fs.lstat(d);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    if (st.isDirectory()) {
      if (existing !== undefined && !existing.isDirectory()) {
        await fs.rm(d, { force: true });
        existing = undefined;
      }
      if (existing === undefined) await fs.mkdir(d);
      await copyInto(s, d, what);
      await attrs(d, st);
      continue;
    }
    if (existing !== undefined) await fs.rm(d, { recursive: true, force: true });
    if (st.isFile()) {
      await fs.copyFile(s, d, fsc.COPYFILE_EXCL);
      await attrs(d, st);
    } else if (st.isSymbolicLink()) {
      await fs.symlink(await fs.readlink(s), d);
      await attrs(d, st, true);
    } else if (st.isFIFO()) {
      await run('mkfifo', [d], what);
      await attrs(d, st);
    }
  }
}

/**
 * Render a stack of layers (top first) into `rootfs` (an existing, empty directory), honouring each layer's
 * whiteouts and opaque directories: the tree a pod would see through the overlay. By hard links (`rootfs` on
 * the layers' filesystem), or with `copy` by copyInto.
 */
export async function renderStack(stack: readonly StackLayer[], rootfs: string, copy = false): Promise<void> {
  for (const layer of [...stack].reverse()) {
    for (const dir of layer.opaque) {
      const d = path.join(rootfs, dir);
      let names: string[] = [];
      try {
        names = await fs.readdir(d);
      } catch (err) {
        if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      }
      for (const n of names) await fs.rm(path.join(d, n), { recursive: true, force: true });
    }
    for (const w of layer.whiteouts) await fs.rm(path.join(rootfs, w), { recursive: true, force: true });
    if (copy) await copyInto(layer.tree, rootfs, `rendering ${layer.tree}`);
    else await overlayInto(layer.tree, rootfs);
    // overlayInto linked the whiteout devices themselves: they mean "absent" here.
    for (const w of layer.whiteouts) await fs.rm(path.join(rootfs, w), { recursive: true, force: true });
  }
}

/** Render the layers (digests, bottom first) into `rootfs` by hard links: see renderStack. */
export async function renderLayers(l: StoreLayout, layers: readonly string[], rootfs: string): Promise<void> {
  await renderStack(await layerStack(l, layers), rootfs);
}

/** A fresh rendering directory under `scratch` (the store's tmp/, on the layers' filesystem). */
async function renderDir(scratch: string): Promise<string> {
  await ensureStoreDir(scratch);
  const dir = path.join(scratch, `render-${process.pid}-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(dir, { mode: 0o700 });
  return dir;
}

/**
 * A copy of the stack's rendering at `to` (which must not exist), owned by whoever writes to it (a pod's
 * `--no-overlay` root): rendered by hard links under `scratch`, copied with GNU cp (owners, modes, xattrs
 * kept), the links removed.
 */
export async function renderStackCopy(stack: readonly StackLayer[], scratch: string, to: string): Promise<void> {
  const dir = await renderDir(scratch);
  try {
    const rootfs = path.join(dir, 'rootfs');
    await fs.mkdir(rootfs);
    await renderStack(stack, rootfs);
    const { copyTree } = await import('../common/fs-tree.js');
    await copyTree(rootfs, to);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Call `fn` with a full tree of OCI image `rec` (`manifest` + `rootfs/` rendered from its layers), removed when
 * `fn` settles. `fn` must only read it: its files may be the store's layers. Rendered by hard links under tmp/;
 * for a reader who may not write there or link the store's files (a member of group rkt, a read-only store),
 * by copies under the system's temporary directory instead.
 */
export async function withOciTree<T>(l: StoreLayout, rec: ImageRecord & { readonly oci: OciRecordInfo }, fn: (tree: string) => Promise<T>): Promise<T> {
  const stack = await layerStack(l, rec.oci.layers);
  const render = async (dir: string, copy: boolean) => {
    await fs.copyFile(path.join(l.tree(rec.id), 'manifest'), path.join(dir, 'manifest'));
    const rootfs = path.join(dir, 'rootfs');
    await fs.mkdir(rootfs);
    await renderStack(stack, rootfs, copy);
  };
  let dir: string | undefined;
  try {
    try {
      dir = await renderDir(l.tmp);
      await render(dir, false);
    } catch (err) {
      if (!['EACCES', 'EPERM', 'EROFS', 'EXDEV'].some((c) => isErrno(err, c))) throw err;
      trace(`rendering image ${rec.id} by hard links under ${l.tmp}: ${describe(err)}; copying instead`);
      if (dir !== undefined) await fs.rm(dir, { recursive: true, force: true });
      const { tmpdir } = await import('node:os');
      dir = await fs.mkdtemp(path.join(tmpdir(), 'rkt-render-'));
      await render(dir, true);
    }
    return await fn(dir);
  } finally {
    if (dir !== undefined) await fs.rm(dir, { recursive: true, force: true });
  }
}

/** flock(1)'s exit status when --timeout runs out (kept apart from its own error statuses). */
const LOCK_TIMEOUT_EXIT = 42;
const LOCK_TIMEOUT_S = 600;

/**
 * Run `fn` holding the store's OCI lock (`cas/oci/lock`, an exclusive flock taken by flock(1) on a descriptor
 * of ours, so it lasts until we close it), waiting for it up to ten minutes. Not reentrant: `fn` must not take
 * it again. See the module comment for what it guards.
 */
export async function withOciLock<T>(l: StoreLayout, fn: () => Promise<T>): Promise<T> {
  const dir = path.join(l.root, 'oci');
  await ensureStoreDir(dir);
  const file = path.join(dir, 'lock');
  const fh = await fs.open(file, fsc.O_RDONLY | fsc.O_CREAT, 0o644);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('flock', ['--exclusive', '--timeout', String(LOCK_TIMEOUT_S), '--conflict-exit-code', String(LOCK_TIMEOUT_EXIT), '3'], {
        stdio: ['ignore', 'ignore', 'pipe', fh.fd],
      });
      let err = '';
      child.stderr?.setEncoding('utf8').on('data', (t: string) => { err += t; });
      child.on('error', (e) => reject(isErrno(e, 'ENOENT')
        ? new RktError('ENOFLOCK', 'cannot run flock(1): not found in PATH', { hint: 'install util-linux', cause: e })
        : new RktError('ELOCK', `cannot lock ${file}: ${describe(e)}`, { cause: e })));
      child.on('close', (code) => {
        if (code === 0) resolve();
        else if (code === LOCK_TIMEOUT_EXIT) reject(new RktError('ELOCK', `${file} stayed locked for ${LOCK_TIMEOUT_S}s`, { hint: 'another rkt fetch, image rm or image gc holds it: wait for it to end' }));
        else reject(new RktError('ELOCK', `flock(1) on ${file} failed (exit status ${code ?? 'signal'}): ${err.trim() || 'no message'}`));
      });
    });
    return await fn();
  } finally {
    await fh.close();
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
 * after an image's record is gone (`image rm`, gc), with the OCI lock held (withOciLock). Returns the digests
 * of the removed layers.
 */
export async function removeUnusedOciDataLocked(l: StoreLayout): Promise<string[]> {
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

/** removeUnusedOciDataLocked under the OCI lock. */
export function removeUnusedOciData(l: StoreLayout): Promise<string[]> {
  return withOciLock(l, () => removeUnusedOciDataLocked(l));
}

/** True if the record is of an OCI image. */
export function isOciRecord(r: ImageRecord): r is ImageRecord & { readonly oci: OciRecordInfo } {
  return r.oci !== undefined;
}
