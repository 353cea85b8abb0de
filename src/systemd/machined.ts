/**
 * What systemd and machined know about rkt's pods: the machine `rkt-<uuid>`, its unit and leader, the unit's
 * resource counters, and leftovers (units, machines) of pods that are gone. The pod's lock stays the truth for
 * running/exited; this only adds what systemd knows, and says so when the two disagree.
 *
 * Import dynamically, only where systemd is PID 1 (detect.ts systemdBooted()).
 */
import { describe } from '../common/errors.js';
import { trace } from '../common/trace.js';
import type { MachineInfo, SystemBus, UnitProperties } from './dbus.js';
import { podMachineName, podScopeName, podServiceName, uuidOfMachine } from './units.js';

export interface PodResources {
  readonly memory?: number;
  readonly cpuNs?: number;
  readonly tasks?: number;
}

/** What systemd knows about one pod. */
export interface PodSystemdReport {
  /** The machine name when machined knows the pod. */
  readonly machine?: string;
  readonly unit?: string;
  readonly leader?: number;
  readonly resources: PodResources;
  /** Disagreements between the pod's lock and machined, and failures to ask. */
  readonly warnings: readonly string[];
  /** The pod runs (its lock says so) but machined does not know it. */
  readonly unregistered: boolean;
}

/** The report from the facts: the pod's state (from its lock), the machine and its unit's properties. Pure. */
export function podReport(uuid: string, state: string, machine: MachineInfo | undefined, unit: UnitProperties | undefined): PodSystemdReport {
  const warnings: string[] = [];
  const running = state === 'running';
  if (machine === undefined) {
    return { resources: {}, warnings, unregistered: running };
  }
  if (!running) warnings.push(`machine ${podMachineName(uuid)} is registered with machined but the pod is ${state}`);
  const resources: PodResources = {
    ...(unit?.memoryCurrent !== undefined ? { memory: unit.memoryCurrent } : {}),
    ...(unit?.cpuUsageNSec !== undefined ? { cpuNs: unit.cpuUsageNSec } : {}),
    ...(unit?.tasksCurrent !== undefined ? { tasks: unit.tasksCurrent } : {}),
  };
  return {
    machine: machine.name, ...(machine.unit !== '' ? { unit: machine.unit } : {}), ...(machine.leader > 0 ? { leader: machine.leader } : {}),
    resources, warnings, unregistered: false,
  };
}

/** `rkt status`'s extra lines for a pod under systemd. Pure. */
export function reportLines(r: PodSystemdReport): string[] {
  const lines: string[] = [];
  if (r.machine !== undefined) {
    lines.push(`machine=${r.machine}`);
    if (r.unit !== undefined) lines.push(`unit=${r.unit}`);
    if (r.leader !== undefined) lines.push(`leader=${r.leader}`);
    if (r.resources.memory !== undefined) lines.push(`memory=${r.resources.memory}`);
    if (r.resources.cpuNs !== undefined) lines.push(`cpu-ns=${r.resources.cpuNs}`);
    if (r.resources.tasks !== undefined) lines.push(`tasks=${r.resources.tasks}`);
  } else if (r.unregistered) {
    lines.push('machine=none (not registered)');
  }
  for (const w of r.warnings) lines.push(`warning=${w}`);
  return lines;
}

/** `rkt status --format=json`'s extra keys. Pure. */
export function reportJson(r: PodSystemdReport): Record<string, unknown> {
  return {
    machine: r.machine ?? null,
    ...(r.unit !== undefined ? { unit: r.unit } : {}),
    ...(r.leader !== undefined ? { leader: r.leader } : {}),
    resources: {
      ...(r.resources.memory !== undefined ? { memory: r.resources.memory } : {}),
      ...(r.resources.cpuNs !== undefined ? { cpu_ns: r.resources.cpuNs } : {}),
      ...(r.resources.tasks !== undefined ? { tasks: r.resources.tasks } : {}),
    },
    ...(r.warnings.length > 0 ? { warnings: [...r.warnings] } : {}),
  };
}

async function withBus<T>(f: (bus: SystemBus) => Promise<T>): Promise<T> {
  const { connectSystemBus } = await import('./dbus.js');
  const bus = await connectSystemBus();
  try {
    return await f(bus);
  } finally {
    bus.close();
  }
}

/** Ask machined and systemd about one pod. A failure to ask becomes a warning, never hides the pod. */
export async function queryPod(uuid: string, state: string): Promise<PodSystemdReport> {
  try {
    return await withBus(async (bus) => {
      const machine = await bus.getMachine(podMachineName(uuid));
      const unit = machine !== undefined && machine.unit !== '' ? await bus.unitProperties(machine.unit) : undefined;
      return podReport(uuid, state, machine, unit);
    });
  } catch (err) {
    return { resources: {}, warnings: [`cannot ask machined about ${podMachineName(uuid)}: ${describe(err)}`], unregistered: false };
  }
}

/** systemd's "power off" request (SIGRTMIN+4 with glibc's SIGRTMIN, 34, which systemd uses). */
export const SIGNAL_POWEROFF = 34 + 4;

/**
 * Stop a pod through machined, if machined knows it and its leader is the pod's PID 1 we recorded: graceful
 * is the poweroff request to the leader (the pod's systemd stops the apps in order), `force` SIGKILL to the
 * leader (the kernel then kills the whole PID namespace). Not TerminateMachine: that stops the machine's
 * unit, which for a pod run by a service is the caller's own service, rkt run included (and with
 * KillMode=mixed it would turn a forced stop into a graceful one). False when machined does not know the pod
 * (then the stage1 stop entrypoint signals it).
 */
export async function signalPodMachine(uuid: string, leader: number | undefined, force: boolean): Promise<boolean> {
  return withBus(async (bus) => {
    const name = podMachineName(uuid);
    const m = await bus.getMachine(name);
    if (m === undefined || (leader !== undefined && m.leader !== leader)) return false;
    return bus.killMachine(name, 'leader', force ? 9 : SIGNAL_POWEROFF);
  });
}

/** The rkt machines machined knows, by pod UUID, with their units. */
export async function rktMachines(): Promise<Map<string, MachineInfo>> {
  return withBus(async (bus) => {
    const out = new Map<string, MachineInfo>();
    for (const m of await bus.listMachines()) {
      const uuid = uuidOfMachine(m.name);
      if (uuid === undefined) continue;
      const info = await bus.getMachine(m.name);
      if (info !== undefined) out.set(uuid, info);
    }
    return out;
  });
}

/**
 * Remove what systemd may still hold of a collected pod: its detached service `rkt-<uuid>.service`, its
 * scope `machine-rkt\x2d<uuid>.scope`, its machine `rkt-<uuid>`. Best effort: each failure is logged
 * ("…, ignoring") and the rest goes on. Returns what was cleaned.
 */
export async function cleanupPod(bus: SystemBus, uuid: string, log: (m: string) => void): Promise<string[]> {
  const cleaned: string[] = [];
  const step = async (what: string, f: () => Promise<boolean>) => {
    try {
      if (await f()) cleaned.push(what);
    } catch (err) {
      log(`cannot clean up ${what} of pod ${uuid}: ${describe(err)}, ignoring`);
    }
  };
  for (const unit of [podServiceName(uuid), podScopeName(uuid)]) {
    await step(unit, async () => {
      const props = await bus.unitProperties(unit);
      if (props === undefined) return false;
      if (props.activeState !== 'inactive' && props.activeState !== 'failed') await bus.stopUnit(unit);
      await waitInactive(bus, unit);
      // A failed unit stays loaded until its failure is reset; then systemd unloads the transient unit.
      await bus.resetFailedUnit(unit);
      return true;
    });
  }
  await step(`machine ${podMachineName(uuid)}`, () => bus.terminateMachine(podMachineName(uuid)));
  for (const c of cleaned) log(`cleaned up ${c} of pod ${uuid}`);
  return cleaned;
}

async function waitInactive(bus: SystemBus, unit: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await bus.unitProperties(unit);
    if (p === undefined || p.activeState === 'inactive' || p.activeState === 'failed') return;
    if (Date.now() > deadline) throw new Error(`${unit} is still ${p.activeState} after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A lazily opened bus for gc: connects on first use, closed by close(). */
export function lazyBus(): { get(): Promise<SystemBus>; close(): void } {
  let bus: Promise<SystemBus> | undefined;
  return {
    get: () => (bus ??= import('./dbus.js').then((m) => m.connectSystemBus())),
    // A connection that failed was reported to the get() that made it: nothing to close.
    close: () => { void bus?.then((b) => b.close(), (err: unknown) => trace(`system bus: ${describe(err)}, nothing to close`)); },
  };
}
