import test from 'ava';
import { cleanupPod, podReport, reportJson, reportLines } from '../../../src/systemd/machined.js';
import type { MachineInfo, SystemBus, UnitProperties } from '../../../src/systemd/dbus.js';

const U = '0b1e7f3c-1111-4222-8333-444455556666';
const machine: MachineInfo = { name: `rkt-${U}`, unit: `rkt-${U}.service`, leader: 4242, state: 'running' };
const unit: UnitProperties = { activeState: 'active', subState: 'running', memoryCurrent: 1048576, cpuUsageNSec: 5000, tasksCurrent: 3 };

test('a registered running pod: machine, unit, leader, resources', (t) => {
  const r = podReport(U, 'running', machine, unit);
  t.deepEqual(reportLines(r), [`machine=rkt-${U}`, `unit=rkt-${U}.service`, 'leader=4242', 'memory=1048576', 'cpu-ns=5000', 'tasks=3']);
  t.deepEqual(reportJson(r), { machine: `rkt-${U}`, unit: `rkt-${U}.service`, leader: 4242, resources: { memory: 1048576, cpu_ns: 5000, tasks: 3 } });
});

test('counters the unit does not report are left out', (t) => {
  const r = podReport(U, 'running', machine, { activeState: 'active', subState: 'running' });
  t.deepEqual(reportLines(r), [`machine=rkt-${U}`, `unit=rkt-${U}.service`, 'leader=4242']);
  t.deepEqual(reportJson(r)['resources'], {});
});

test('a running pod machined does not know is reported, not hidden', (t) => {
  const r = podReport(U, 'running', undefined, undefined);
  t.deepEqual(reportLines(r), ['machine=none (not registered)']);
  t.is(reportJson(r)['machine'], null);
});

test('an exited pod with no machine adds nothing', (t) => {
  t.deepEqual(reportLines(podReport(U, 'exited', undefined, undefined)), []);
});

test('a machine whose pod is not running is a warning', (t) => {
  const lines = reportLines(podReport(U, 'exited', machine, undefined));
  t.true(lines.includes(`machine=rkt-${U}`));
  t.true(lines.some((l) => l.startsWith('warning=') && l.includes('exited')));
});

function fakeBus(units: Record<string, UnitProperties>, machines: Set<string>, failStop = false) {
  const calls: string[] = [];
  const bus: SystemBus = {
    getMachine: async () => undefined,
    listMachines: async () => [],
    terminateMachine: async (n) => { calls.push(`terminate ${n}`); return machines.delete(n); },
    killMachine: async (n, who, sig) => { calls.push(`kill ${n} ${who} ${sig}`); return machines.has(n); },
    unitProperties: async (u) => units[u],
    stopUnit: async (u) => {
      calls.push(`stop ${u}`);
      if (failStop) throw new Error('access denied');
      const p = units[u];
      if (p !== undefined) units[u] = { ...p, activeState: 'inactive' };
      return true;
    },
    resetFailedUnit: async (u) => { calls.push(`reset ${u}`); delete units[u]; return true; },
    startTransientService: async () => '/job/1',
    close: () => undefined,
  };
  return { bus, calls };
}

test('gc cleanup: stops the leftover service, resets it, terminates the machine', async (t) => {
  const { bus, calls } = fakeBus({ [`rkt-${U}.service`]: { activeState: 'active', subState: 'running' } }, new Set([`rkt-${U}`]));
  const log: string[] = [];
  const cleaned = await cleanupPod(bus, U, (m) => log.push(m));
  t.deepEqual(calls, [`stop rkt-${U}.service`, `reset rkt-${U}.service`, `terminate rkt-${U}`]);
  t.deepEqual(cleaned, [`rkt-${U}.service`, `machine rkt-${U}`]);
});

test('gc cleanup: a failed scope is only reset; nothing left is a no-op', async (t) => {
  const scope = `machine-rkt\\x2d${U.replace(/-/g, '\\x2d')}.scope`;
  const { bus, calls } = fakeBus({ [scope]: { activeState: 'failed', subState: 'failed' } }, new Set());
  await cleanupPod(bus, U, () => undefined);
  t.deepEqual(calls, [`reset ${scope}`, `terminate rkt-${U}`]);
});

test('gc cleanup is best effort: a failure is logged "…, ignoring" and the rest goes on', async (t) => {
  const { bus, calls } = fakeBus({ [`rkt-${U}.service`]: { activeState: 'active', subState: 'running' } }, new Set([`rkt-${U}`]), true);
  const log: string[] = [];
  await cleanupPod(bus, U, (m) => log.push(m));
  t.true(log.some((m) => m.includes('access denied') && m.endsWith(', ignoring')));
  t.true(calls.includes(`terminate rkt-${U}`));
});
