/**
 * The only D-Bus code of rkt: a connection to the system bus and typed wrappers for the few calls of systemd
 * (org.freedesktop.systemd1) and machined (org.freedesktop.machine1) rkt makes. dbus-next types every method
 * `any`; nothing untyped leaves this module. Messages are built directly (no introspection round trip).
 *
 * Import this module dynamically, and only when systemd is PID 1: it loads dbus-next.
 */
import { describe, RktError } from '../common/errors.js';
import { systemdBooted } from './detect.js';

/** A value with its D-Bus signature, before it becomes a dbus-next Variant. */
export interface TypedValue {
  readonly signature: string;
  readonly value: unknown;
}

export interface MachineInfo {
  readonly name: string;
  /** The unit the machine lives in (a service for a pod run in a unit, a scope for one run from a shell). */
  readonly unit: string;
  /** The machine's leader (the pod's PID 1, systemd-nspawn's child) as seen from the host. */
  readonly leader: number;
  /** opening, running or closing. */
  readonly state: string;
}

export interface MachineListEntry {
  readonly name: string;
  readonly class: string;
  readonly service: string;
}

export interface UnitProperties {
  readonly activeState: string;
  readonly subState: string;
  /** A service's main process exit status (services only). */
  readonly execMainStatus?: number;
  /** Bytes; absent when memory accounting is off or the unit is not running. */
  readonly memoryCurrent?: number;
  readonly cpuUsageNSec?: number;
  readonly tasksCurrent?: number;
}

/** Properties of a transient service rkt starts. */
export interface TransientServiceProps {
  readonly description?: string;
  readonly killMode?: 'control-group' | 'mixed' | 'process' | 'none';
  readonly slice?: string;
  readonly delegate?: boolean;
  /** Exit statuses counted as success besides 0 (SuccessExitStatus=). */
  readonly successExitStatus?: readonly number[];
  /** simple, exec, … (default exec: the start job fails when the program cannot be executed). */
  readonly type?: string;
  readonly environment?: readonly string[];
  readonly workingDirectory?: string;
}

/** The "unset" value of systemd's uint64 counters (MemoryCurrent, CPUUsageNSec, TasksCurrent …). */
export const UINT64_MAX = (1n << 64n) - 1n;

/** A uint64 from the bus (BigInt, or a number for small values) as a number; undefined for the "unset" value. Pure. */
export function u64(v: unknown): number | undefined {
  if (typeof v === 'bigint') return v === UINT64_MAX || v < 0n ? undefined : Number(v);
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v >= 2 ** 64 - 1 ? undefined : v;
  return undefined;
}

/** Unwrap a dbus-next Variant (anything with a `value`) or pass a plain value through. Pure. */
export function unwrap(v: unknown): unknown {
  return v !== null && typeof v === 'object' && 'signature' in v && 'value' in v ? (v as { value: unknown }).value : v;
}

function str(v: unknown): string {
  const x = unwrap(v);
  return typeof x === 'string' ? x : '';
}

/** The properties of a unit from its GetAll answers (the Unit interface, then the Service or Scope one). Pure. */
export function unitPropertiesFrom(unit: Readonly<Record<string, unknown>>, typed: Readonly<Record<string, unknown>>): UnitProperties {
  const status = unwrap(typed['ExecMainStatus']);
  const memory = u64(unwrap(typed['MemoryCurrent']));
  const cpu = u64(unwrap(typed['CPUUsageNSec']));
  const tasks = u64(unwrap(typed['TasksCurrent']));
  return {
    activeState: str(unit['ActiveState']),
    subState: str(unit['SubState']),
    ...(typeof status === 'number' ? { execMainStatus: status } : {}),
    ...(memory !== undefined ? { memoryCurrent: memory } : {}),
    ...(cpu !== undefined ? { cpuUsageNSec: cpu } : {}),
    ...(tasks !== undefined ? { tasksCurrent: tasks } : {}),
  };
}

/** A machine from machined's GetAll answer. Pure. */
export function machineFrom(name: string, props: Readonly<Record<string, unknown>>): MachineInfo {
  const leader = unwrap(props['Leader']);
  return { name: str(props['Name']) || name, unit: str(props['Unit']), leader: typeof leader === 'number' ? leader : Number(leader ?? 0), state: str(props['State']) };
}

/** ListMachines' a(ssso) rows. Pure. */
export function machineListFrom(rows: unknown): MachineListEntry[] {
  if (!Array.isArray(rows)) return [];
  return rows.filter(Array.isArray).map((r: unknown[]) => ({ name: String(r[0] ?? ''), class: String(r[1] ?? ''), service: String(r[2] ?? '') }));
}

/** StartTransientUnit's a(sv) properties for a service running argv. Pure. */
export function transientServiceProperties(argv: readonly string[], p: TransientServiceProps): [string, TypedValue][] {
  const [program] = argv;
  if (program === undefined) throw new Error('transient service: empty argv');
  const props: [string, TypedValue][] = [];
  if (p.description !== undefined) props.push(['Description', { signature: 's', value: p.description }]);
  props.push(['Type', { signature: 's', value: p.type ?? 'exec' }]);
  if (p.killMode !== undefined) props.push(['KillMode', { signature: 's', value: p.killMode }]);
  if (p.slice !== undefined) props.push(['Slice', { signature: 's', value: p.slice }]);
  if (p.delegate !== undefined) props.push(['Delegate', { signature: 'b', value: p.delegate }]);
  if (p.successExitStatus !== undefined && p.successExitStatus.length > 0) {
    // (aiai): exit statuses, then signals.
    props.push(['SuccessExitStatus', { signature: '(aiai)', value: [[...p.successExitStatus], []] }]);
  }
  if (p.environment !== undefined && p.environment.length > 0) props.push(['Environment', { signature: 'as', value: [...p.environment] }]);
  if (p.workingDirectory !== undefined) props.push(['WorkingDirectory', { signature: 's', value: p.workingDirectory }]);
  // a(sasb): path, argv (with argv[0]), ignore failure.
  props.push(['ExecStart', { signature: 'a(sasb)', value: [[program, [...argv], false]] }]);
  return props;
}

/** The D-Bus error name of a failed call (`org.freedesktop.machine1.NoSuchMachine` …), if it is one. */
export function dbusErrorName(err: unknown): string | undefined {
  const t = err !== null && typeof err === 'object' ? (err as { type?: unknown }).type : undefined;
  return typeof t === 'string' ? t : undefined;
}

const SYSTEMD = { destination: 'org.freedesktop.systemd1', path: '/org/freedesktop/systemd1', iface: 'org.freedesktop.systemd1.Manager' } as const;
const MACHINED = { destination: 'org.freedesktop.machine1', path: '/org/freedesktop/machine1', iface: 'org.freedesktop.machine1.Manager' } as const;
const PROPS = 'org.freedesktop.DBus.Properties';
const CALL_TIMEOUT_MS = 15_000;

/** The system bus as rkt uses it. Close it when done: an open connection keeps the process alive. */
export interface SystemBus {
  getMachine(name: string): Promise<MachineInfo | undefined>;
  listMachines(): Promise<MachineListEntry[]>;
  /** False if there was no such machine. */
  terminateMachine(name: string): Promise<boolean>;
  /** Send `signal` to the machine's leader (`who` = `leader`) or all its processes. False if there was no such machine. */
  killMachine(name: string, who: 'leader' | 'all', signal: number): Promise<boolean>;
  /** Undefined when systemd has no such unit loaded. */
  unitProperties(unit: string): Promise<UnitProperties | undefined>;
  /** False if there was no such unit. */
  stopUnit(unit: string): Promise<boolean>;
  /** Forget a failed unit's failure, so that systemd unloads it (systemctl reset-failed). False if there was no such unit. */
  resetFailedUnit(unit: string): Promise<boolean>;
  /** Starts a transient service; resolves with the job's object path once the job is queued. */
  startTransientService(name: string, argv: readonly string[], props: TransientServiceProps): Promise<string>;
  close(): void;
}

/** Connect to the system bus. Throws RktError ENOSYSTEMD where systemd is not PID 1, EDBUS when the bus cannot be reached. */
export async function connectSystemBus(): Promise<SystemBus> {
  if (!(await systemdBooted())) throw new RktError('ENOSYSTEMD', 'systemd is not PID 1 here (no /run/systemd/system): there is no systemd to ask');
  // Loaded only here, so only the commands that talk to systemd pay for it; the bundle leaves it external
  // (hack/bundle.mjs: it requires optional modules such as x11 that a bundler cannot resolve).
  const mod = (await import('dbus-next')) as { default?: typeof import('dbus-next') } & typeof import('dbus-next');
  const dbus = mod.default ?? mod;
  let bus: import('dbus-next').MessageBus;
  try {
    bus = dbus.systemBus();
  } catch (err) {
    throw new RktError('EDBUS', `cannot connect to the system bus: ${describe(err)}`, { cause: err });
  }
  let broken: Error | undefined;
  bus.on('error', (err: unknown) => { broken = err instanceof Error ? err : new Error(String(err)); });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RktError('EDBUS', 'cannot connect to the system bus: no answer within 15s')), CALL_TIMEOUT_MS);
    bus.once('connect', () => { clearTimeout(timer); resolve(); });
    bus.once('error', (err: unknown) => { clearTimeout(timer); reject(new RktError('EDBUS', `cannot connect to the system bus: ${describe(err)}`, { cause: err })); });
  }).catch((err: unknown) => {
    bus.disconnect();
    throw err;
  });

  const call = async (to: { destination: string; path: string }, iface: string, member: string, signature: string, body: unknown[]): Promise<unknown[]> => {
    if (broken !== undefined) throw new RktError('EDBUS', `the system bus connection failed: ${broken.message}`, { cause: broken });
    const msg = new dbus.Message({ destination: to.destination, path: to.path, interface: iface, member, ...(signature !== '' ? { signature, body } : {}) });
    let timer: NodeJS.Timeout | undefined;
    try {
      const reply = await Promise.race([
        bus.call(msg),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new RktError('EDBUS', `${iface}.${member}: no answer within 15s`)), CALL_TIMEOUT_MS); }),
      ]);
      const out: unknown = reply?.body;
      return Array.isArray(out) ? out : [];
    } finally {
      clearTimeout(timer);
    }
  };
  const getAll = async (destination: string, path: string, iface: string): Promise<Record<string, unknown>> => {
    const [props] = await call({ destination, path }, PROPS, 'GetAll', 's', [iface]);
    return props !== null && typeof props === 'object' ? (props as Record<string, unknown>) : {};
  };
  const missing = (err: unknown, ...names: string[]) => names.includes(dbusErrorName(err) ?? '');
  const fail = (what: string, err: unknown): never => {
    if (err instanceof RktError) throw err;
    throw new RktError('EDBUS', `${what}: ${describe(err)}`, { cause: err });
  };

  return {
    async getMachine(name) {
      let path: unknown;
      try {
        [path] = await call(MACHINED, MACHINED.iface, 'GetMachine', 's', [name]);
      } catch (err) {
        if (missing(err, 'org.freedesktop.machine1.NoSuchMachine')) return undefined;
        return fail(`machined GetMachine ${name}`, err);
      }
      try {
        return machineFrom(name, await getAll(MACHINED.destination, String(path), 'org.freedesktop.machine1.Machine'));
      } catch (err) {
        // The machine went away between the two calls.
        if (missing(err, 'org.freedesktop.DBus.Error.UnknownObject', 'org.freedesktop.DBus.Error.UnknownMethod')) return undefined;
        return fail(`machined properties of ${name}`, err);
      }
    },
    async listMachines() {
      try {
        const [rows] = await call(MACHINED, MACHINED.iface, 'ListMachines', '', []);
        return machineListFrom(rows);
      } catch (err) {
        return fail('machined ListMachines', err);
      }
    },
    async terminateMachine(name) {
      try {
        await call(MACHINED, MACHINED.iface, 'TerminateMachine', 's', [name]);
        return true;
      } catch (err) {
        if (missing(err, 'org.freedesktop.machine1.NoSuchMachine')) return false;
        return fail(`machined TerminateMachine ${name}`, err);
      }
    },
    async killMachine(name, who, signal) {
      try {
        await call(MACHINED, MACHINED.iface, 'KillMachine', 'ssi', [name, who, signal]);
        return true;
      } catch (err) {
        if (missing(err, 'org.freedesktop.machine1.NoSuchMachine')) return false;
        return fail(`machined KillMachine ${name}`, err);
      }
    },
    async unitProperties(unit) {
      let path: unknown;
      try {
        [path] = await call(SYSTEMD, SYSTEMD.iface, 'GetUnit', 's', [unit]);
      } catch (err) {
        if (missing(err, 'org.freedesktop.systemd1.NoSuchUnit')) return undefined;
        return fail(`systemd GetUnit ${unit}`, err);
      }
      try {
        const base = await getAll(SYSTEMD.destination, String(path), 'org.freedesktop.systemd1.Unit');
        const kind = unit.endsWith('.service') ? 'Service' : unit.endsWith('.scope') ? 'Scope' : undefined;
        const typed = kind === undefined ? {} : await getAll(SYSTEMD.destination, String(path), `org.freedesktop.systemd1.${kind}`);
        return unitPropertiesFrom(base, typed);
      } catch (err) {
        if (missing(err, 'org.freedesktop.DBus.Error.UnknownObject')) return undefined;
        return fail(`systemd properties of ${unit}`, err);
      }
    },
    async stopUnit(unit) {
      try {
        await call(SYSTEMD, SYSTEMD.iface, 'StopUnit', 'ss', [unit, 'replace']);
        return true;
      } catch (err) {
        if (missing(err, 'org.freedesktop.systemd1.NoSuchUnit')) return false;
        return fail(`systemd StopUnit ${unit}`, err);
      }
    },
    async resetFailedUnit(unit) {
      try {
        await call(SYSTEMD, SYSTEMD.iface, 'ResetFailedUnit', 's', [unit]);
        return true;
      } catch (err) {
        if (missing(err, 'org.freedesktop.systemd1.NoSuchUnit')) return false;
        return fail(`systemd ResetFailedUnit ${unit}`, err);
      }
    },
    async startTransientService(name, argv, props) {
      const properties = transientServiceProperties(argv, props).map(([k, v]) => [k, new dbus.Variant(v.signature, v.value)]);
      try {
        const [job] = await call(SYSTEMD, SYSTEMD.iface, 'StartTransientUnit', 'ssa(sv)a(sa(sv))', [name, 'fail', properties, []]);
        return String(job);
      } catch (err) {
        return fail(`systemd StartTransientUnit ${name}`, err);
      }
    },
    close() {
      bus.disconnect();
    },
  };
}
