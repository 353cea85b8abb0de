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

// A declared pod as a pod manifest: the apps (by image name, resolved from the store at run time), their exec and
// environment are the manifest's; the NAME.pod beside it gives [Unit] and [Install] only.
const MANIFEST = `acVersion: 0.8.11
acKind: PodManifest
apps:
  - name: web
    image:
      name: example.com/busybox
    app:
      exec: [/bin/sh, -c, 'echo "manifest-pod-up $GREETING"; sleep 86400']
      user: "0"
      group: "0"
      environment:
        - name: GREETING
          value: hello-from-the-manifest
annotations:
  - name: example.com/declared-by
    value: pod-generator-test
`;
const MANIFEST_BESIDE = `[Unit]
Description=declared pod from a manifest

[Install]
WantedBy=multi-user.target
`;
// line 4 is where the flow sequence opened on line 3 is found unterminated
const BROKEN_YAML = 'acVersion: 0.8.11\nacKind: PodManifest\napps: [\n';

/** The machine (rkt-<uuid>) machined lists for `unit`, or '' if none. */
const machineOf = (unit: string) => out(`for m in $(machinectl list --no-legend | awk '/^rkt-/ {print $1}'); do [ "$(machinectl show "$m" -p Unit --value)" = ${unit} ] && echo "$m"; done; true`);

suite.test('a NAME.pod.yaml (with a NAME.pod beside it) becomes a unit on daemon-reload; a broken one is reported with its line', async (t) => {
  const drop = await h().sh([
    'mkdir -p /etc/rkt/pods.d',
    'cat > /etc/rkt/pods.d/mani.pod.yaml',
    `printf '%s' '${MANIFEST_BESIDE}' > /etc/rkt/pods.d/mani.pod`,
    `printf '${BROKEN_YAML.replaceAll('\n', '\\n')}' > /etc/rkt/pods.d/broken.pod.yaml`,
  ].join(' && '), { input: MANIFEST });
  t.is(drop.exitCode, 0, drop.stderr);
  const reload = await sh('systemctl daemon-reload');
  t.is(reload.exitCode, 0, reload.stderr);
  t.is(await out('systemctl show -p LoadState --value mani.service'), 'loaded', await out('journalctl -t rkt-pod-generator --no-pager -o cat'));
  t.is(await out('systemctl show -p SourcePath --value mani.service'), '/etc/rkt/pods.d/mani.pod.yaml');
  t.is(await out('systemctl show -p Description --value mani.service'), 'declared pod from a manifest');
  t.is(await out('readlink /run/systemd/generator/multi-user.target.wants/mani.service'), '../mani.service');
  t.regex(await out('systemctl show -p Wants --value multi-user.target'), /(^| )mani\.service( |$)/);
  t.is(await out('systemctl show -p LoadState --value broken.service'), 'not-found', 'no unit for the broken manifest');
  t.regex(await out('journalctl -t rkt-pod-generator -p err --no-pager -o cat'),
    /\/etc\/rkt\/pods\.d\/broken\.pod\.yaml:4: unexpected end of the stream within a flow collection; no unit written for it/);
  t.is(await out('systemctl show -p LoadState --value decl.service'), 'loaded', 'the other declared pods are still generated');
  const unit = await out('cat /run/systemd/generator/mani.service');
  t.regex(unit, /^ExecStartPre="\/usr\/bin\/rkt" "fetch" "--pull-policy=new" "example\.com\/busybox"$/m);
  t.regex(unit, /^ExecStart="\/usr\/bin\/rkt" "run" "--pull-policy=never" "--pod-manifest=\/etc\/rkt\/pods\.d\/mani\.pod\.yaml"$/m);
  t.is(unit, await out('rkt generate systemd /etc/rkt/pods.d/mani.pod.yaml'), 'rkt generate prints the unit the generator wrote');
});

suite.test('systemctl start runs the manifest\'s apps with its exec and environment; systemctl stop records the exit status', async (t) => {
  const start = await sh('systemctl start mani.service');
  t.is(start.exitCode, 0, `${start.stderr}\n${await out('journalctl -u mani.service --no-pager -o cat | tail -20')}`);
  t.is(await out('systemctl is-active mani.service'), 'active');
  const machine = await machineOf('mani.service');
  t.regex(machine, /^rkt-[0-9a-f-]{36}$/, 'machinectl sees the pod, in mani.service');
  const uuid = machine.replace(/^rkt-/, '');
  t.regex(await out(`rkt status ${uuid}`), /^state=running$/m);
  const pm = JSON.parse(await out(`rkt cat-manifest ${uuid}`)) as { apps: { name: string; image: { name?: string; id: string } }[]; annotations?: { name: string; value: string }[] };
  t.deepEqual(pm.apps.map((a) => [a.name, a.image.name]), [['web', 'example.com/busybox']]);
  t.is(pm.apps[0]?.image.id, await out(`rkt image list --no-legend --full --fields=id,name | awk '$2 ~ /^example\\.com\\/busybox(:|$)/ {print $1; exit}'`), 'the image the fetch stored');
  t.deepEqual(pm.annotations?.find((a) => a.name === 'example.com/declared-by')?.value, 'pod-generator-test');
  t.regex(await out('journalctl -u mani.service --no-pager -o cat'), /manifest-pod-up hello-from-the-manifest/);

  const stop = await sh('systemctl stop mani.service');
  t.is(stop.exitCode, 0, stop.stderr);
  t.is(await out('systemctl show -p Result --value mani.service'), 'success');
  const status = await out(`rkt status ${uuid}`);
  t.regex(status, /^state=exited-garbage$/m);
  t.regex(status, /^app-web=143$/m, 'the manifest\'s app was stopped by SIGTERM and its status recorded');
  t.is(await machineOf('mani.service'), '', 'machined no longer lists it');
});
