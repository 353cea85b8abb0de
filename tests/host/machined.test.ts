// rkt and machined under a real systemd: status and list show what machined knows (machine, unit, leader,
// resources), `rkt run --detach` runs a pod as rkt-<uuid>.service, and gc removes what systemd still holds
// of a pod whose nspawn was killed.
import { podHostSuite, until } from '../lib/testhost.js';

const DIR = '/var/tmp/rkt-host-machined';
const { suite, rkt: RKT, sh } = podHostSuite(DIR);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const machines = async () => (await sh(`machinectl list --no-legend | awk '{print $1}'`)).stdout.trim().split('\n').filter((m) => m.startsWith('rkt-'));
const loadState = async (unit: string) => (await sh(`systemctl show '${unit}' -p LoadState --value`)).stdout.trim();

suite.test('status and list show the machine, its unit and leader for a pod run under systemd-run', async (t) => {
  const start = await sh(`systemd-run --unit=rkt-m1 -p KillMode=mixed --service-type=exec ${RKT} run example.com/busybox --exec /bin/sh -- -c 'sleep 86400'`);
  t.is(start.exitCode, 0, start.stderr);
  let machine = '';
  await until('the pod is registered with machined', 60_000, async () => {
    machine = (await machines())[0] ?? '';
    return machine !== '';
  });
  const uuid = machine.replace(/^rkt-/, '');
  await until('the pod has started', 60_000, async () => /^pid=/m.test((await sh(`${RKT} status ${uuid}`)).stdout));
  const leader = (await sh(`machinectl show ${machine} -p Leader --value`)).stdout.trim();
  const status = await sh(`${RKT} status ${uuid}`);
  t.is(status.exitCode, 0, status.stderr);
  t.regex(status.stdout, /^state=running$/m);
  t.regex(status.stdout, new RegExp(`^machine=${machine}$`, 'm'));
  t.regex(status.stdout, /^unit=rkt-m1\.service$/m);
  t.regex(status.stdout, new RegExp(`^leader=${leader}$`, 'm'));
  // The counters appear exactly when systemd reports them (2^64-1, "[not set]", means accounting is off).
  const tasks = (await sh('systemctl show rkt-m1.service -p TasksCurrent --value')).stdout.trim();
  if (/^\d+$/.test(tasks)) t.regex(status.stdout, /^tasks=\d+$/m);
  else t.notRegex(status.stdout, /^tasks=/m, `TasksCurrent is ${tasks}`);
  t.notRegex(status.stdout, /^warning=/m);
  const json = JSON.parse((await sh(`${RKT} status --format=json ${uuid}`)).stdout) as Record<string, unknown>;
  t.is(json['machine'], machine);
  t.is(json['unit'], 'rkt-m1.service');
  t.is(json['leader'], Number(leader));
  t.is(typeof json['resources'], 'object');

  const list = await sh(`${RKT} list --full --no-legend --fields=uuid,state,unit,machine`);
  t.is(list.exitCode, 0, list.stderr);
  t.true(list.stdout.split('\n').some((l) => l.split(/\s+/).join(' ') === `${uuid} running rkt-m1.service ${machine}`), list.stdout);
  const plain = await sh(`${RKT} list`);
  t.regex(plain.stdout, /^UUID\s+APP\s+IMAGE NAME\s+STATE\s+CREATED\s+STARTED$/m, 'the default columns are as without systemd');

  t.is((await sh('systemctl stop rkt-m1')).exitCode, 0);
  const after = await sh(`${RKT} status ${uuid}`);
  t.regex(after.stdout, /^state=exited$/m);
  t.notRegex(after.stdout, /^machine=/m, 'an exited pod with no machine adds no machine line');
});

suite.test('rkt run --detach returns while the pod runs, with the UUID; the pod runs as rkt-<uuid>.service; rkt stop ends it', async (t) => {
  // The app would sleep a day: rkt run returning while the pod is running (below) is what "detached" means.
  const run = await sh(`${RKT} run --detach example.com/busybox --exec /bin/sh -- -c 'echo detached-hello; sleep 86400'`);
  t.is(run.exitCode, 0, run.stderr);
  const uuid = run.stdout.trim();
  t.regex(uuid, UUID_RE, 'stdout is the UUID, only that');
  const ready = await sh(`${RKT} status --wait-ready=30s ${uuid}`);
  t.is(ready.exitCode, 0, ready.stderr);
  t.regex(ready.stdout, /^state=running$/m);
  t.regex(ready.stdout, new RegExp(`^unit=rkt-${uuid}\\.service$`, 'm'));
  t.is((await sh(`systemctl show rkt-${uuid}.service -p Slice --value`)).stdout.trim(), 'machine.slice');
  t.is((await sh(`systemctl show rkt-${uuid}.service -p KillMode --value`)).stdout.trim(), 'mixed');
  t.is((await sh(`systemctl is-active rkt-${uuid}.service`)).stdout.trim(), 'active');
  const stop = await sh(`${RKT} stop ${uuid}`);
  t.is(stop.exitCode, 0, stop.stderr);
  const done = await sh(`${RKT} status --wait=30s ${uuid}`);
  t.regex(done.stdout, /^state=exited$/m);
  t.regex(done.stdout, /^app-busybox=143$/m);
  await until('the unit is gone', 60_000, async () => (await loadState(`rkt-${uuid}.service`)) === 'not-found');
  t.false((await machines()).includes(`rkt-${uuid}`), 'the machine is gone');
});

suite.test('a pod on its own network (the default): machinectl status shows its address, rkt status the same one', async (t) => {
  const run = await sh(`${RKT} run --detach example.com/busybox --exec /bin/sh -- -c 'sleep 86400'`);
  t.is(run.exitCode, 0, run.stderr);
  const uuid = run.stdout.trim();
  const ready = await sh(`${RKT} status --wait-ready=30s ${uuid}`);
  t.is(ready.exitCode, 0, ready.stderr);
  const ip = /^networks=default:ip4=(172\.16\.28\.\d+)$/m.exec(ready.stdout)?.[1];
  t.truthy(ip, `rkt status names the pod's address: ${ready.stdout}`);
  // machined reads the addresses in the network namespace of the machine's leader: the pod's own.
  await until('machined shows the address', 60_000, async () => (await sh(`machinectl status rkt-${uuid} --no-pager`)).stdout.includes(`Address: ${ip ?? '?'}`));
  const stop = await sh(`${RKT} stop ${uuid}`);
  t.is(stop.exitCode, 0, stop.stderr);
  t.regex((await sh(`${RKT} status --wait=30s ${uuid}`)).stdout, /^state=exited$/m);
});

suite.test('rkt stop of a pod machined knows goes through machined, gracefully and with --force', async (t) => {
  for (const force of [false, true]) {
    const run = await sh(`${RKT} run --detach example.com/busybox --exec /bin/sh -- -c 'sleep 300'`);
    t.is(run.exitCode, 0, run.stderr);
    const uuid = run.stdout.trim();
    const ready = await sh(`${RKT} status --wait-ready=30s ${uuid}`);
    t.is(ready.exitCode, 0, `${ready.stdout}${ready.stderr}`);
    // Take the stage1's own stop entrypoint away: only machined can stop the pod now.
    const options = `${DIR}/pods/run/${uuid}/options.json`;
    t.is((await sh(`sed -i 's|"stage1Stop": *"[^"]*"|"stage1Stop": "rkt/no-such-stop"|' ${options} && grep -c no-such-stop ${options}`)).stdout.trim(), '1');
    const stop = await sh(`${RKT} stop ${force ? '--force ' : ''}${uuid}`);
    t.is(stop.exitCode, 0, stop.stderr);
    t.is(stop.stdout.trim(), uuid);
    const done = await sh(`${RKT} status --wait=30s ${uuid}`);
    t.regex(done.stdout, /^state=exited$/m);
    if (!force) t.regex(done.stdout, /^app-busybox=143$/m, 'graceful: the app was stopped in order and its status recorded');
    await until('the machine is gone', 60_000, async () => !(await machines()).includes(`rkt-${uuid}`));
  }
});

suite.test('a pod whose nspawn was SIGKILLed: rkt gc leaves no unit and no machine', async (t) => {
  const run = await sh(`${RKT} run --detach example.com/busybox --exec /bin/sh -- -c 'sleep 300'`);
  t.is(run.exitCode, 0, run.stderr);
  const uuid = run.stdout.trim();
  const ready = await sh(`${RKT} status --wait-ready=30s ${uuid}`);
  t.is(ready.exitCode, 0, `${ready.stdout}${ready.stderr}`);
  const pid = /^pid=(\d+)$/m.exec(ready.stdout)?.[1];
  t.truthy(pid, ready.stdout);
  const kill = await sh(`kill -KILL $(ps -o ppid= -p ${pid})`);
  t.is(kill.exitCode, 0, kill.stderr);
  const exited = await sh(`${RKT} status --wait=30s ${uuid}`);
  t.is(exited.exitCode, 0, exited.stderr);
  const gc = await sh(`${RKT} gc --grace-period=0s`);
  t.is(gc.exitCode, 0, gc.stderr);
  t.regex(gc.stdout + gc.stderr, new RegExp(`garbage collecting pod ${uuid}`));
  t.is(await loadState(`rkt-${uuid}.service`), 'not-found', 'no unit left');
  const scope = (await sh(`systemctl list-units --all --no-legend 'machine-rkt*' | grep -c ${uuid.slice(0, 8)} || true`)).stdout.trim();
  t.is(scope, '0', 'no scope left');
  t.false((await machines()).includes(`rkt-${uuid}`), 'no machine left');
});
