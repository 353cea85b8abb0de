// `systemd-run --unit=T rkt run …` then `systemctl stop T`, under each KillMode: the apps' exit statuses are
// recorded and the stop ends the unit with rkt's status (143: the app died of the stop's SIGTERM). Under
// control-group systemd SIGTERMs nspawn as well as rkt: rkt asks the pod's systemd to halt rather than send
// nspawn a second SIGTERM (which would kill the pod at once, without statuses).
import { podHostSuite, until } from '../lib/testhost.js';

const { suite, rkt: RKT, sh } = podHostSuite('/var/tmp/rkt-host-killmode');
const out = async (script: string) => (await sh(script)).stdout.trim();

for (const mode of ['control-group', 'mixed', 'process']) {
  suite.test(`KillMode=${mode}: systemctl stop records the app's status and ends the unit cleanly`, async (t) => {
    const unit = `rkt-km-${mode}`;
    const start = await sh(`systemd-run --unit=${unit} -p KillMode=${mode} --service-type=exec ${RKT} run example.com/busybox --exec /bin/sh -- -c 'sleep 86400'`);
    t.is(start.exitCode, 0, start.stderr);
    let uuid = '';
    await until('the pod has started', 60_000, async () => {
      const m = (await out(`machinectl list --no-legend | awk '/^rkt-/ {print $1}'`)).split('\n')[0] ?? '';
      uuid = m.replace(/^rkt-/, '');
      return uuid !== '' && /^pid=/m.test(await out(`${RKT} status ${uuid}`));
    });
    t.is(await out(`machinectl show rkt-${uuid} -p Unit --value`), `${unit}.service`);
    const stop = await sh(`systemctl stop ${unit}`);
    t.is(stop.exitCode, 0, stop.stderr);
    const status = await out(`${RKT} status ${uuid}`);
    t.regex(status, /^state=exited$/m);
    t.regex(status, /^app-busybox=143$/m, `the app's status is recorded under KillMode=${mode}`);
    t.is(await out(`systemctl show ${unit} -p ExecMainStatus --value`), '143', "rkt exited with the app's status");
    t.is(await out(`systemctl show ${unit} -p KillMode --value`), mode);
    t.is(await out(`systemd-cgls --no-pager -u ${unit}.service 2>/dev/null | grep -c -e sleep -e systemd-nspawn || true`), '0', 'nothing of the pod is left');
    await sh(`systemctl reset-failed ${unit}`);
  });
}
