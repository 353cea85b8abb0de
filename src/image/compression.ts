import { createGunzip } from 'node:zlib';
import { PassThrough, type Readable } from 'node:stream';
import { RktError } from '../common/errors.js';
import { exitText, startFilter, stderrTail, succeeded, type Filter } from '../common/exec.js';

/** `zstd` only for OCI layers (named by their media type): an ACI is never zstd, so detection does not look for it. */
export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/**
 * The compression of an image from its first bytes (at least 6 are needed for xz). A plain tar has no magic
 * at offset 0, so anything unrecognised is taken as uncompressed and left to the tar reader to judge.
 */
export function detectCompression(head: Uint8Array): Compression {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return 'bzip2'; // "BZh"
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  return 'none';
}

/**
 * A stream of the decompressed bytes of `input`. gzip is decoded by Node's zlib, on a libuv worker thread (the
 * other core) while this thread hashes and checks the tar: Node's zlib inflates about twice as fast as GNU
 * `gzip -dc` (measured: 210 MB in 0.6 s against 1.1 s; hack/bench fetch). bzip2 and xz are decoded by Debian's
 * own `bzip2 -dc`, `xz -dc` and `zstd -dc` (Node 20's zlib has no zstd), faster than any JS decoder (shared/notes/dependencies.md), in their own process.
 * A decoder failure is emitted as an RktError on the returned stream; `what` names the image in messages.
 */
export function decompress(input: Readable, kind: Compression, what: string): Readable {
  if (kind === 'none') return input;
  if (kind === 'gzip') {
    const z = createGunzip({ chunkSize: 1 << 20 });
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    input.on('error', (err) => out.destroy(err));
    z.on('error', (err) => out.destroy(new RktError('EDECOMPRESS', `${what}: bad gzip data: ${err.message}`, { cause: err })));
    out.on('close', () => { if (!z.destroyed) z.destroy(); });
    input.pipe(z).pipe(out);
    return out;
  }
  const tool = kind;
  const out = new PassThrough();
  let decoder: Filter | undefined;
  const stop = () => {
    decoder?.kill();
    decoder?.stdout.destroy();
  };
  // The reader may stop early (a bad header): the decoder is then killed, which is not an error.
  out.on('close', stop);
  input.on('error', (err) => { stop(); out.destroy(err); });
  const cannotRun = (cause: unknown) => new RktError('EDECOMPRESS', `${what}: cannot run ${tool} to decompress it`, {
    cause, hint: `install Debian's ${tool === 'xz' ? 'xz-utils' : tool} package`,
  });
  void startFilter(tool, ['-dc']).then((f) => {
    decoder = f;
    if (out.destroyed) { stop(); return; }
    input.pipe(f.stdin);
    f.stdout.pipe(out, { end: false });
    // `done` resolves once the decoder has exited and all it wrote has been passed on to `out`.
    return f.done.then((e) => {
      if (out.destroyed) return;
      if (succeeded(e)) out.end();
      else if (e.notRun !== undefined) out.destroy(cannotRun(e.notRun));
      else out.destroy(new RktError('EDECOMPRESS', `${what}: bad ${kind} data: ${stderrTail(e, 1, `${tool} ${exitText(e)}`)}`));
    });
  }, (err: unknown) => out.destroy(cannotRun(err)));
  return out;
}
