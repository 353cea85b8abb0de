// Declared pods in a booted test host: hack/install puts rkt-pod-generator in the systemd generator
// directory; a pod file in /etc/rkt/pods.d becomes a service on daemon-reload, starts and runs a pod machined
// sees, stops with its app's status recorded; WantedBy= links exist without `systemctl enable`; a bad pod
// file is reported in the journal with its line and does not block the good one.
import path from 'node:path';
import { hostPodsSkipReason, hostTests, repoRoot, startTestHost, type TestHost } from '../lib/testhost.js';

const skipReason = hostPodsSkipReason();
const INSTALL = path.join(repoRoot, 'hack/install');

const suite = hostTests(skipReason);

let host: TestHost | undefined;
const h = (): TestHost => {
  if (host === undefined) throw new Error('test host did not start');
  return host;
};
const sh = async (script: string) => h().sh(script);
const out = async (script: string) => (await sh(script)).stdout.trim();

const GOOD = `[Unit]
Description=declared busybox pod

[Pod]
Image=example.com/busybox
Exec=/bin/sh -c 'echo declared-pod-up; sleep 86400'
PullPolicy=never

[Install]
WantedBy=multi-user.target
`;
const BAD = `[Pod]
Image=example.com/busybox
Imgae=example.com/typo
`;

suite.before(async () => {
  host = await startTestHost();
  // The test host's /usr is the machine's, read-only: an overlay for this boot lets hack/install install for real.
  const usr = await sh([
    'mkdir -p /run/usr-overlay/upper /run/usr-overlay/work',
    'mount -t overlay overlay -o lowerdir=/usr,upperdir=/run/usr-overlay/upper,workdir=/run/usr-overlay/work /usr',
  ].join(' && '));
  if (usr.exitCode !== 0) throw new Error(`overlay on /usr failed: ${usr.stderr}`);
  const install = await h().exec([INSTALL]);
  if (install.exitCode !== 0) throw new Error(`hack/install failed: ${install.stdout}${install.stderr}`);
  const fetch = await sh(`rkt --insecure-options=image fetch ${path.join(repoRoot, 'build/busybox.aci')}`);
  if (fetch.exitCode !== 0) throw new Error(`fetch failed: ${fetch.stderr}`);
});
suite.after(async () => {
  if (host !== undefined) await host.stop();
});

suite.test('hack/install installs the generator into the systemd generator directory', async (t) => {
  t.is(await out('stat -c %a /usr/lib/systemd/system-generators/rkt-pod-generator'), '755');
});

suite.test('a pod file becomes a unit on daemon-reload, with its WantedBy= link; a bad one is reported and skipped', async (t) => {
  const drop = await h().sh(`mkdir -p /etc/rkt/pods.d && cat > /etc/rkt/pods.d/decl.pod && printf '%s' '${BAD}' > /etc/rkt/pods.d/bad.pod`, { input: GOOD });
  t.is(drop.exitCode, 0, drop.stderr);
  const reload = await sh('systemctl daemon-reload');
  t.is(reload.exitCode, 0, reload.stderr);
  t.is(await out('systemctl show -p LoadState --value decl.service'), 'loaded', await out('journalctl -t rkt-pod-generator --no-pager -o cat; ls -la /run/systemd/generator'));
  t.is(await out('systemctl show -p SourcePath --value decl.service'), '/etc/rkt/pods.d/decl.pod');
  t.is(await out('readlink /run/systemd/generator/multi-user.target.wants/decl.service'), '../decl.service');
  t.regex(await out('systemctl show -p Wants --value multi-user.target'), /(^| )decl\.service( |$)/, 'started at boot without systemctl enable');
  t.is(await out('systemctl is-enabled decl.service || true'), 'generated');
  t.is(await out('systemctl show -p LoadState --value bad.service'), 'not-found', 'no unit for the bad file');
  const journal = await out('journalctl -t rkt-pod-generator -p err --no-pager -o cat');
  t.regex(journal, /\/etc\/rkt\/pods\.d\/bad\.pod:3: unknown key "Imgae" in \[Pod\]/);
  // the unit the generator wrote is the one rkt generate prints
  t.is(await out('cat /run/systemd/generator/decl.service'), await out('rkt generate systemd /etc/rkt/pods.d/decl.pod'));
});

suite.test('systemctl start runs the pod (machinectl sees it); systemctl stop ends it cleanly with the exit status recorded', async (t) => {
  const start = await sh('systemctl start decl.service');
  t.is(start.exitCode, 0, start.stderr);
  t.is(await out('systemctl is-active decl.service'), 'active', 'Type=notify: active once the app has started');
  const machine = (await out(`machinectl list --no-legend | awk '/^rkt-/ {print $1}'`)).split('\n')[0] ?? '';
  t.regex(machine, /^rkt-[0-9a-f-]{36}$/);
  t.is(await out(`machinectl show ${machine} -p Unit --value`), 'decl.service');
  const uuid = machine.replace(/^rkt-/, '');
  t.regex(await out(`rkt status ${uuid}`), /^state=running$/m);
  t.regex(await out('journalctl -u decl.service --no-pager -o cat'), /declared-pod-up/);

  const stop = await sh('systemctl stop decl.service');
  t.is(stop.exitCode, 0, stop.stderr);
  t.is(await out('systemctl show -p Result --value decl.service'), 'success');
  const status = await out(`rkt status ${uuid}`);
  t.regex(status, /^state=exited-garbage$/m, 'ExecStopPost=rkt gc --mark-only marked it');
  t.regex(status, /^app-busybox=143$/m, 'the app was stopped by SIGTERM and its status recorded');
});

suite.test('rkt generate systemd UUID gives a unit that runs a prepared pod', async (t) => {
  const uuid = await out(`rkt prepare --quiet example.com/busybox --exec /bin/sh -- -c 'sleep 86400'`);
  t.regex(uuid, /^[0-9a-f-]{36}$/);
  const gen = await sh(`rkt generate systemd ${uuid} > /run/systemd/system/prep.service && systemctl daemon-reload`);
  t.is(gen.exitCode, 0, gen.stderr);
  t.regex(await out('systemctl cat prep.service'), new RegExp(`^ExecStart="/usr/bin/rkt" "run-prepared" "${uuid}"$`, 'm'));
  const start = await sh('systemctl start prep.service');
  t.is(start.exitCode, 0, start.stderr);
  t.regex(await out(`rkt status ${uuid}`), /^state=running$/m);
  t.is(await out(`machinectl show rkt-${uuid} -p Unit --value`), 'prep.service');
  t.is((await sh('systemctl stop prep.service')).exitCode, 0);
  t.regex(await out(`rkt status ${uuid}`), /^app-busybox=143$/m);
  const again = await sh(`rkt generate systemd ${uuid}`);
  t.is(again.exitCode, 254, 'a pod that is no longer prepared is refused');
  t.regex(again.stderr, /only a prepared pod can be run by a unit/);
});
