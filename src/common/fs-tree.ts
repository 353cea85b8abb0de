/** Whole directory trees on disk. */
import { describe, RktError } from './errors.js';

/**
 * Copy the directory tree `src` to `dst` (which must not exist) with GNU cp, keeping owners, modes, links,
 * devices, xattrs and times. Fails with ECOPY naming both paths.
 */
export async function copyTree(src: string, dst: string): Promise<void> {
  // node:child_process (which loads net and streams) only when a tree is copied: its importers are on rkt run's path.
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('cp', ['-a', '--no-target-directory', src, dst], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    child.on('error', (e) => reject(new RktError('ECOPY', `copying ${src} to ${dst} failed: cannot run cp: ${describe(e)}`, { cause: e })));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new RktError('ECOPY', `copying ${src} to ${dst} failed: ${err.trim()}`))));
  });
}
