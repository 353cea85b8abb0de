/**
 * An app's isolation (`AppIsolation`, as src/stage0/isolation.ts resolves it) rendered as the systemd 252
 * `[Service]` directives of its unit (pure). Paths carry systemd's `+` prefix: they are inside the app's
 * `RootDirectory=`, not the stage1's root; `-` ignores those a kernel does not have.
 */
import { NSPAWN_DEFAULT_CAPABILITIES, sortCapabilities } from './capabilities.js';

/** A seccomp filter: allow only (`retain`) or refuse (`remove`) the listed system calls, failing with `errno`. */
export interface SeccompFilter {
  readonly mode: 'retain' | 'remove';
  /** System calls, groups expanded, in syscall-number order. */
  readonly syscalls: readonly string[];
  readonly errno: string;
}

/** Resource limits, in the units the unit directives take. */
export interface AppResources {
  /** `resource/memory` limit, `--memory`: bytes. */
  readonly memoryMax?: number;
  /** `resource/cpu` limit, `--cpu`: percent of one CPU (`500m` is 50). */
  readonly cpuQuotaPercent?: number;
  /** `os/linux/cpu-shares`, `--cpu-shares`: 2..262144. */
  readonly cpuShares?: number;
  /** `os/linux/oom-score-adj`, `--oom-score-adj`: -1000..1000. */
  readonly oomScoreAdjust?: number;
}

/** Everything the app unit enforces about one app. */
export interface AppIsolation {
  /** The capability bounding set, in kernel order; undefined when `--insecure-options=capabilities` lifts it. */
  readonly capabilities?: readonly string[];
  /** Capabilities a non-root app holds (ambient): an explicit retain set; empty for root and by default. */
  readonly ambientCapabilities: readonly string[];
  /** Undefined when `--insecure-options=seccomp` lifts it. */
  readonly seccomp?: SeccompFilter;
  readonly noNewPrivileges: boolean;
  /** /proc and /sys paths read-only or hidden (off with `--insecure-options=paths`). */
  readonly protectedPaths: boolean;
  /** `ace`: only the ACE's device set in /dev; `unrestricted` with `--insecure-options=paths`. */
  readonly devices: 'ace' | 'unrestricted';
  readonly resources: AppResources;
  /** `/` read-only (`readOnlyRootFS`, `--readonly-rootfs`); `writablePaths` stay writable. */
  readonly readOnlyRootFS: boolean;
  /** Inside the app: the targets of its writable volumes. */
  readonly writablePaths: readonly string[];
  /** Lines for stderr: isolators ignored and why. */
  readonly notes: readonly string[];
}

/** /proc and /sys paths an app may read but not write (as rkt had them). */
export const READ_ONLY_PATHS: readonly string[] = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/sys'];

/** /proc and /sys paths an app cannot reach at all. */
export const INACCESSIBLE_PATHS: readonly string[] = ['/proc/kcore', '/proc/kmsg', '/sys/firmware', '/sys/fs/selinux'];

/**
 * What the pod's /dev (systemd-nspawn's) holds beyond the ACE's device set (null, zero, full, random, urandom,
 * tty, console, ptmx, pts, shm): hidden from apps.
 */
export const NON_ACE_DEVICES: readonly string[] = ['/dev/net'];

const inRoot = (p: string): string => `-+${p.replace(/\\/g, '\\\\').replace(/ /g, '\\x20').replace(/%/g, '%%')}`;

/**
 * The protected paths the pod's stage1 sets up once, in its own mount namespace, before the first app starts
 * (`/rkt/reaper --started`, see stage1-image/helpers/reaper.c): every app's namespace inherits them, since
 * its unit binds the stage1's /proc (`BindPaths=/proc`) and, through `MountAPIVFS=yes`, its /dev and /sys.
 * Made per app by systemd instead, each of these paths re-reads the whole mount table twice in every app's
 * namespace (≈ 15–20 ms per app on this machine). /sys stays read-only per app: the stage1's systemd writes
 * its own cgroups there.
 */
export interface PodProtection {
  readonly readOnly: readonly string[];
  readonly inaccessible: readonly string[];
}

/** What the stage1 must protect for an app, or undefined when `--insecure-options=paths` lifts it. */
export function podProtection(iso: AppIsolation): PodProtection | undefined {
  if (!iso.protectedPaths) return undefined;
  return {
    readOnly: READ_ONLY_PATHS.filter((p) => p !== '/sys'),
    inaccessible: [...INACCESSIBLE_PATHS, ...(iso.devices === 'ace' ? NON_ACE_DEVICES : [])],
  };
}

/**
 * Read-only per app, in its own namespace: /sys, and the boot ID the stage1 binds under /proc/sys (systemd's
 * recursive bind of /proc leaves that one file writable).
 */
const APP_READ_ONLY_PATHS: readonly string[] = ['/sys', '/proc/sys/kernel/random/boot_id'];

/** The `[Service]` lines that enforce `iso`, in a fixed order (golden-tested). */
export function isolationDirectives(iso: AppIsolation): string[] {
  const lines: string[] = [];
  if (iso.capabilities !== undefined) lines.push(`CapabilityBoundingSet=${iso.capabilities.join(' ')}`);
  if (iso.ambientCapabilities.length > 0) lines.push(`AmbientCapabilities=${iso.ambientCapabilities.join(' ')}`);
  if (iso.noNewPrivileges) lines.push('NoNewPrivileges=yes');
  if (iso.seccomp !== undefined) {
    lines.push(`SystemCallFilter=${iso.seccomp.mode === 'remove' ? '~' : ''}${iso.seccomp.syscalls.join(' ')}`);
    lines.push(`SystemCallErrorNumber=${iso.seccomp.errno}`);
  }
  if (iso.protectedPaths) {
    // The stage1's /proc, with the read-only and hidden paths it made (podProtection), instead of a fresh one.
    lines.push('BindPaths=/proc:/proc');
    lines.push(`ReadOnlyPaths=${APP_READ_ONLY_PATHS.map(inRoot).join(' ')}`);
  }
  const r = iso.resources;
  if (r.oomScoreAdjust !== undefined) lines.push(`OOMScoreAdjust=${r.oomScoreAdjust}`);
  if (r.cpuShares !== undefined) lines.push(`CPUShares=${r.cpuShares}`);
  if (r.cpuQuotaPercent !== undefined) lines.push(`CPUQuota=${r.cpuQuotaPercent}%`);
  if (r.memoryMax !== undefined) lines.push(`MemoryMax=${r.memoryMax}`);
  if (iso.readOnlyRootFS) {
    lines.push('ReadOnlyPaths=+/');
    if (iso.writablePaths.length > 0) lines.push(`ReadWritePaths=${iso.writablePaths.map(inRoot).join(' ')}`);
  }
  return lines;
}

/**
 * The capabilities the pod's stage1 must be given beyond nspawn's default set (`systemd-nspawn --capability=`),
 * in kernel order: those an app's bounding set names, and CAP_SYS_RESOURCE when an app's OOM score is lowered.
 */
export function extraPodCapabilities(isolations: readonly AppIsolation[]): string[] {
  const wanted = new Set<string>();
  for (const iso of isolations) {
    for (const c of iso.capabilities ?? []) wanted.add(c);
    if ((iso.resources.oomScoreAdjust ?? 0) < 0) wanted.add('CAP_SYS_RESOURCE');
  }
  return sortCapabilities([...wanted].filter((c) => !NSPAWN_DEFAULT_CAPABILITIES.includes(c)));
}
