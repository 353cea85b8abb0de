/**
 * Isolators (appc 0.8.11): `{name, value}` pairs in an app or a pod. The isolators appc defines are read into typed
 * values and checked; any other name is kept as it is, provided it is an AC Identifier, since appc lets executors
 * ignore isolators they do not know.
 */
import {
  ObjectReader,
  readAcIdentifier,
  readBoolean,
  readInteger,
  readJson,
  readList,
  readString,
  show,
  withoutUndefined,
  type Field,
  type JsonValue,
  type Reader,
} from './names.js';

/** A resource amount as written in a manifest: `"500m"`, `"100M"`, `"1Gi"`, `"1e3"`, or a plain number. */
export type Quantity = string | number;

/** `resource/cpu` and `resource/memory`: at least one of the two. */
export interface ResourceRequestLimit {
  readonly request?: Quantity;
  readonly limit?: Quantity;
}

/** `resource/block-bandwidth`, `resource/block-iops`, `resource/network-bandwidth`: a limit for all devices. */
export interface ResourceDeviceLimit {
  readonly default: true;
  readonly limit: Quantity;
}

/** `os/linux/capabilities-retain-set` and `-remove-set`: capability names such as `CAP_NET_BIND_SERVICE`. */
export interface CapabilitySet {
  readonly set: readonly string[];
}

/** `os/linux/seccomp-retain-set` and `-remove-set`: syscall names and `@group` names, and the errno to fail with. */
export interface SeccompSet {
  readonly set: readonly string[];
  readonly errno?: string;
}

/** The value type of each isolator appc defines, by name. */
export interface KnownIsolatorValues {
  'resource/cpu': ResourceRequestLimit;
  'resource/memory': ResourceRequestLimit;
  'resource/block-bandwidth': ResourceDeviceLimit;
  'resource/block-iops': ResourceDeviceLimit;
  'resource/network-bandwidth': ResourceDeviceLimit;
  'os/linux/capabilities-retain-set': CapabilitySet;
  'os/linux/capabilities-remove-set': CapabilitySet;
  'os/linux/no-new-privileges': boolean;
  'os/linux/seccomp-remove-set': SeccompSet;
  'os/linux/seccomp-retain-set': SeccompSet;
  'os/linux/oom-score-adj': number;
  'os/linux/cpu-shares': number;
}

export type KnownIsolatorName = keyof KnownIsolatorValues;

export type KnownIsolator = {
  [N in KnownIsolatorName]: { readonly name: N; readonly value: KnownIsolatorValues[N] };
}[KnownIsolatorName];

/** An isolator this version does not know, kept so that it survives a rewrite of the manifest. */
export interface UnknownIsolator {
  readonly name: string;
  readonly value: JsonValue;
}

export type Isolator = KnownIsolator | UnknownIsolator;

/** The Linux capabilities, in kernel order (`CAP_CHOWN` is 0). */
export const LINUX_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

const QUANTITY = /^(\d+(?:\.\d*)?|\.\d+)(m|k|K|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+)?$/;
const SUFFIX_FACTOR: Readonly<Record<string, number>> = {
  m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/**
 * A quantity in base units (bytes, cores, operations): `"500m"` is 0.5, `"1Gi"` 1073741824, `"1e3"` 1000.
 * Undefined for anything that is not a non-negative quantity.
 */
export function parseQuantity(q: Quantity): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) && q >= 0 ? q : undefined;
  const match = QUANTITY.exec(q);
  if (match === null) return undefined;
  const [, digits = '', suffix = ''] = match;
  const factor = suffix === '' ? 1 : (SUFFIX_FACTOR[suffix] ?? 10 ** Number(suffix.slice(1)));
  return Number(digits) * factor;
}

const readQuantity: Reader<Quantity> = (value, at) => {
  if (typeof value !== 'string' && typeof value !== 'number') return at.fail(`expected a quantity, got ${show(value)}`);
  return parseQuantity(value) === undefined
    ? at.fail(`${show(value)} is not a valid quantity (such as 500m, 100M or 1Gi)`)
    : value;
};

const readRequestLimit: Reader<ResourceRequestLimit> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const request = o.optional('request', readQuantity);
  const limit = o.optional('limit', readQuantity);
  if (request === undefined && limit === undefined) at.fail('expected a "request" or a "limit", found neither');
  return withoutUndefined({ request, limit });
};

const readDeviceLimit: Reader<ResourceDeviceLimit> = (value, at) => {
  const o = ObjectReader.of(value, at);
  if (o.raw('request') !== undefined) at.key('request').fail('this resource takes only a "limit"');
  const isDefault = o.required('default', readBoolean);
  if (!isDefault) at.key('default').fail('false is not supported (the limit must apply to all devices by default)');
  return { default: true, limit: o.required('limit', readQuantity) };
};

const readNonEmptySet = (readItem: Reader<string>): Reader<readonly string[]> => (value, at) => {
  const set = readList(readItem)(value, at);
  return set.length > 0 ? set : at.fail('an empty set is not allowed');
};

const readCapability: Reader<string> = (value, at) => {
  const name = readString(value, at);
  return LINUX_CAPABILITIES.includes(name) ? name : at.fail(`${show(name)} is not a Linux capability`);
};

const readCapabilitySet: Reader<CapabilitySet> = (value, at) => ({
  set: ObjectReader.of(value, at).required('set', readNonEmptySet(readCapability)),
});

const SYSCALL_OR_GROUP = /^(?:[a-z0-9_]+|@[a-z0-9._/-]+)$/;
const ERRNO = /^E[A-Z0-9]+$/;

const readSeccompSet: Reader<SeccompSet> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const set = o.required(
    'set',
    readNonEmptySet((item, itemAt) => {
      const s = readString(item, itemAt);
      return SYSCALL_OR_GROUP.test(s) ? s : itemAt.fail(`${show(s)} is not a syscall name or an @group`);
    }),
  );
  const errno = o.optional('errno', (v, errnoAt) => {
    const s = readString(v, errnoAt);
    return ERRNO.test(s) ? s : errnoAt.fail(`${show(s)} is not an errno name such as "EPERM"`);
  });
  return withoutUndefined({ set, errno });
};

const VALUE_READERS: { readonly [N in KnownIsolatorName]: Reader<KnownIsolatorValues[N]> } = {
  'resource/cpu': readRequestLimit,
  'resource/memory': readRequestLimit,
  'resource/block-bandwidth': readDeviceLimit,
  'resource/block-iops': readDeviceLimit,
  'resource/network-bandwidth': readDeviceLimit,
  'os/linux/capabilities-retain-set': readCapabilitySet,
  'os/linux/capabilities-remove-set': readCapabilitySet,
  'os/linux/no-new-privileges': readBoolean,
  'os/linux/seccomp-remove-set': readSeccompSet,
  'os/linux/seccomp-retain-set': readSeccompSet,
  'os/linux/oom-score-adj': readInteger(-1000, 1000),
  'os/linux/cpu-shares': readInteger(2, 262144),
};

/** The names of the isolators appc defines. */
export const KNOWN_ISOLATOR_NAMES = Object.keys(VALUE_READERS) as readonly KnownIsolatorName[];

/** True if `name` is one of the isolators appc defines. */
export function isKnownIsolatorName(name: string): name is KnownIsolatorName {
  return Object.hasOwn(VALUE_READERS, name);
}

/** True if `isolator` is one appc defines, so that its value has the type its name implies. */
export function isKnownIsolator(isolator: Isolator): isolator is KnownIsolator {
  return isKnownIsolatorName(isolator.name);
}

/** The value of the first isolator named `name` in a validated list, or undefined. */
export function findIsolator<N extends KnownIsolatorName>(
  isolators: readonly Isolator[],
  name: N,
): KnownIsolatorValues[N] | undefined {
  const found = isolators.find((i) => i.name === name);
  return found === undefined ? undefined : (found.value as KnownIsolatorValues[N]);
}

const readIsolator: Reader<Isolator> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', readAcIdentifier);
  if (!isKnownIsolatorName(name)) return { name, value: o.required('value', readJson) };
  // The reader table pairs each name with its value's reader, which TypeScript cannot follow through `name`.
  return { name, value: o.required('value', VALUE_READERS[name] as Reader<unknown>) } as KnownIsolator;
};

/** Pairs of isolators that contradict each other: appc lets a list have either, not both. */
const EXCLUSIVE: readonly (readonly [KnownIsolatorName, KnownIsolatorName])[] = [
  ['os/linux/capabilities-retain-set', 'os/linux/capabilities-remove-set'],
  ['os/linux/seccomp-retain-set', 'os/linux/seccomp-remove-set'],
];

/**
 * Reads an isolator list: names are AC Identifiers; isolators appc defines have valid values, appear at most once,
 * and the retain and remove sets of capabilities (or of seccomp) are not both given.
 */
export const readIsolators: Reader<readonly Isolator[]> = (value, at) => {
  const isolators = readList(readIsolator)(value, at);
  const nameAt = (i: number): Field => at.index(i).key('name');
  const firstIndex = new Map<string, number>();
  isolators.forEach((isolator, i) => {
    if (!isKnownIsolatorName(isolator.name)) return;
    if (firstIndex.has(isolator.name)) nameAt(i).fail(`duplicate isolator ${show(isolator.name)}`);
    firstIndex.set(isolator.name, i);
  });
  for (const [a, b] of EXCLUSIVE) {
    const ia = firstIndex.get(a);
    const ib = firstIndex.get(b);
    if (ia === undefined || ib === undefined) continue;
    const [earlier, later] = ia < ib ? [a, b] : [b, a];
    nameAt(Math.max(ia, ib)).fail(`${show(later)} cannot be combined with ${show(earlier)}`);
  }
  return isolators;
};

/** An isolator as canonical JSON: known values rebuilt with their keys in spec order, unknown ones as they were. */
export function isolatorToJson(isolator: Isolator): JsonValue {
  return { name: isolator.name, value: valueToJson(isolator) };
}

function valueToJson(isolator: Isolator): JsonValue {
  if (!isKnownIsolator(isolator)) return isolator.value;
  switch (isolator.name) {
    case 'resource/cpu':
    case 'resource/memory':
      return compactJson({ request: isolator.value.request, limit: isolator.value.limit });
    case 'resource/block-bandwidth':
    case 'resource/block-iops':
    case 'resource/network-bandwidth':
      return { default: isolator.value.default, limit: isolator.value.limit };
    case 'os/linux/capabilities-retain-set':
    case 'os/linux/capabilities-remove-set':
      return { set: isolator.value.set };
    case 'os/linux/seccomp-remove-set':
    case 'os/linux/seccomp-retain-set':
      return compactJson({ set: isolator.value.set, errno: isolator.value.errno });
    case 'os/linux/no-new-privileges':
    case 'os/linux/oom-score-adj':
    case 'os/linux/cpu-shares':
      return isolator.value;
  }
}

function compactJson(o: Readonly<Record<string, JsonValue | undefined>>): JsonValue {
  return withoutUndefined(o) as JsonValue;
}
