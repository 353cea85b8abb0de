import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../common/errors.js';

/**
 * Lay `src` over `dst` (both directories): directories merge, anything else in `src` replaces what `dst`
 * has at that path. Files, symlinks, devices and FIFOs are hard-linked (same inode: owners, modes, xattrs
 * and all), so rendering costs no data copy. Nothing is ever followed: a symlink in `dst` where `src` has a
 * directory is replaced by that directory, not written through.
 */
export async function overlayInto(src: string, dst: string): Promise<void> {
  for (const e of await fs.readdir(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    let existing: import('node:fs').Stats | undefined;
    try {
      existing = await fs.lstat(d);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    if (e.isDirectory()) {
      if (existing !== undefined && !existing.isDirectory()) {
        await fs.rm(d, { force: true });
        existing = undefined;
      }
      const st = await fs.lstat(s);
      if (existing === undefined) await fs.mkdir(d);
      await overlayInto(s, d);
      await fs.chmod(d, st.mode & 0o7777);
      await fs.lchown(d, st.uid, st.gid);
      await fs.utimes(d, st.atime, st.mtime);
    } else {
      if (existing !== undefined) await fs.rm(d, { recursive: true, force: true });
      await fs.link(s, d);
    }
  }
}

/** True if `rel` (a rootfs path without leading slash) is kept by the whitelist or is a parent of a kept path. */
function whitelisted(rel: string, keep: readonly string[]): boolean {
  const abs = `/${rel}`;
  return keep.some((k) => k === abs || k.startsWith(`${abs}/`));
}

/**
 * Remove from `rootfs` every path that `pathWhitelist` does not keep (directories on the way to a kept path
 * stay). An empty whitelist keeps everything, as appc says.
 */
export async function applyPathWhitelist(rootfs: string, keep: readonly string[]): Promise<void> {
  if (keep.length === 0) return;
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      const p = path.join(dir, e.name);
      if (!whitelisted(r, keep)) await fs.rm(p, { recursive: true, force: true });
      else if (e.isDirectory() && !keep.includes(`/${r}`)) await walk(p, r);
    }
  };
  await walk(rootfs, '');
}
