import test from 'ava';
import { decideContext, unitFromCgroup } from '../../../src/systemd/detect.js';

const v2service = '0::/system.slice/T.service\n';
const v1service = '12:pids:/system.slice/T.service\n1:name=systemd:/system.slice/T.service\n0::/system.slice/T.service\n';
const session = '0::/user.slice/user-0.slice/session-3.scope\n';

test('the unit comes from the cgroup path', (t) => {
  t.is(unitFromCgroup(v2service), 'T.service');
  t.is(unitFromCgroup(v1service), 'T.service');
  t.is(unitFromCgroup(session), 'session-3.scope');
  t.is(unitFromCgroup('0::/\n'), undefined);
  t.is(unitFromCgroup('1:name=systemd:/system.slice/x.service/payload\n'), 'x.service');
});

test('no systemd as PID 1 → none, whatever else', (t) => {
  t.deepEqual(decideContext(false, v2service, { INVOCATION_ID: 'x' }), { kind: 'none' });
});

test('the main process of a service → service', (t) => {
  t.deepEqual(decideContext(true, v2service, { INVOCATION_ID: 'abc' }), { kind: 'service', unit: 'T.service' });
});

test('a shell in a session scope, or a service cgroup without INVOCATION_ID → shell', (t) => {
  t.deepEqual(decideContext(true, session, { INVOCATION_ID: 'abc' }), { kind: 'shell' });
  t.deepEqual(decideContext(true, v2service, {}), { kind: 'shell' });
});
