/**
 * Where rkt runs, as far as systemd is concerned: no systemd as PID 1 (this project's CI hosts), systemd as
 * PID 1 with rkt started from a shell or a scope, or rkt as the main process of a service unit
 * (`systemd-run rkt run …`, `ExecStart=rkt run …`). The launch step picks the pod's placement from this.
 */
// Synchronous reads: the first use of fs.promises loads ten of Node's modules (≈ 4 ms of a `rkt status`).
import { lstatSync, readFileSync } from 'node:fs';
import { isErrno } from '../common/errors.js';

export type SystemdContext =
  | { readonly kind: 'none' }
  | { readonly kind: 'shell' }
  | { readonly kind: 'service'; readonly unit: string };

/** The unit a process belongs to, from its /proc/<pid>/cgroup text: the last `*.service` or `*.scope` element. Pure. */
export function unitFromCgroup(procCgroup: string): string | undefined {
  let path: string | undefined;
  for (const line of procCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    // Prefer the unified hierarchy (0::), else systemd's named one.
    if (m[1] === '' || (path === undefined && m[1] === 'name=systemd')) path = m[2];
  }
  const unit = path?.split('/').filter((p) => /\.(service|scope)$/.test(p)).pop();
  return unit;
}

/**
 * Decide the context from facts: whether /run/systemd/system exists (systemd is PID 1), the process's
 * cgroup text, and the environment (systemd sets INVOCATION_ID for the processes of a unit it started).
 * Pure.
 */
export function decideContext(systemdBooted: boolean, procCgroup: string, env: Readonly<Record<string, string | undefined>>): SystemdContext {
  if (!systemdBooted) return { kind: 'none' };
  const unit = unitFromCgroup(procCgroup);
  if (unit !== undefined && unit.endsWith('.service') && env['INVOCATION_ID'] !== undefined) return { kind: 'service', unit };
  return { kind: 'shell' };
}

/** Whether systemd is PID 1 here (it creates /run/systemd/system at boot). Loads nothing of D-Bus. */
export async function systemdBooted(): Promise<boolean> {
  try {
    return lstatSync('/run/systemd/system').isDirectory();
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

/** The context of this process. */
export async function systemdContext(): Promise<SystemdContext> {
  if (!(await systemdBooted())) return { kind: 'none' };
  return decideContext(true, readFileSync('/proc/self/cgroup', 'utf8'), process.env);
}
