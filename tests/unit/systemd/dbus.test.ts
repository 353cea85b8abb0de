import test from 'ava';
import { dbusErrorName, machineFrom, machineListFrom, transientServiceProperties, u64, UINT64_MAX, unitPropertiesFrom, unwrap } from '../../../src/systemd/dbus.js';

// dbus-next's Variant, as far as the conversions care: a signature and a value.
const v = (signature: string, value: unknown) => ({ signature, value });

test('u64: BigInt and number counters; 2^64-1 means unset', (t) => {
  t.is(u64(1234n), 1234);
  t.is(u64(0n), 0);
  t.is(u64(UINT64_MAX), undefined);
  t.is(u64(18446744073709551615n), undefined);
  t.is(u64(42), 42);
  t.is(u64(2 ** 64), undefined);
  t.is(u64('12'), undefined);
  t.is(u64(undefined), undefined);
});

test('unwrap takes the value out of a Variant and passes plain values', (t) => {
  t.is(unwrap(v('s', 'x')), 'x');
  t.is(unwrap('y'), 'y');
  t.is(unwrap(null), null);
});

test('unit properties: counters set, unset and missing', (t) => {
  const unit = { ActiveState: v('s', 'active'), SubState: v('s', 'running') };
  t.deepEqual(unitPropertiesFrom(unit, {
    ExecMainStatus: v('i', 0), MemoryCurrent: v('t', 3145728n), CPUUsageNSec: v('t', 123456789n), TasksCurrent: v('t', 7n),
  }), { activeState: 'active', subState: 'running', execMainStatus: 0, memoryCurrent: 3145728, cpuUsageNSec: 123456789, tasksCurrent: 7 });
  t.deepEqual(unitPropertiesFrom(unit, { MemoryCurrent: v('t', UINT64_MAX), CPUUsageNSec: v('t', UINT64_MAX), TasksCurrent: v('t', UINT64_MAX) }),
    { activeState: 'active', subState: 'running' }, 'accounting off: no counters');
  t.deepEqual(unitPropertiesFrom({}, {}), { activeState: '', subState: '' });
});

test('machine properties and the ListMachines rows', (t) => {
  t.deepEqual(machineFrom('rkt-x', { Name: v('s', 'rkt-x'), Unit: v('s', 'rkt-x.service'), Leader: v('u', 4242), State: v('s', 'running') }),
    { name: 'rkt-x', unit: 'rkt-x.service', leader: 4242, state: 'running' });
  t.deepEqual(machineFrom('m', {}), { name: 'm', unit: '', leader: 0, state: '' });
  t.deepEqual(machineListFrom([['rkt-a', 'container', 'nspawn', '/org/freedesktop/machine1/machine/rkt_2da'], 'junk']),
    [{ name: 'rkt-a', class: 'container', service: 'nspawn' }]);
  t.deepEqual(machineListFrom(undefined), []);
});

test('transient service properties carry the D-Bus signatures systemd expects', (t) => {
  const props = Object.fromEntries(transientServiceProperties(['/usr/bin/node', '/rkt.js', 'run-prepared', 'U'], {
    description: 'd', killMode: 'mixed', slice: 'machine.slice', delegate: true, successExitStatus: [143],
  }));
  t.deepEqual(props['ExecStart'], { signature: 'a(sasb)', value: [['/usr/bin/node', ['/usr/bin/node', '/rkt.js', 'run-prepared', 'U'], false]] });
  t.deepEqual(props['KillMode'], { signature: 's', value: 'mixed' });
  t.deepEqual(props['Slice'], { signature: 's', value: 'machine.slice' });
  t.deepEqual(props['Delegate'], { signature: 'b', value: true });
  t.deepEqual(props['SuccessExitStatus'], { signature: '(aiai)', value: [[143], []] });
  t.deepEqual(props['Type'], { signature: 's', value: 'exec' });
  t.throws(() => transientServiceProperties([], {}));
});

test('D-Bus error names', (t) => {
  t.is(dbusErrorName(Object.assign(new Error('x'), { type: 'org.freedesktop.machine1.NoSuchMachine' })), 'org.freedesktop.machine1.NoSuchMachine');
  t.is(dbusErrorName(new Error('x')), undefined);
  t.is(dbusErrorName(undefined), undefined);
});
