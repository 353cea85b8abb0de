// --private-users under a host systemd: a pod in a user namespace of its own as a service's main process
// (registered with machined, its journal on the host) and from a shell (machined's scope).
import { podHostSuite, until } from '../lib/testhost.js';

const { suite, rkt: RKT, sh } = podHostSuite('/var/tmp/rkt-host-userns');
const out = async (script: string) => (await sh(script)).stdout.trim();

suite.test('--private-users in a service: machinectl sees the pod, its app runs shifted, its output reaches the journal, the exit status passes', async (t) => {
  const unit = 'rkt-userns';
  const start = await sh(`systemd-run --unit=${unit} --service-type=exec ${RKT} run --private-users example.com/busybox --exec /bin/sh -- -c 'echo map=$(cat /proc/self/uid_map); exec sleep 86400'`);
  t.is(start.exitCode, 0, start.stderr);
  let uuid = '';
  await until('the pod runs', 60_000, async () => {
    uuid = ((await out(`machinectl list --no-legend | awk '/^rkt-/ {print $1}'`)).split('\n')[0] ?? '').replace(/^rkt-/, '');
    return uuid !== '' && /^pid=/m.test(await out(`${RKT} status ${uuid}`));
  });
  t.is(await out(`machinectl show rkt-${uuid} -p Unit --value`), `${unit}.service`);
  const base = Number((await out(`cat /var/tmp/rkt-host-userns/pods/run/${uuid}/options.json`)).match(/"base": *(\d+)/)?.[1]);
  t.true(base >= 0x80000, `a shifted range: ${base}`);
  await until("the app's line is in the pod's journal", 60_000, async () => (await out(`journalctl -M rkt-${uuid} -o cat --no-pager 2>/dev/null | grep -c '^map=' || true`)) !== '0');
  t.regex(await out(`journalctl -M rkt-${uuid} -o cat --no-pager | grep '^map='`), new RegExp(`^map= ?0 ${base} 65536$`, 'm'));
  const entered = await sh(`${RKT} enter ${uuid} /bin/sh -c 'id -u'`);
  t.is(entered.stdout.trim(), '0', entered.stderr);
  t.is((await sh(`systemctl stop ${unit}`)).exitCode, 0);
  t.regex(await out(`${RKT} status ${uuid}`), /^app-busybox=143$/m, 'the status is recorded');
  await sh(`systemctl reset-failed ${unit}`);
});

suite.test('--private-users from a shell: the pod is a machined scope and exits with its app', async (t) => {
  const res = await sh(`${RKT} run --private-users example.com/busybox --exec /bin/sh -- -c 'cat /proc/self/uid_map; exit 5'`);
  t.is(res.exitCode, 5, res.stderr);
  t.regex(res.stdout, /^\s*0\s+\d{6,}\s+65536$/m);
});
