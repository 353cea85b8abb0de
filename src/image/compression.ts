import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { RktError } from '../common/errors.js';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz';

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
 * A stream of the decompressed bytes of `input`, decoded by Debian's own `gzip -dc`, `bzip2 -dc` or `xz -dc`:
 * faster than any JS decoder for bzip2 and xz (shared/notes/dependencies.md), and for gzip a separate process
 * runs on the other core while this one hashes and checks the tar (measured: hack/bench fetch, −10–20 %).
 * A decoder failure is emitted as an RktError on the returned stream; `what` names the image in messages.
 */
export function decompress(input: Readable, kind: Compression, what: string): Readable {
  if (kind === 'none') return input;
  const tool = kind;
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  child.on('error', (err) => out.destroy(new RktError('EDECOMPRESS', `${what}: cannot run ${tool} to decompress it`, {
    cause: err, hint: `install Debian's ${tool === 'xz' ? 'xz-utils' : tool} package`,
  })));
  input.on('error', (err) => { child.kill(); out.destroy(err); });
  // A reader that stops early closes our pipe: the decoder then dies of EPIPE, which is not an error.
  child.stdin.on('error', () => undefined);
  input.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  let exited: number | null | undefined;
  let drained = false;
  const finish = () => {
    if (exited === undefined || !drained) return;
    if (exited === 0) out.end();
    else if (!out.destroyed) {
      out.destroy(new RktError('EDECOMPRESS', `${what}: bad ${kind} data: ${stderr.trim().split('\n').pop() ?? `${tool} failed`}`));
    }
  };
  child.stdout.on('end', () => { drained = true; finish(); });
  child.on('exit', (code) => { exited = code; finish(); });
  out.on('close', () => { if (exited === undefined) child.kill(); });
  return out;
}
