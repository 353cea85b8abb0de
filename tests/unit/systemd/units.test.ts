import test from 'ava';
import { escapeUnitElement, podMachineName, podScopeName, podServiceName, uuidOfMachine } from '../../../src/systemd/units.js';
import { detachedService } from '../../../src/stage0/detach.js';
import { parseRunArgs } from '../../../src/cli/run-args.js';
import { parseFields } from '../../../src/cli/list.js';

const U = '0b1e7f3c-1111-4222-8333-444455556666';

test('unit and machine names of a pod', (t) => {
  t.is(podMachineName(U), `rkt-${U}`);
  t.is(podServiceName(U), `rkt-${U}.service`);
  t.is(podScopeName(U), `machine-rkt\\x2d0b1e7f3c\\x2d1111\\x2d4222\\x2d8333\\x2d444455556666.scope`);
  t.is(escapeUnitElement('a/b.c'), 'a-b.c');
  t.is(escapeUnitElement('.x'), '\\x2ex');
  t.is(uuidOfMachine(`rkt-${U}`), U);
  t.is(uuidOfMachine('rkt-foo'), undefined);
  t.is(uuidOfMachine('debian'), undefined);
});

test('rkt run --detach: the service rkt-<uuid>.service runs rkt run-prepared', (t) => {
  const s = detachedService(U, '/usr/bin/node', '/opt/rkt/dist/bin/rkt.js', { dir: '/var/lib/rkt', debug: true, systemConfig: '/usr/lib/rkt', localConfig: '/etc/rkt' });
  t.is(s.name, `rkt-${U}.service`);
  t.deepEqual(s.argv, ['/usr/bin/node', '/opt/rkt/dist/bin/rkt.js', '--dir=/var/lib/rkt', '--system-config=/usr/lib/rkt', '--local-config=/etc/rkt', '--debug', 'run-prepared', U]);
  t.is(s.props.killMode, 'mixed');
  t.is(s.props.slice, 'machine.slice');
  t.true(s.props.delegate);
  t.deepEqual(s.props.successExitStatus, [143]);
  t.is(detachedService(U, 'n', 'r', { dir: '/d', debug: false }, 'my.slice').props.slice, 'my.slice');
});

test('--detach is a boolean pod flag', (t) => {
  t.is(parseRunArgs(['--detach', 'example.com/busybox']).pod['detach'], true);
  t.is(parseRunArgs(['--detach=false', 'example.com/busybox']).pod['detach'], false);
});

test('list --fields', (t) => {
  t.deepEqual(parseFields('uuid,app,image,state,created,started'), ['uuid', 'app', 'image', 'state', 'created', 'started']);
  t.deepEqual(parseFields('uuid, unit,machine'), ['uuid', 'unit', 'machine']);
  t.throws(() => parseFields('uuid,bogus'), { message: /unknown field "bogus"/ });
  t.throws(() => parseFields(''), { message: /empty/ });
});

test('--detach where systemd is not PID 1: a clear error, exit 254', async (t) => {
  const { systemdBooted } = await import('../../../src/systemd/detect.js');
  if (await systemdBooted()) {
    t.pass('systemd is PID 1 here: covered by tests/host/machined.test.ts');
    return;
  }
  const { checkDetachPossible } = await import('../../../src/stage0/detach.js');
  const err = await t.throwsAsync(checkDetachPossible(), { message: /--detach needs systemd as PID 1/ });
  t.is((err as unknown as { exitCode: number }).exitCode, 254);
});
