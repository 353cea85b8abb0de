// App logs in the journal: under a real systemd, a pod's own journald gets each app's stdout and stderr
// under the app's identifier (through the stage1's io-<stream>-<app> copiers), while the same lines still
// reach rkt run's stdout and stderr (here: the journal of the unit rkt runs in). nspawn links the pod's
// journal into the host's /var/log/journal/<machine-id> (--link-journal=try-host), so it stays readable
// after the pod has ended.
import { podHostSuite, until } from '../lib/testhost.js';

// The test host's /var is volatile and starts without /var/log/journal: make it, as a host with a
// persistent journal has it, so that nspawn links the pod's journal there.
const { suite, rkt: RKT, sh } = podHostSuite('/var/tmp/rkt-journal-test', 'mkdir -p /var/log/journal');

suite.test('an app\'s stdout and stderr are in the pod\'s journal under its name, and in the caller\'s unit', async (t) => {
  const start = await sh(`systemd-run --unit=rkt-j1 -p KillMode=mixed --service-type=exec ${RKT} run example.com/busybox --exec /bin/sh -- -c 'echo line-out; echo line-err >&2; sleep 86400'`);
  t.is(start.exitCode, 0, start.stderr);
  let machine = '';
  await until('the pod is registered with machined', 60_000, async () => {
    machine = (await sh(`machinectl list --no-legend | awk '$1 ~ /^rkt-/ {print $1}'`)).stdout.trim().split('\n')[0] ?? '';
    return machine !== '';
  });
  const uuid = machine.replace(/^rkt-/, '');
  const machineId = uuid.replace(/-/g, '');

  // While it runs: the pod's journal, through machined.
  let podJournal = '';
  await until('both lines are in the pod\'s journal under the app\'s identifier', 60_000, async () => {
    podJournal = (await sh(`journalctl -M ${machine} -t busybox --no-pager -o cat`)).stdout;
    return podJournal.includes('line-out') && podJournal.includes('line-err');
  });
  // Each stream has its own copier, so lines of stdout and stderr are not ordered with respect to each other.
  const lines = (text: string) => text.trim().split('\n').sort();
  t.deepEqual(lines(podJournal), ['line-err', 'line-out']);
  // stdout at priority info, stderr at err.
  const errOnly = await sh(`journalctl -M ${machine} -t busybox -p err --no-pager -o cat`);
  t.deepEqual(errOnly.stdout.trim().split('\n'), ['line-err']);
  // rkt run's own stdout/stderr still get them: here, the journal of the unit rkt runs in.
  let unitJournal = '';
  await until('both lines are in the caller unit\'s journal', 60_000, async () => {
    unitJournal = (await sh('journalctl -u rkt-j1 --no-pager -o cat')).stdout;
    return unitJournal.includes('line-out') && unitJournal.includes('line-err');
  });
  t.deepEqual(unitJournal.split('\n').filter((l) => l.startsWith('line-')).sort(), ['line-err', 'line-out']);

  // The pod's journal is linked into the host's /var/log/journal/<machine-id>.
  const linked = await sh(`test -d /var/log/journal/${machineId} && ls /var/log/journal/${machineId}`);
  t.is(linked.exitCode, 0, 'the pod\'s journal is in the host\'s /var/log/journal/<machine-id>');

  // After the pod has ended, its journal is still readable by machine id.
  t.is((await sh('systemctl stop rkt-j1')).exitCode, 0);
  t.regex((await sh(`${RKT} status ${uuid}`)).stdout, /^state=exited$/m);
  const after = await sh(`journalctl -m _MACHINE_ID=${machineId} -t busybox --no-pager -o cat`);
  t.deepEqual(lines(after.stdout), ['line-err', 'line-out'], after.stderr);
  const dir = await sh(`journalctl --directory=/var/log/journal/${machineId} -t busybox --no-pager -o cat`);
  t.deepEqual(lines(dir.stdout), ['line-err', 'line-out'], dir.stderr);
});
