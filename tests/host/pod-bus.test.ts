// The host's own systemd tools reach inside a running pod through the pod's socket-activated system bus:
// systemctl -M (list-units, status, restart), systemd-run -M --wait --pipe, machinectl shell, copy-to,
// copy-from and status. An idle pod runs no broker until the first tool connects.
import path from 'node:path';
import { hostPodsSkipReason, hostTests, repoRoot, startTestHost, type TestHost } from '../lib/testhost.js';

const skipReason = hostPodsSkipReason();

const DIR = '/var/tmp/rkt-host-bus';
const RKT = `node ${path.join(repoRoot, 'dist/bin/rkt.js')} --dir=${DIR} --insecure-options=image`;

const suite = hostTests(skipReason);

let host: TestHost | undefined;
let uuid = '';
const h = (): TestHost => {
  if (host === undefined) throw new Error('test host did not start');
  return host;
};
const sh = async (script: string) => h().sh(script);
const machine = () => `rkt-${uuid}`;
/** Whether the pod's dbus.service has a cgroup: systemd makes it when the service first starts. */
const brokerEverStarted = async () =>
  (await sh(`find /sys/fs/cgroup/systemd -type d -path '*rkt-${uuid}.service/payload/system.slice/dbus.service' | wc -l`)).stdout.trim() !== '0';

suite.before(async () => {
  host = await startTestHost();
  const f = await h().sh(`${RKT} fetch ${path.join(repoRoot, 'build/busybox.aci')}`);
  if (f.exitCode !== 0) throw new Error(`fetch in the test host failed: ${f.stderr}`);
  const run = await h().sh(`${RKT} run --detach example.com/busybox --exec /bin/sh -- -c 'echo bus-pod-up; sleep 86400'`);
  if (run.exitCode !== 0) throw new Error(`rkt run --detach failed: ${run.stderr}`);
  uuid = run.stdout.trim();
  const ready = await h().sh(`${RKT} status --wait-ready=60s ${uuid}`);
  if (ready.exitCode !== 0) throw new Error(`the pod did not start: ${ready.stdout}${ready.stderr}`);
});
suite.after(async () => {
  if (host !== undefined) await host.stop();
});

suite.test('an idle pod runs no broker; the first systemctl -M starts it and lists the pod\'s units', async (t) => {
  t.false(await brokerEverStarted(), 'no broker before any tool connected');
  t.is((await sh(`systemctl -M ${machine()} is-active dbus.socket`)).stdout.trim(), 'active');
  t.true(await brokerEverStarted(), 'the first connection started the broker');
  const units = await sh(`systemctl -M ${machine()} list-units --no-legend --plain --no-pager`);
  t.is(units.exitCode, 0, units.stderr);
  const byName = new Map(units.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)).map((f) => [f[0], f.slice(1, 4).join(' ')]));
  t.is(byName.get('busybox.service'), 'loaded active running', units.stdout);
  t.is(byName.get('reaper-busybox.service'), 'loaded active exited', units.stdout);
  t.is(byName.get('dbus.service'), 'loaded active running', units.stdout);
});

suite.test('systemctl -M status <app>.service shows the app unit stage0 wrote, running, with its main PID', async (t) => {
  const status = await sh(`systemctl -M ${machine()} status --no-pager busybox.service`);
  t.is(status.exitCode, 0, status.stderr);
  t.regex(status.stdout, /busybox\.service - Application=busybox Image=example\.com\/busybox/);
  t.regex(status.stdout, /Active: active \(running\)/);
  t.regex(status.stdout, /Main PID: \d+/);
  t.regex(status.stdout, /sleep 86400/);
});

suite.test('systemctl -M restart <app>.service restarts the app in place; the pod keeps running and records no status for it', async (t) => {
  const before = (await sh(`systemctl -M ${machine()} show -p MainPID --value busybox.service`)).stdout.trim();
  const restart = await sh(`systemctl -M ${machine()} restart busybox.service`);
  t.is(restart.exitCode, 0, restart.stderr);
  const after = await sh(`systemctl -M ${machine()} show -p MainPID -p ActiveState busybox.service`);
  t.regex(after.stdout, /^ActiveState=active$/m);
  const pid = /^MainPID=(\d+)$/m.exec(after.stdout)?.[1];
  t.truthy(pid, after.stdout);
  t.not(pid, before, 'a new main process');
  const status = await sh(`${RKT} status ${uuid}`);
  t.regex(status.stdout, /^state=running$/m);
  t.notRegex(status.stdout, /^app-busybox=/m, 'a restarted app has no exit status: it is running');
});

suite.test('systemd-run -M --wait --pipe runs a command in the pod\'s stage1 and passes its output and status', async (t) => {
  const run = await sh(`systemd-run -M ${machine()} --quiet --wait --pipe /bin/sh -c 'echo in-stage1 $(cat /proc/sys/kernel/hostname); ls /opt/stage2; exit 3'`);
  t.is(run.exitCode, 3, run.stderr);
  t.is(run.stdout, `in-stage1 ${machine()}\nbusybox\n`);
});

suite.test('machinectl shell runs a command in the pod as a login session', async (t) => {
  const shell = await sh(`machinectl --quiet shell ${machine()} /bin/sh -c 'echo shell-says-hi uid=$(id -u)' </dev/null`);
  t.is(shell.exitCode, 0, shell.stderr);
  t.is(shell.stdout.replace(/\r\n/g, '\n').trim(), 'shell-says-hi uid=0');
});

suite.test('machinectl copy-to and copy-from move files into and out of an app\'s rootfs', async (t) => {
  const to = await sh(`echo copied-in > /tmp/bus-payload && machinectl copy-to ${machine()} /tmp/bus-payload /opt/stage2/busybox/rootfs/tmp/bus-payload`);
  t.is(to.exitCode, 0, to.stderr);
  const seen = await sh(`${RKT} enter ${uuid} /bin/cat /tmp/bus-payload`);
  t.is(seen.stdout, 'copied-in\n', 'the app sees the file in its root');
  const made = await sh(`${RKT} enter ${uuid} /bin/sh -c 'echo from-app > /tmp/bus-out'`);
  t.is(made.exitCode, 0, made.stderr);
  const from = await sh(`machinectl copy-from ${machine()} /opt/stage2/busybox/rootfs/tmp/bus-out /tmp/bus-out && cat /tmp/bus-out`);
  t.is(from.exitCode, 0, from.stderr);
  t.is(from.stdout, 'from-app\n');
});

suite.test('machinectl status shows the pod with its unit and the app units inside it', async (t) => {
  const status = await sh(`machinectl status --no-pager ${machine()}`);
  t.is(status.exitCode, 0, status.stderr);
  t.regex(status.stdout, new RegExp(`Unit: rkt-${uuid}\\.service`));
  t.regex(status.stdout, /busybox\.service/);
  t.regex(status.stdout, /sleep 86400/);
  t.regex(status.stdout, /dbus\.service/);
});

suite.test('the pod still stops cleanly and records its app\'s status', async (t) => {
  const stop = await sh(`${RKT} stop ${uuid}`);
  t.is(stop.exitCode, 0, stop.stderr);
  const done = await sh(`${RKT} status --wait=30s ${uuid}`);
  t.regex(done.stdout, /^state=exited$/m);
  t.regex(done.stdout, /^app-busybox=143$/m);
});
