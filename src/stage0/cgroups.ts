/**
 * A pod's own cgroups on a host without systemd as PID 1. Every `systemd-nspawn --keep-unit` would otherwise
 * create the same payload/supervisor cgroups beside its caller, and concurrent pods collide
 * (shared/notes/environment.md). Stage0 puts each pod's launcher in `<caller's cgroup>/rkt-<uuid>` of the
 * hierarchies that matter, and removes them after the pod.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../common/errors.js';

/** Hierarchies to place the pod in: the systemd-named one, cgroup2, and the controllers nspawn cares about. */
const WANTED = new Set(['name=systemd', 'pids', 'memory', '']);

/** From /proc/self/mountinfo and /proc/self/cgroup text: hierarchy → (mount point, our path in it). Pure. */
export function podCgroupDirs(mountinfo: string, procCgroup: string, uuid: string): string[] {
  const ours = new Map<string, string>();
  for (const line of procCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    for (const c of (m[1] ?? '').split(',')) ours.set(c, m[2] ?? '/');
  }
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep === -1) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fstype = right[0];
    const mnt = left[4];
    if (mnt === undefined || (fstype !== 'cgroup' && fstype !== 'cgroup2')) continue;
    const key = fstype === 'cgroup2' ? '' : (right[2] ?? '').split(',').find((o) => WANTED.has(o));
    if (key === undefined || !WANTED.has(key)) continue;
    const rel = ours.get(key);
    if (rel === undefined) continue;
    out.push(path.join(mnt, rel, `rkt-${uuid}`));
  }
  return out;
}

/** The cgroup directories for a pod on this host. */
export async function cgroupDirsFor(uuid: string): Promise<string[]> {
  const [mi, cg] = await Promise.all([fs.readFile('/proc/self/mountinfo', 'utf8'), fs.readFile('/proc/self/cgroup', 'utf8')]);
  return podCgroupDirs(mi, cg, uuid);
}

/** Remove a pod's cgroups (deepest first), best-effort: a cgroup still in use stays, and gc tries again. */
export async function removeCgroups(dirs: readonly string[]): Promise<void> {
  const rmTree = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for (const e of entries) if (e.isDirectory()) await rmTree(path.join(d, e.name));
    // The pod's output relays leave a moment after nspawn: a busy cgroup is retried briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.rmdir(d);
        return;
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return;
        if (!isErrno(err, 'EBUSY') || attempt >= 20) {
          if (isErrno(err, 'EBUSY')) return;
          throw err;
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  for (const d of dirs) await rmTree(d);
}
