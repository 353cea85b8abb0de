// The fly stage1 under a real systemd: `systemd-run rkt run --stage1-name=coreos.com/rkt/stage1-fly …` keeps the
// app in the caller's unit (no scope, no machine, no cgroup of rkt's own), and systemctl stop ends it with
// its status recorded.
import { podHostSuite, until } from '../lib/testhost.js';

const { suite, rkt: RKT, sh } = podHostSuite('/var/tmp/rkt-host-fly');
const FLY = '--stage1-name=coreos.com/rkt/stage1-fly';

suite.test('systemd-run rkt run on the fly stage1: the app is in the caller\'s unit, no machine; systemctl stop records 143', async (t) => {
  const start = await sh(`systemd-run --unit=rkt-fly1 -p KillMode=mixed --service-type=exec ${RKT} run ${FLY} --uuid-file-save=/var/tmp/fly1.uuid example.com/busybox --exec /bin/sh -- -c 'echo hello-from-fly; exec sleep 86400'`);
  t.is(start.exitCode, 0, start.stderr);
  let pid = '';
  await until('the fly pod runs its app', 60_000, async () => {
    const uuid = (await sh('cat /var/tmp/fly1.uuid 2>/dev/null')).stdout.trim();
    if (uuid === '') return false;
    pid = /^pid=(\d+)$/m.exec((await sh(`${RKT} status ${uuid}`)).stdout)?.[1] ?? '';
    return pid !== '' && (await sh(`cat /proc/${pid}/comm`)).stdout.trim() === 'sleep';
  });
  const uuid = (await sh('cat /var/tmp/fly1.uuid')).stdout.trim();
  const cgroup = (await sh('systemctl show rkt-fly1 -p ControlGroup --value')).stdout.trim();
  t.regex(cgroup, /rkt-fly1\.service$/);
  t.regex((await sh(`cat /proc/${pid}/cgroup`)).stdout, new RegExp(`^\\d+:[^:\\n]*:${cgroup.replace(/[.\\]/g, '\\$&')}$`, 'm'), 'the app is in the unit\'s own cgroup');
  t.is((await sh(`machinectl list --no-legend | grep -c rkt-${uuid}`)).stdout.trim(), '0', 'no machine for a fly pod');
  await until('the app\'s line is in the unit\'s journal', 60_000, async () => (await sh('journalctl -u rkt-fly1 --no-pager -o cat')).stdout.includes('hello-from-fly'));
  t.is((await sh('systemctl stop rkt-fly1')).exitCode, 0);
  const after = await sh(`${RKT} status ${uuid}`);
  t.regex(after.stdout, /^state=exited$/m);
  t.regex(after.stdout, /^app-busybox=143$/m);
});

suite.test('rkt stop of a fly pod under systemd signals the app itself (not machined)', async (t) => {
  const start = await sh(`systemd-run --unit=rkt-fly2 --service-type=exec ${RKT} run ${FLY} --uuid-file-save=/var/tmp/fly2.uuid example.com/busybox --exec /bin/sleep -- 86400`);
  t.is(start.exitCode, 0, start.stderr);
  await until('the fly pod is running', 60_000, async () => {
    const uuid = (await sh('cat /var/tmp/fly2.uuid 2>/dev/null')).stdout.trim();
    return uuid !== '' && /^state=running$/m.test((await sh(`${RKT} status ${uuid}`)).stdout);
  });
  const uuid = (await sh('cat /var/tmp/fly2.uuid')).stdout.trim();
  const stop = await sh(`${RKT} stop ${uuid}`);
  t.is(stop.exitCode, 0, stop.stderr);
  t.regex((await sh(`${RKT} status ${uuid}`)).stdout, /^app-busybox=143$/m);
  await until('the unit is gone or inactive', 60_000, async () => (await sh('systemctl is-active rkt-fly2')).stdout.trim() !== 'active');
});

suite.test('a Type=notify unit (NotifyAccess=all) running a fly pod is ready once the app is exec\'d, after its pre-start handler', async (t) => {
  const id = (await sh(`${RKT} image list --no-legend --full | awk '/busybox/ {print $1}'`)).stdout.trim();
  const vol = '/var/tmp/fly-notify-vol';
  const manifest = {
    acKind: 'PodManifest', acVersion: '0.8.11',
    apps: [{ name: 'slow', image: { id, name: 'example.com/busybox' }, app: {
      exec: ['/bin/sleep', '86400'], user: '0', group: '0',
      eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'sleep 2; touch /data/pre-start-done'] }],
    }, mounts: [{ volume: 'data', path: '/data' }] }],
    volumes: [{ name: 'data', kind: 'host', source: vol }],
  };
  await sh(`rm -rf ${vol} && mkdir -p ${vol} && cat > /var/tmp/fly-notify-pod.json <<'EOF'\n${JSON.stringify(manifest)}\nEOF`);
  const start = await sh(`systemd-run --unit=rkt-fly3 -p Type=notify -p NotifyAccess=all -p KillMode=mixed ${RKT} run ${FLY} --pod-manifest=/var/tmp/fly-notify-pod.json`);
  t.is(start.exitCode, 0, start.stderr);
  t.is((await sh(`test -e ${vol}/pre-start-done`)).exitCode, 0, 'systemd-run returned before the pre-start handler had finished');
  t.is((await sh('systemctl show rkt-fly3 -p ActiveState --value')).stdout.trim(), 'active');
  t.is((await sh('systemctl stop rkt-fly3')).exitCode, 0);
});
