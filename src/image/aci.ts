import { createReadStream, promises as fs } from 'node:fs';
import { createHash } from 'node:crypto';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, isErrno, RktError } from '../common/errors.js';
import { decompress, detectCompression, type Compression } from './compression.js';
import { parseImageManifest, type ImageManifest } from './manifest.js';
import { TarScanner, type TarHeader } from './tar-scan.js';

/** The largest manifest we read into memory: a manifest is metadata, never megabytes. */
export const MAX_MANIFEST_BYTES = 1 << 20;

export interface AciInfo {
  /** `sha512-<hex>` of the uncompressed tar: the Image ID. */
  readonly imageId: string;
  readonly manifest: ImageManifest;
  /** The manifest exactly as stored in the image. */
  readonly manifestBytes: Buffer;
  readonly compression: Compression;
  /** Size of the uncompressed tar in bytes. */
  readonly size: number;
  readonly entries: number;
  /** Bytes of file content in the tree (what the rendered tree holds, before filesystem overhead). */
  readonly contentBytes: number;
}

/**
 * Normalise a tar entry path and check it against the ACI layout: only `manifest` and `rootfs/…` at the top,
 * no absolute path, no `..` component. Returns the path without `./` and trailing `/`; throws naming the entry.
 */
export function checkAciEntryPath(raw: string, what: string, role = 'entry'): string {
  const bad = (why: string) => new RktError('EACILAYOUT', `${what}: bad image layout: ${role} "${raw}" ${why}`);
  if (raw.startsWith('/')) throw bad('has an absolute path');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw bad('has a ".." component');
  if (parts.length === 0) throw bad('has an empty path');
  const top = parts[0];
  if (top !== 'manifest' && top !== 'rootfs') throw bad('is outside rootfs/ (only "manifest" and "rootfs/" may be at the top)');
  if (top === 'manifest' && parts.length > 1) throw bad('is outside rootfs/');
  return parts.join('/');
}

/**
 * The layout rules of an ACI, applied entry by entry as the tar streams past: paths stay inside the image,
 * no entry appears twice, no entry goes through a symlink an earlier entry planted, hard links point inside
 * rootfs/, and `manifest` is a regular file of bounded size.
 */
export class AciLayoutChecker {
  private readonly seen = new Set<string>();
  private readonly symlinks = new Set<string>();
  constructor(private readonly what: string) {}

  /** Check one header; returns the normalised path. Throws EACILAYOUT naming the entry. */
  check(h: TarHeader): string {
    const what = this.what;
    const path = checkAciEntryPath(h.path, what);
    if (this.seen.has(path)) throw new RktError('EACILAYOUT', `${what}: bad image layout: duplicate entry "${h.path}"`);
    this.throughSymlink(path, h.path, 'entry');
    if (path === 'manifest') {
      if (h.type !== 'file') throw new RktError('EACILAYOUT', `${what}: bad image layout: "manifest" is a ${h.type}, not a regular file`);
      if (h.size > MAX_MANIFEST_BYTES) {
        throw new RktError('EACILAYOUT', `${what}: manifest is ${h.size} bytes, larger than the ${MAX_MANIFEST_BYTES} allowed`);
      }
    } else if (path === 'rootfs' && h.type !== 'dir') {
      throw new RktError('EACILAYOUT', `${what}: bad image layout: "rootfs" is a ${h.type}, not a directory`);
    }
    if (h.type === 'hardlink') {
      const target = checkAciEntryPath(h.linkpath, what, `hard link "${h.path}" ->`);
      if (!target.startsWith('rootfs/')) {
        throw new RktError('EACILAYOUT', `${what}: bad image layout: hard link "${h.path}" points outside rootfs/ ("${h.linkpath}")`);
      }
      this.throughSymlink(target, h.linkpath, `hard link target of "${h.path}":`);
    }
    this.seen.add(path);
    if (h.type === 'symlink') this.symlinks.add(path);
    return path;
  }

  get entries(): number { return this.seen.size; }

  private throughSymlink(path: string, raw: string, role: string): void {
    let at = path.indexOf('/');
    while (at !== -1) {
      const prefix = path.slice(0, at);
      if (this.symlinks.has(prefix)) {
        throw new RktError('EACILAYOUT', `${this.what}: bad image layout: ${role} "${raw}" goes through the symlink "${prefix}" planted by an earlier entry`);
      }
      at = path.indexOf('/', at + 1);
    }
  }
}

/** Read the first `n` bytes of a stream without consuming them: returns them and a stream of all the bytes. */
export async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let have = 0;
  while (have < n && !input.readableEnded) {
    const chunk = input.read() as Buffer | null;
    if (chunk !== null) { chunks.push(chunk); have += chunk.length; continue; }
    const ended = await new Promise<boolean>((resolve, reject) => {
      const cleanup = () => { input.off('readable', onReadable); input.off('end', onEnd); input.off('error', onError); };
      const onReadable = () => { cleanup(); resolve(false); };
      const onEnd = () => { cleanup(); resolve(true); };
      const onError = (err: Error) => { cleanup(); reject(err); };
      input.once('readable', onReadable).once('end', onEnd).once('error', onError);
    });
    if (ended) break;
  }
  const head = Buffer.concat(chunks);
  const stream = new PassThrough({ highWaterMark: 1 << 20 });
  stream.write(head);
  input.on('error', (err) => stream.destroy(err));
  if (input.readableEnded) stream.end();
  else input.pipe(stream);
  return { head, stream };
}

/** Call `fn` once, on the first of `events` that `emitter` emits. */
function settleOn(emitter: NodeJS.EventEmitter, events: readonly string[], fn: () => void): void {
  const handler = () => {
    for (const e of events) emitter.off(e, handler);
    fn();
  };
  for (const e of events) emitter.on(e, handler);
}

export interface InspectOptions {
  /**
   * Receives the uncompressed tar, each chunk only after every header in it passed the layout checks: what
   * reaches it can be extracted safely. It is ended when the tar ends; on a failure it is destroyed.
   */
  readonly sink?: Writable;
  /** Sees each checked header (after `sink` rules): for listing or comparing entries. */
  readonly onEntry?: (path: string, header: TarHeader) => void;
}

/**
 * Stream an ACI once: detect its compression, decompress, compute its Image ID, check the layout entry by entry
 * and parse the manifest. `what` names the image in messages (a path or URL).
 */
export async function inspectAciStream(input: Readable, what: string, options: InspectOptions = {}): Promise<AciInfo> {
  const { head, stream } = await peek(input, 6);
  const compression = detectCompression(head);
  const plain = decompress(stream, compression, what);
  const hash = createHash('sha512');
  let bytes = 0;
  const checker = new AciLayoutChecker(what);
  const manifestParts: Buffer[] = [];
  let sawManifest = false;
  let contentBytes = 0;
  const scanner = new TarScanner({
    onEntry: (h) => {
      const path = checker.check(h);
      contentBytes += h.size;
      options.onEntry?.(path, h);
      if (path === 'manifest') { sawManifest = true; return true; }
      return false;
    },
    onBody: (_h, chunk) => { manifestParts.push(Buffer.from(chunk)); },
  });
  const sink = options.sink;
  const gate = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, done) {
      try {
        hash.update(chunk);
        bytes += chunk.length;
        scanner.write(chunk);
      } catch (err) {
        done(err as Error);
        return;
      }
      // The sink (GNU tar) may stop reading once it has seen the end-of-archive blocks: a closed sink
      // takes no more bytes, but the rest of the stream must still be hashed.
      if (sink === undefined || sink.destroyed || sink.write(chunk)) done();
      else settleOn(sink, ['drain', 'close', 'error'], () => done());
    },
    final(done) {
      try {
        scanner.end();
      } catch (err) {
        done(err as Error);
        return;
      }
      if (sink === undefined || sink.destroyed || sink.writableFinished) done();
      else {
        settleOn(sink, ['finish', 'close', 'error'], () => done());
        sink.end();
      }
    },
  });
  try {
    await pipeline(plain, gate);
  } catch (err) {
    sink?.destroy();
    if (err instanceof RktError && err.code === 'ETARFORMAT') {
      throw new RktError('EACIFORMAT', `${what}: not a valid image: ${err.message}`, {
        cause: err, hint: 'an ACI is a tar (optionally gzip, bzip2 or xz compressed) holding "manifest" and "rootfs/"',
      });
    }
    if (err instanceof RktError) throw err;
    throw new RktError('EACIREAD', `${what}: cannot read image: ${describe(err)}`, { cause: err });
  }
  if (bytes === 0) throw new RktError('EACIFORMAT', `${what}: not a valid image: it is empty`);
  if (!sawManifest) throw new RktError('EACILAYOUT', `${what}: bad image layout: no "manifest" entry`);
  const manifestBytes = Buffer.concat(manifestParts);
  let manifest: ImageManifest;
  try {
    manifest = parseImageManifest(manifestBytes);
  } catch (err) {
    if (err instanceof RktError) throw new RktError(err.code, `${what}: ${err.message}`, { cause: err });
    throw err;
  }
  return { imageId: `sha512-${hash.digest('hex')}`, manifest, manifestBytes, compression, size: bytes, entries: checker.entries, contentBytes };
}

/** inspectAciStream over a file; a missing or unreadable file is an RktError naming it. */
export async function inspectAciFile(file: string, options: InspectOptions = {}): Promise<AciInfo> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw new RktError('EACIREAD', `${file}: not a regular file`);
  } catch (err) {
    if (err instanceof RktError) throw err;
    if (isErrno(err, 'ENOENT')) throw new RktError('ENOFILE', `${file}: no such file`);
    throw new RktError('EACIREAD', `${file}: cannot read image: ${describe(err)}`, { cause: err });
  }
  return inspectAciStream(createReadStream(file, { highWaterMark: 1 << 20 }), file, options);
}
