// The three launch cases under a real systemd: rkt as a service's main process (the pod stays in that
// unit, registered with machined), rkt from a shell (machined makes the pod a scope in machine.slice),
// and graceful stops through systemctl and machinectl.
import { podHostSuite, until } from '../lib/testhost.js';

const { suite, rkt: RKT, sh } = podHostSuite('/var/tmp/rkt-host-test');
const podsRunningUnder = async (unitPattern: string) => (await sh(`machinectl list --no-legend | awk '{print $1}'`)).stdout.trim().split('\n').filter((m) => m.startsWith('rkt-') && m.includes(unitPattern));

suite.test('systemd-run rkt run: the pod lives in the caller\'s unit, is a machine, and systemctl stop is graceful', async (t) => {
  const start = await sh(`systemd-run --unit=rkt-t1 -p KillMode=mixed --service-type=exec ${RKT} run example.com/busybox --exec /bin/sh -- -c 'echo hello-from-unit; sleep 86400'`);
  t.is(start.exitCode, 0, start.stderr);
  let machine = '';
  await until('the pod is registered with machined', 60_000, async () => {
    machine = (await podsRunningUnder('rkt-'))[0] ?? '';
    return machine !== '';
  });
  const unit = await sh(`machinectl show ${machine} -p Unit --value`);
  t.is(unit.stdout.trim(), 'rkt-t1.service', 'machined reports the caller\'s unit');
  const uuid = machine.replace(/^rkt-/, '');
  const status = await sh(`${RKT} status ${uuid}`);
  t.regex(status.stdout, /^state=running$/m);
  await until('the app\'s line is in the unit\'s journal', 60_000, async () => (await sh('journalctl -u rkt-t1 --no-pager -o cat')).stdout.includes('hello-from-unit'));
  const stop = await sh('systemctl stop rkt-t1');
  t.is(stop.exitCode, 0, stop.stderr);
  const after = await sh(`${RKT} status ${uuid}`);
  t.regex(after.stdout, /^state=exited$/m);
  t.regex(after.stdout, /^app-busybox=143$/m, 'the app was stopped with SIGTERM and its status recorded');
  t.deepEqual(await podsRunningUnder(uuid), [], 'the machine is gone');
});

suite.test('a Type=notify unit (NotifyAccess=all) is ready only once the pod\'s apps have started', async (t) => {
  // The app's pre-start handler takes 3 s and then leaves a file in a host volume: a READY=1 sent when the
  // container merely exists would let systemd-run return before the file is there.
  const id = (await sh(`${RKT} image list --no-legend --full | awk '/busybox/ {print $1}'`)).stdout.trim();
  const vol = '/var/tmp/notify-vol';
  const manifest = {
    acKind: 'PodManifest', acVersion: '0.8.11',
    apps: [{ name: 'slow', image: { id, name: 'example.com/busybox' }, app: {
      exec: ['/bin/sleep', '86400'], user: '0', group: '0',
      eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'sleep 3; touch /data/pre-start-done'] }],
    }, mounts: [{ volume: 'data', path: '/data' }] }],
    volumes: [{ name: 'data', kind: 'host', source: vol }],
  };
  await sh(`rm -rf ${vol} && mkdir -p ${vol} && cat > /var/tmp/notify-pod.json <<'EOF'\n${JSON.stringify(manifest)}\nEOF`);
  const start = await sh(`systemd-run --unit=rkt-n1 -p Type=notify -p NotifyAccess=all -p KillMode=mixed ${RKT} run --pod-manifest=/var/tmp/notify-pod.json`);
  t.is(start.exitCode, 0, start.stderr);
  t.is((await sh(`test -e ${vol}/pre-start-done`)).exitCode, 0, 'systemd-run returned before the app\'s pre-start handler had finished');
  t.is((await sh('systemctl show rkt-n1 -p ActiveState --value')).stdout.trim(), 'active');
  t.regex((await sh('systemctl show rkt-n1 -p StatusText --value')).stdout, /Startup finished|Container running/, 'nspawn passed the pod\'s status on');
  t.is((await sh('systemctl stop rkt-n1')).exitCode, 0);
});

suite.test('rkt run from a shell: machined makes the pod a scope in machine.slice, with --memory', async (t) => {
  // The app runs until the test lets it go (a file in a host volume), so the pod is there to be looked at.
  const vol = '/var/tmp/shell-vol';
  t.is((await sh(`rm -rf ${vol} && mkdir -p ${vol}`)).exitCode, 0);
  const run = sh(`systemd-run --scope --quiet ${RKT} run --memory=300M --volume=data,kind=host,source=${vol} --mount=volume=data,target=/data example.com/busybox --exec /bin/sh -- -c 'while [ ! -e /data/go ]; do sleep 0.1; done; exit 5'`);
  let machine = '';
  await until('the pod is registered', 60_000, async () => {
    machine = (await podsRunningUnder('rkt-'))[0] ?? '';
    return machine !== '';
  });
  const unit = (await sh(`machinectl show ${machine} -p Unit --value`)).stdout.trim();
  t.regex(unit, /^machine-rkt.*\.scope$/);
  t.is((await sh(`systemctl show '${unit}' -p Slice --value`)).stdout.trim(), 'machine.slice');
  t.is((await sh(`systemctl show '${unit}' -p MemoryMax --value`)).stdout.trim(), String(300 * 1024 * 1024));
  t.is((await sh(`touch ${vol}/go`)).exitCode, 0);
  const r = await run;
  t.is(r.exitCode, 5, 'rkt run exits with the app\'s status');
});

suite.test('machinectl poweroff stops a pod as cleanly as rkt stop', async (t) => {
  const start = await sh(`systemd-run --unit=rkt-t3 -p KillMode=mixed --service-type=exec ${RKT} run example.com/busybox --exec /bin/sh -- -c 'sleep 86400'`);
  t.is(start.exitCode, 0, start.stderr);
  let machine = '';
  await until('the pod is registered', 60_000, async () => {
    machine = (await podsRunningUnder('rkt-'))[0] ?? '';
    return machine !== '';
  });
  await until('the pod has started', 60_000, async () => /^pid=/m.test((await sh(`${RKT} status ${machine.replace(/^rkt-/, '')}`)).stdout));
  t.is((await sh(`machinectl poweroff ${machine}`)).exitCode, 0);
  await until('the unit has ended', 60_000, async () => (await sh('systemctl is-active rkt-t3')).stdout.trim() !== 'active');
  const after = await sh(`${RKT} status ${machine.replace(/^rkt-/, '')}`);
  t.regex(after.stdout, /^state=exited$/m);
  t.regex(after.stdout, /^app-busybox=143$/m);
});
