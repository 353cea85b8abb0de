import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { describe, isErrno, RktError } from '../common/errors.js';
import { exitText, startFilter, stderrTail, succeeded, type Filter } from '../common/exec.js';
import { fsyncDir, tempNameFor } from '../common/fs-atomic.js';
import type { Compression } from './compression.js';
import { inspectAciFile, type AciInfo } from './aci.js';
import { parseImageManifest } from './manifest.js';

/** Wait for a filter program to end; anything but status 0 is an error naming it and quoting its stderr. */
async function ended(f: Filter, name: string, dir: string): Promise<void> {
  const e = await f.done;
  if (succeeded(e)) return;
  const hint = e.notRun !== undefined && isErrno(e.notRun, 'ENOENT') ? `install Debian's ${name === 'xz' ? 'xz-utils' : name} package` : undefined;
  const detail = e.notRun === undefined ? `: ${stderrTail(e, 3, 'no message')}` : '';
  throw new RktError('EACIBUILD', `cannot build image from ${dir}: ${name} ${exitText(e)}${detail}`, { hint, cause: e.notRun });
}

/** How `buildAci` finds the root filesystem. */
export interface BuildOptions {
  /**
   * Mount this over DIR/rootfs first, in a private mount namespace that only the tar process sees: an
   * overlay of read-only layers (upper first), or a bind of one directory. For exporting a pod's app.
   */
  readonly rootfsMount?: { readonly kind: 'overlay' | 'bind'; readonly layers: readonly string[] };
}

/**
 * Build an ACI from `dir`, which holds `manifest` and `rootfs/`, into `out` (written whole to a temporary,
 * then renamed). The manifest is validated first. GNU tar keeps numeric owners, modes, links, devices and
 * xattrs; entries are sorted so the same tree gives the same Image ID. Returns the checked result.
 * GNU tar, not node-tar: Documentation/hacking.md, "Dependencies", says why.
 */
export async function buildAci(dir: string, out: string, compression: Compression = 'none', opts: BuildOptions = {}): Promise<AciInfo> {
  let manifestText: Buffer;
  try {
    manifestText = await fs.readFile(path.join(dir, 'manifest'));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new RktError('ENOFILE', `${dir}: no "manifest" file in the image directory`);
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
  let tar: Filter | undefined;
  try {
    tar = mountCmd === undefined
      ? await startFilter('tar', tarArgs, { cwd: dir })
      : await startFilter('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${mountCmd.map(q).join(' ')} && exec tar "$@"`, 'sh', ...tarArgs], { cwd: dir });
    tar.stdin.end();
    const sink = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    if (compression === 'none') await pipeline(tar.stdout, sink);
    else if (compression === 'gzip') await pipeline(tar.stdout, createGzip(), sink);
    else {
      const tool = compression === 'xz' ? 'xz' : 'bzip2';
      const z = await startFilter(tool, ['-c']);
      await Promise.all([pipeline(tar.stdout, z.stdin), pipeline(z.stdout, sink), ended(z, tool, dir)]);
    }
    await ended(tar, 'tar', dir);
    const fh = await fs.open(tmp, 'r');
    await fh.sync();
    await fh.close();
    const info = await inspectAciFile(tmp);
    await fs.rename(tmp, out);
    await fsyncDir(path.dirname(path.resolve(out)));
    return info;
  } catch (err) {
    tar?.kill();
    await fs.rm(tmp, { force: true });
    if (err instanceof RktError) throw err;
    throw new RktError('EACIBUILD', `cannot build image from ${dir}: ${describe(err)}`, { cause: err });
  }
}
