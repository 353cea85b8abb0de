/**
 * Linux capabilities as app units use them (pure data): names in kernel order (the index is the capability's
 * number), rkt's default set for apps, and the set systemd-nspawn leaves the pod's stage1 by default, which bounds
 * what any app of the pod can be given.
 */
import { LINUX_CAPABILITIES } from '../image/isolators.js';

export { LINUX_CAPABILITIES };

/** rkt's default capability set: what an app gets when no capability isolator or flag says otherwise. */
export const DEFAULT_APP_CAPABILITIES: readonly string[] = [
  'CAP_AUDIT_WRITE', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_KILL', 'CAP_MKNOD',
  'CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETFCAP', 'CAP_SYS_CHROOT',
];

/**
 * The capabilities systemd-nspawn (252) keeps for the container by default — measured from inside a pod as
 * `CapBnd: 00000000fcecafff`. An app can hold only capabilities its pod's stage1 holds; others must be added to
 * nspawn with `--capability=`.
 */
export const NSPAWN_DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_RAW',
  'CAP_IPC_OWNER', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
];

/** The capability's number (`CAP_CHOWN` is 0), or undefined for a name that is not a Linux capability. */
export function capabilityNumber(name: string): number | undefined {
  const i = LINUX_CAPABILITIES.indexOf(name);
  return i < 0 ? undefined : i;
}

/** Capability names sorted in kernel order, without duplicates. Precondition: every name is a Linux capability. */
export function sortCapabilities(names: Iterable<string>): string[] {
  const set = new Set(names);
  return LINUX_CAPABILITIES.filter((c) => set.has(c));
}

/** A capability set as /proc/<pid>/status shows it (`CapBnd:`): 16 hex digits. */
export function capabilityMask(names: Iterable<string>): string {
  let mask = 0n;
  for (const n of names) {
    const i = capabilityNumber(n);
    if (i !== undefined) mask |= 1n << BigInt(i);
  }
  return mask.toString(16).padStart(16, '0');
}
