import { spawn } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, isErrno, RktError } from '../common/errors.js';
import { fsyncDir, tempNameFor } from '../common/fs-atomic.js';
import type { Compression } from './compression.js';
import { inspectAciFile, type AciInfo } from './aci.js';
import { parseImageManifest } from './manifest.js';

/** Run a filter program with its stdout as a stream; a non-zero exit becomes an error on that stream. */
function filter(cmd: string, args: readonly string[], cwd?: string): { stdin: Writable; stdout: Readable; done: Promise<void> } {
  const child = spawn(cmd, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${stderr.trim()}`))));
  });
  return { stdin: child.stdin, stdout: child.stdout, done };
}

/**
 * Build an ACI from `dir`, which holds `manifest` and `rootfs/`, into `out` (written whole to a temporary,
 * then renamed). The manifest is validated first. GNU tar keeps numeric owners, modes, links, devices and
 * xattrs; entries are sorted so the same tree gives the same Image ID. Returns the checked result.
 */
export interface BuildOptions {
  /**
   * Mount this over DIR/rootfs first, in a private mount namespace that only the tar process sees: an
   * overlay of read-only layers (upper first), or a bind of one directory. For exporting a pod's app.
   */
  readonly rootfsMount?: { readonly kind: 'overlay' | 'bind'; readonly layers: readonly string[] };
}

export async function buildAci(dir: string, out: string, compression: Compression = 'none', opts: BuildOptions = {}): Promise<AciInfo> {
  let manifestText: Buffer;
  try {
    manifestText = await fs.readFile(path.join(dir, 'manifest'));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new RktError('ENOENT', `${dir}: no "manifest" file in the image directory`);
    throw new RktError('EACIBUILD', `${dir}: cannot read manifest: ${describe(err)}`, { cause: err });
  }
  parseImageManifest(manifestText);
  const members = ['manifest'];
  try {
    if ((await fs.stat(path.join(dir, 'rootfs'))).isDirectory()) members.push('rootfs');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const tmp = tempNameFor(out);
  // pax keeps xattrs; atime and ctime are dropped so that the same tree always gives the same Image ID.
  const tarArgs = ['--create', '--file=-', '--format=posix', '--pax-option=delete=atime,delete=ctime',
    '--sort=name', '--numeric-owner', '--xattrs', '--xattrs-include=*', ...members];
  const m = opts.rootfsMount;
  const esc = (p: string) => p.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/:/g, '\\:');
  const mountCmd = m === undefined ? undefined : m.kind === 'bind'
    ? ['mount', '--bind', '-o', 'ro', m.layers[0] ?? '', 'rootfs']
    : ['mount', '-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${m.layers.map(esc).join(':')}`, 'rootfs'];
  const q = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;
  const tar = mountCmd === undefined
    ? filter('tar', tarArgs, dir)
    : filter('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${mountCmd.map(q).join(' ')} && exec tar "$@"`, 'sh', ...tarArgs], dir);
  tar.stdin.end();
  try {
    const sink = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    if (compression === 'none') await pipeline(tar.stdout, sink);
    else if (compression === 'gzip') await pipeline(tar.stdout, createGzip(), sink);
    else {
      const z = filter(compression === 'xz' ? 'xz' : 'bzip2', ['-c']);
      await Promise.all([pipeline(tar.stdout, z.stdin), pipeline(z.stdout, sink), z.done]);
    }
    await tar.done;
    const fh = await fs.open(tmp, 'r');
    await fh.sync();
    await fh.close();
    const info = await inspectAciFile(tmp);
    await fs.rename(tmp, out);
    await fsyncDir(path.dirname(path.resolve(out)));
    return info;
  } catch (err) {
    await fs.rm(tmp, { force: true });
    if (err instanceof RktError) throw err;
    throw new RktError('EACIBUILD', `cannot build image from ${dir}: ${describe(err)}`, { cause: err });
  }
}
