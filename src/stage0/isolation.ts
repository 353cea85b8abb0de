/**
 * One app's isolation, resolved (pure): from its image manifest's isolators, the pod manifest app entry's
 * isolators (which win, per isolator), rkt's app flags (which win over both, as in rkt) and the
 * `--insecure-options` that lift capabilities, seccomp or protected paths. The result, an `AppIsolation`, is what
 * src/stage1/isolation.ts renders as unit directives; its notes are for stderr.
 */
import { RktError, UsageError } from '../common/errors.js';
import type { InsecureCheck } from '../common/options.js';
import {
  isKnownIsolator,
  parseQuantity,
  type Isolator,
  type KnownIsolator,
  type KnownIsolatorName,
  type KnownIsolatorValues,
  type Quantity,
} from '../image/isolators.js';
import { DEFAULT_APP_CAPABILITIES, LINUX_CAPABILITIES, sortCapabilities } from '../stage1/capabilities.js';
import { extraPodCapabilities, type AppIsolation, type AppResources } from '../stage1/isolation.js';
import { DEFAULT_SECCOMP_ERRNO, expandSeccompSet, isErrnoName, RKT_DEFAULT_BLOCKLIST } from '../stage1/seccomp.js';

export type { AppIsolation, AppResources, SeccompFilter } from '../stage1/isolation.js';

/** rkt's app flags about isolation, parsed (see the parsers below). Absent: not given. */
export interface IsolationFlags {
  readonly capsRetain?: readonly string[];
  readonly capsRemove?: readonly string[];
  readonly seccomp?: SeccompFlag;
  readonly noNewPrivileges?: boolean;
  readonly memory?: Quantity;
  readonly cpu?: Quantity;
  readonly cpuShares?: number;
  readonly oomScoreAdj?: number;
  readonly readOnlyRootFS?: boolean;
}

/** `--seccomp=mode=retain|remove[,errno=ENAME],SYSCALL|@GROUP,…`, parsed. */
export interface SeccompFlag {
  readonly mode: 'retain' | 'remove';
  readonly errno?: string;
  readonly set: readonly string[];
}

export interface IsolationInput {
  readonly app: string;
  /** The uid the app runs as: a non-root app gets its retain set as ambient capabilities. */
  readonly uid: number;
  readonly imageIsolators: readonly Isolator[];
  /** The pod manifest app entry's isolators (`apps[].app.isolators`). */
  readonly appIsolators: readonly Isolator[];
  readonly flags?: IsolationFlags;
  /** The pod manifest app entry's `readOnlyRootFS`. */
  readonly readOnlyRootFS?: boolean;
  /** Targets (inside the app) of its volumes that are not read-only. */
  readonly writableVolumes?: readonly string[];
  readonly insecure: ReadonlySet<InsecureCheck>;
}

/** Isolator names that stand for one setting: an app entry or a flag giving either replaces both. */
const FAMILIES: readonly (readonly KnownIsolatorName[])[] = [
  ['os/linux/capabilities-retain-set', 'os/linux/capabilities-remove-set'],
  ['os/linux/seccomp-retain-set', 'os/linux/seccomp-remove-set'],
];

const familyOf = (name: string): readonly string[] => FAMILIES.find((f) => (f as readonly string[]).includes(name)) ?? [name];

/** Image isolators overlaid with the app entry's: an isolator (or family) the app entry names replaces the image's. */
function overlay(base: readonly Isolator[], over: readonly Isolator[]): Isolator[] {
  const replaced = new Set(over.flatMap((i) => familyOf(i.name)));
  return [...base.filter((i) => !replaced.has(i.name)), ...over];
}

/** The app flags as isolators (how they are written into the pod manifest's app entry, as rkt did). */
export function flagsToIsolators(flags: IsolationFlags): KnownIsolator[] {
  const out: KnownIsolator[] = [];
  if (flags.capsRetain !== undefined && flags.capsRemove !== undefined) {
    throw new UsageError('--caps-retain and --caps-remove cannot be used together');
  }
  if (flags.capsRetain !== undefined) out.push({ name: 'os/linux/capabilities-retain-set', value: { set: flags.capsRetain } });
  if (flags.capsRemove !== undefined) out.push({ name: 'os/linux/capabilities-remove-set', value: { set: flags.capsRemove } });
  if (flags.seccomp !== undefined) {
    const value = { set: flags.seccomp.set, ...(flags.seccomp.errno !== undefined ? { errno: flags.seccomp.errno } : {}) };
    out.push(flags.seccomp.mode === 'retain'
      ? { name: 'os/linux/seccomp-retain-set', value }
      : { name: 'os/linux/seccomp-remove-set', value });
  }
  if (flags.noNewPrivileges !== undefined) out.push({ name: 'os/linux/no-new-privileges', value: flags.noNewPrivileges });
  if (flags.memory !== undefined) out.push({ name: 'resource/memory', value: { limit: flags.memory } });
  if (flags.cpu !== undefined) out.push({ name: 'resource/cpu', value: { limit: flags.cpu } });
  if (flags.cpuShares !== undefined) out.push({ name: 'os/linux/cpu-shares', value: flags.cpuShares });
  if (flags.oomScoreAdj !== undefined) out.push({ name: 'os/linux/oom-score-adj', value: flags.oomScoreAdj });
  return out;
}

/**
 * The isolators an app entry of the pod manifest gets: the image's, overlaid with those the flags give. Both
 * capability sets (or both seccomp sets) in the flags is a usage error.
 */
export function appEntryIsolators(imageIsolators: readonly Isolator[], flags: IsolationFlags): Isolator[] {
  return overlay(imageIsolators, flagsToIsolators(flags));
}

function find<N extends KnownIsolatorName>(isolators: readonly Isolator[], name: N): KnownIsolatorValues[N] | undefined {
  const found = isolators.find((i) => i.name === name);
  return found === undefined ? undefined : (found.value as KnownIsolatorValues[N]);
}

const UNSUPPORTED_RESOURCES: readonly string[] = ['resource/block-bandwidth', 'resource/block-iops', 'resource/network-bandwidth'];

/**
 * Resolve one app's isolation. Errors (RktError, exit 254): both capability sets or both seccomp sets in effect,
 * an unknown capability, syscall, `@group` or errno name (each message names it).
 */
export function resolveAppIsolation(input: IsolationInput): AppIsolation {
  const { app } = input;
  const isolators = overlay(overlay(input.imageIsolators, input.appIsolators), input.flags === undefined ? [] : flagsToIsolators(input.flags));
  const fail = (message: string): never => { throw new RktError('EISOLATOR', `app ${app}: ${message}`); };
  const notes: string[] = [];
  for (const i of isolators) {
    if (!isKnownIsolator(i) || UNSUPPORTED_RESOURCES.includes(i.name)) notes.push(`app ${app}: isolator ${i.name} is not supported, ignoring`);
  }

  // Capabilities.
  const retain = find(isolators, 'os/linux/capabilities-retain-set');
  const remove = find(isolators, 'os/linux/capabilities-remove-set');
  if (retain !== undefined && remove !== undefined) {
    fail('os/linux/capabilities-retain-set cannot be combined with os/linux/capabilities-remove-set');
  }
  for (const c of [...(retain?.set ?? []), ...(remove?.set ?? [])]) {
    if (!LINUX_CAPABILITIES.includes(c)) fail(`unknown capability "${c}"`);
  }
  const liftCaps = input.insecure.has('capabilities');
  if (liftCaps && (retain !== undefined || remove !== undefined)) notes.push(`app ${app}: capability isolator ignored (--insecure-options=capabilities)`);
  const capabilities = liftCaps ? undefined
    : retain !== undefined ? sortCapabilities(retain.set)
      : sortCapabilities(DEFAULT_APP_CAPABILITIES.filter((c) => !(remove?.set ?? []).includes(c)));
  const ambientCapabilities = capabilities !== undefined && retain !== undefined && input.uid !== 0 ? capabilities : [];

  // Seccomp.
  const sRetain = find(isolators, 'os/linux/seccomp-retain-set');
  const sRemove = find(isolators, 'os/linux/seccomp-remove-set');
  if (sRetain !== undefined && sRemove !== undefined) fail('os/linux/seccomp-retain-set cannot be combined with os/linux/seccomp-remove-set');
  const chosen = sRetain !== undefined ? { mode: 'retain' as const, ...sRetain }
    : sRemove !== undefined ? { mode: 'remove' as const, ...sRemove }
      : { mode: 'remove' as const, set: RKT_DEFAULT_BLOCKLIST, errno: undefined };
  const expanded = expandSeccompSet(chosen.set);
  if ('unknown' in expanded) {
    fail(expanded.unknown.startsWith('@') ? `unknown seccomp group "${expanded.unknown}"` : `unknown syscall "${expanded.unknown}" (not an x86_64 system call)`);
  }
  const errno = chosen.errno ?? DEFAULT_SECCOMP_ERRNO;
  if (!isErrnoName(errno)) fail(`unknown errno "${errno}"`);
  const liftSeccomp = input.insecure.has('seccomp');
  if (liftSeccomp && (sRetain !== undefined || sRemove !== undefined)) notes.push(`app ${app}: seccomp isolator ignored (--insecure-options=seccomp)`);
  const seccomp = liftSeccomp || !('syscalls' in expanded) ? undefined : { mode: chosen.mode, syscalls: expanded.syscalls, errno };

  // Resources.
  const memory = find(isolators, 'resource/memory')?.limit;
  const cpu = find(isolators, 'resource/cpu')?.limit;
  const memoryBytes = memory === undefined ? undefined : parseQuantity(memory);
  const cpuCores = cpu === undefined ? undefined : parseQuantity(cpu);
  const cpuShares = find(isolators, 'os/linux/cpu-shares');
  const oomScoreAdjust = find(isolators, 'os/linux/oom-score-adj');
  const resources: AppResources = {
    ...(memoryBytes !== undefined ? { memoryMax: Math.max(1, Math.round(memoryBytes)) } : {}),
    ...(cpuCores !== undefined ? { cpuQuotaPercent: Math.max(1, Math.round(cpuCores * 100)) } : {}),
    ...(cpuShares !== undefined ? { cpuShares } : {}),
    ...(oomScoreAdjust !== undefined ? { oomScoreAdjust } : {}),
  };

  const protectedPaths = !input.insecure.has('paths');
  const readOnlyRootFS = input.flags?.readOnlyRootFS ?? input.readOnlyRootFS ?? false;
  return {
    ...(capabilities !== undefined ? { capabilities } : {}),
    ambientCapabilities,
    ...(seccomp !== undefined ? { seccomp } : {}),
    noNewPrivileges: find(isolators, 'os/linux/no-new-privileges') ?? false,
    protectedPaths,
    devices: protectedPaths ? 'ace' : 'unrestricted',
    resources,
    readOnlyRootFS,
    writablePaths: readOnlyRootFS ? [...(input.writableVolumes ?? [])] : [],
    notes,
  };
}

/**
 * The one stderr line for limits this host cannot enforce: the pod's apps sit in cgroup v1 hierarchies that
 * nspawn leaves read-only inside the pod, so memory and CPU limits written into their units do not apply. Undefined
 * when no app has such a limit or the pod's systemd can enforce them (`cgroupV2`).
 */
export function unenforcedResourcesNote(apps: readonly { readonly app: string; readonly isolation: AppIsolation }[], cgroupV2: boolean): string | undefined {
  if (cgroupV2) return undefined;
  const limited = apps.filter(({ isolation: { resources: r } }) => r.memoryMax !== undefined || r.cpuQuotaPercent !== undefined || r.cpuShares !== undefined);
  if (limited.length === 0) return undefined;
  return `resource limits of ${limited.map((a) => `app ${a.app}`).join(', ')} are written into the app units, but this host's cgroup v1 setup cannot enforce them inside the pod`;
}

// ---------------------------------------------------------------------------------------------------------
// Flag values

/** `--caps-retain`/`--caps-remove`: `CAP_NET_ADMIN,CAP_SYS_TIME` (the `CAP_` prefix and case optional). */
export function parseCapsFlag(flag: string, value: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new UsageError(`bad ${flag} value "${value}": want capability names such as CAP_NET_ADMIN,CAP_SYS_TIME`);
  return names.map((raw) => {
    const upper = raw.toUpperCase();
    const name = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
    if (!LINUX_CAPABILITIES.includes(name)) throw new UsageError(`bad ${flag} value: unknown capability "${raw}"`);
    return name;
  });
}

/** `--seccomp=mode=retain|remove[,errno=ENAME],SYSCALL|@GROUP,…`. */
export function parseSeccompFlag(value: string): SeccompFlag {
  let mode: 'retain' | 'remove' | undefined;
  let errno: string | undefined;
  const set: string[] = [];
  const bad = (why: string): never => { throw new UsageError(`bad --seccomp value "${value}": ${why}`, { hint: 'want mode=retain|remove[,errno=ENAME],SYSCALL|@GROUP,…' }); };
  for (const raw of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (raw.startsWith('mode=')) {
      const m = raw.slice('mode='.length);
      if (m !== 'retain' && m !== 'remove') bad(`mode "${m}" is neither retain nor remove`);
      mode = m as 'retain' | 'remove';
    } else if (raw.startsWith('errno=')) {
      const e = raw.slice('errno='.length);
      if (!isErrnoName(e)) bad(`unknown errno "${e}"`);
      errno = e;
    } else if (raw.startsWith('@')) {
      if ('unknown' in expandSeccompSet([raw])) bad(`unknown seccomp group "${raw}"`);
      set.push(raw);
    } else {
      if ('unknown' in expandSeccompSet([raw])) bad(`unknown syscall "${raw}"`);
      set.push(raw);
    }
  }
  if (mode === undefined) return bad('no mode=retain or mode=remove');
  if (set.length === 0) bad('no syscall or @group');
  return { mode, ...(errno !== undefined ? { errno } : {}), set };
}

/** `--memory`: a quantity such as `512M` or `1Gi` (bytes). */
export function parseMemoryFlag(value: string): Quantity {
  const q = parseQuantity(value.trim());
  if (q === undefined || q < 1) throw new UsageError(`bad --memory value "${value}": want a quantity such as 512M or 1Gi`);
  return value.trim();
}

/** `--cpu`: a quantity of CPUs such as `500m` (half a CPU) or `2`. */
export function parseCpuFlag(value: string): Quantity {
  const q = parseQuantity(value.trim());
  if (q === undefined || q <= 0) throw new UsageError(`bad --cpu value "${value}": want a quantity of CPUs such as 500m or 2`);
  return value.trim();
}

function parseIntFlag(flag: string, value: string, min: number, max: number): number {
  const s = value.trim();
  const n = Number(s);
  if (!/^-?\d+$/.test(s) || n < min || n > max) throw new UsageError(`bad ${flag} value "${value}": want an integer from ${min} to ${max}`);
  return n;
}

/** `--cpu-shares`: 2..262144. */
export function parseCpuSharesFlag(value: string): number {
  return parseIntFlag('--cpu-shares', value, 2, 262144);
}

/** `--oom-score-adj`: -1000..1000. */
export function parseOomScoreAdjFlag(value: string): number {
  return parseIntFlag('--oom-score-adj', value, -1000, 1000);
}

/**
 * An app's isolation flags as the command line gave them (flag name without dashes → value; booleans as
 * booleans), parsed. A bad value is a usage error naming the flag.
 */
export function parseIsolationFlags(given: Readonly<Record<string, string | boolean>>): IsolationFlags {
  const str = (k: string): string | undefined => (typeof given[k] === 'string' ? given[k] : undefined);
  const bool = (k: string): boolean | undefined => (typeof given[k] === 'boolean' ? given[k] : undefined);
  const flags: IsolationFlags = {
    ...(str('caps-retain') !== undefined ? { capsRetain: parseCapsFlag('--caps-retain', str('caps-retain') ?? '') } : {}),
    ...(str('caps-remove') !== undefined ? { capsRemove: parseCapsFlag('--caps-remove', str('caps-remove') ?? '') } : {}),
    ...(str('seccomp') !== undefined ? { seccomp: parseSeccompFlag(str('seccomp') ?? '') } : {}),
    ...(bool('no-new-privileges') !== undefined ? { noNewPrivileges: bool('no-new-privileges') } : {}),
    ...(str('memory') !== undefined ? { memory: parseMemoryFlag(str('memory') ?? '') } : {}),
    ...(str('cpu') !== undefined ? { cpu: parseCpuFlag(str('cpu') ?? '') } : {}),
    ...(str('cpu-shares') !== undefined ? { cpuShares: parseCpuSharesFlag(str('cpu-shares') ?? '') } : {}),
    ...(str('oom-score-adj') !== undefined ? { oomScoreAdj: parseOomScoreAdjFlag(str('oom-score-adj') ?? '') } : {}),
    ...(bool('readonly-rootfs') !== undefined ? { readOnlyRootFS: bool('readonly-rootfs') } : {}),
  };
  // Both capability sets is a usage error here, before any image is fetched.
  flagsToIsolators(flags);
  return flags;
}

/**
 * The capabilities the pod's stage1 needs beyond nspawn's default set, from the pod manifest's app entries
 * (their isolators already include the flags): see `extraPodCapabilities`.
 */
export function podCapabilities(apps: readonly { readonly name: string; readonly isolators: readonly Isolator[] }[], insecure: ReadonlySet<InsecureCheck>): string[] {
  return extraPodCapabilities(apps.map((a) => resolveAppIsolation({ app: a.name, uid: 0, imageIsolators: [], appIsolators: a.isolators, insecure })));
}

/**
 * Lines for stderr about what the host itself withholds: capabilities an app is to hold that are not in rkt's
 * own bounding set (`hostCapabilities`, from /proc/self/status), and a lowered OOM score without
 * CAP_SYS_RESOURCE (the kernel then keeps the score at its parent's).
 */
export function unavailableCapabilityNotes(apps: readonly { readonly app: string; readonly isolation: AppIsolation }[], hostCapabilities: ReadonlySet<string>): string[] {
  const notes: string[] = [];
  for (const { app, isolation } of apps) {
    const missing = (isolation.capabilities ?? []).filter((c) => !hostCapabilities.has(c));
    if (missing.length > 0) notes.push(`app ${app}: ${missing.join(', ')} cannot be given: rkt itself does not hold ${missing.length > 1 ? 'them' : 'it'} on this host`);
    if ((isolation.resources.oomScoreAdjust ?? 0) < 0 && !hostCapabilities.has('CAP_SYS_RESOURCE')) {
      notes.push(`app ${app}: oom-score-adj ${isolation.resources.oomScoreAdjust ?? 0} cannot be applied: lowering an OOM score needs CAP_SYS_RESOURCE, which rkt does not hold on this host`);
    }
  }
  return notes;
}

/** The capability names in a `CapBnd:` mask (hex, as /proc/<pid>/status shows it). */
export function capabilitiesOfMask(hex: string): Set<string> {
  const mask = BigInt(`0x${hex}`);
  return new Set(LINUX_CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n));
}
