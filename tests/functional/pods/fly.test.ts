// The fly stage1 (build/stage1-fly.aci, stage1-image/build-fly): one app exec'd on the host in a private mount
// namespace, on the host's network, with no systemd or nspawn. Real fly pods: exit statuses, environment, user
// and groups, working directory, volumes, event handlers, status/list/stop/enter/gc/export, the refusals, the
// selection of the stage1 by name, path, directory and stage1.d, and a SIGKILLed rkt run.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, RKT, rkt, runCmd } from '../../lib/rkt.js';
import { busyboxLayer, layerTar, writeImage, writeLayout } from '../../lib/oci.js';
import { INSECURE, podEnv, podTest, sharedImage, statusMap, title, until, waitForFile, waitRunning, within, type PodEnv } from '../../lib/pods.js';

const FLY = '--stage1-name=coreos.com/rkt/stage1-fly';
const ACE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const plain = sharedImage({ name: 'example.com/fly', files: { '/marker': 'from the image\n' } });
const withEnv = sharedImage({ name: 'example.com/fly-env', environment: { FROM_IMAGE: 'image', OVERRIDDEN: 'image' } });
const users = sharedImage({
  name: 'example.com/fly-ids', extraPasswd: ['tester:x:1001:1002:tester:/home/tester:/bin/sh'], extraGroup: ['testers:x:1002:'],
  workingDirectory: '/home/tester', files: { '/home/tester': { dir: true, uid: 1001, gid: 1002, mode: 0o755 } },
});
const handlers = sharedImage({
  name: 'example.com/fly-handlers', mountPoints: [{ name: 'data', path: '/data' }],
  exec: ['/bin/sh', '-c', 'echo "app $(id -u)" >> /data/order; exit 5'],
  eventHandlers: [
    { name: 'pre-start', exec: ['/bin/sh', '-c', 'echo "pre-start $(id -u)" >> /data/order; chmod 666 /data/order'] },
    { name: 'post-stop', exec: ['/bin/sh', '-c', 'echo "post-stop $(id -u)" >> /data/order'] },
  ],
});

/** `rkt run` on the fly stage1 (test images are unsigned; --net=host unless the test gives a network). */
const fly = (env: PodEnv, args: readonly string[], opts?: { env?: NodeJS.ProcessEnv }) => env.run([FLY, ...args], opts);

/** Lines of the host's mount table that name the test's directory: a fly pod's mounts are never among them. */
const hostMountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir));

/** The pods under the test's data directory, in any state. */
function podsOnDisk(env: PodEnv): string[] {
  const root = path.join(env.data, 'pods');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((st) => readdirSync(path.join(root, st)));
}

function envOf(stdout: string): Map<string, string> {
  return new Map(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));
}

/** A fly pod in the background whose app sleeps; returns it once running with its pid and start recorded. */
async function startSleeper(env: PodEnv, extra: readonly string[] = [], appArgs: readonly string[] = []) {
  const uuidFile = env.file(`uuid-${Math.random().toString(36).slice(2, 8)}`);
  const bg = env.spawnRun([FLY, `--uuid-file-save=${uuidFile}`, ...extra, await plain(), '--name=sleeper', '--exec=/bin/sleep', ...appArgs, '--', '86400']);
  const uuid = await waitRunning(env, uuidFile, bg);
  const pid = Number(statusMap((await env.r(['status', uuid])).stdout).get('pid'));
  // The process rkt recorded is the app itself (the entrypoint exec'd its way to it): once it is sleep, it runs.
  await until(`process ${pid} is the app (sleep)`, 60_000, () => readIfThere(`/proc/${pid}/comm`)?.trim() === 'sleep', 20);
  return { uuid, bg, pid };
}

const readIfThere = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : undefined);

// ---------------------------------------------------------------------------------------------------------
// Exit statuses

for (const [what, script, want] of [['0', 'exit 0', 0], ['3', 'exit 3', 3], ['SIGKILL → 137', 'kill -KILL $$', 137], ['SIGTERM → 143', 'kill -TERM $$', 143]] as const) {
  podTest(title(`exit status ${what}: rkt run exits with it and rkt status records app-<name>=${want}`), async (t) => {
    const env = await podEnv(t);
    const uuidFile = env.file('uuid');
    const res = await fly(env, [`--uuid-file-save=${uuidFile}`, await plain(), '--exec=/bin/sh', '--', '-c', `echo out; echo err >&2; ${script}`]);
    t.is(res.exitCode, want, res.stderr);
    t.is(res.stdout, 'out\n');
    t.is(res.stderr, 'err\n');
    const m = statusMap((await env.r(['status', readFileSync(uuidFile, 'utf8').trim()])).stdout);
    t.is(m.get('state'), 'exited');
    t.is(m.get('app-fly'), String(want));
    t.truthy(m.get('started'));
  });
}

// ---------------------------------------------------------------------------------------------------------
// The hand-off: rkt run's process becomes the fly stage1's supervisor

podTest(title('rkt run execs the fly stage1: its process supervises the app (rkt run\'s pid is the app\'s parent); the app has stdio and the pod lock on fd 3, nothing else rkt run inherited'), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  // rkt run with descriptors 7 and 8 open (what a caller may leave open): the app must not get them.
  const cmd = `exec 7</dev/null 8>/dev/null; exec node ${RKT} --dir=${env.data} ${INSECURE} run ${FLY} --uuid-file-save=${uuidFile} ${await plain()} `
    + `--exec=/bin/sh -- -c 'echo rkt=$PPID; for f in /proc/$$/fd/*; do echo "fd \${f##*/} $(readlink $f)"; done' & echo started=$!; wait`;
  const res = await runCmd('/bin/sh', ['-c', cmd]);
  t.is(res.exitCode, 0, res.stderr);
  const started = /^started=(\d+)$/m.exec(res.stdout)?.[1];
  t.is(/^rkt=(\d+)$/m.exec(res.stdout)?.[1], started, 'the app\'s parent is the process rkt run was started as');
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  const fds = res.stdout.split('\n').filter((l) => l.startsWith('fd ')).map((l) => l.split(' ').slice(1));
  const byFd = new Map(fds.map(([fd, target]) => [fd, target]));
  t.is(byFd.get('0'), '/dev/null');
  t.is(byFd.get('3'), path.join(env.data, 'pods', 'run', uuid), 'the pod lock');
  t.false(byFd.has('7') || byFd.has('8'), `the caller's descriptors 7 and 8 are not the app's:\n${res.stdout}`);
  const m = statusMap((await env.r(['status', uuid])).stdout);
  t.is(m.get('app-fly'), '0');
  t.truthy(m.get('exited-at'));
});

podTest(title('a fly stage1 whose run entrypoint cannot be exec\'d: ELAUNCH (254) naming it and the fix, the pod exited and unlocked, nothing left running'), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  // The fly stage1 imported into this test's store, then its tree's run made non-executable.
  const first = await fly(env, [await plain(), '--exec=/bin/true']);
  t.is(first.exitCode, 0, first.stderr);
  const trees = path.join(env.data, 'cas', 'trees');
  const runs = readdirSync(trees).filter((id) => readIfThere(path.join(trees, id, 'manifest'))?.includes('"coreos.com/rkt/stage1-fly"'))
    .map((id) => path.join(trees, id, 'rootfs', 'rkt', 'run'));
  t.true(runs.length >= 1, 'the fly stage1 tree is in the store');
  for (const f of runs) chmodSync(f, 0o644);
  const res = await fly(env, [`--uuid-file-save=${uuidFile}`, await plain(), '--exec=/bin/true']);
  t.is(res.exitCode, 254);
  t.regex(res.stderr, /^rkt: cannot start the pod: cannot run the fly stage1 entrypoint \/.*\/rkt\/run: .*permission denied/im);
  t.regex(res.stderr, /rkt image verify/);
  const m = statusMap((await env.r(['status', readFileSync(uuidFile, 'utf8').trim()])).stdout);
  t.is(m.get('state'), 'exited');
  t.false(m.has('app-fly'));
  t.truthy(m.get('exited-at'));
});

// ---------------------------------------------------------------------------------------------------------
// What the app gets

podTest(title('environment: exactly PATH, AC_APP_NAME, container=rkt, the image\'s, --set-env and --environment (nothing of rkt\'s)'), async (t) => {
  const env = await podEnv(t);
  const res = await fly(env, ['--set-env=OVERRIDDEN=set-env', '--set-env=FROM_FLAG=flag', await withEnv(), '--name=envapp', '--environment=PER_APP=app', '--exec=/bin/env'],
    { env: { ...process.env, NOT_INHERITED: 'host' } });
  t.is(res.exitCode, 0, res.stderr);
  t.deepEqual(Object.fromEntries(envOf(res.stdout)), {
    PATH: ACE_PATH, AC_APP_NAME: 'envapp', container: 'rkt', FROM_IMAGE: 'image', OVERRIDDEN: 'set-env', FROM_FLAG: 'flag', PER_APP: 'app',
  });
});

podTest(title('user, group and working directory: names from the image, the image\'s working directory, --user/--group/--working-dir'), async (t) => {
  const env = await podEnv(t);
  const cmd = ['--exec=/bin/sh', '--', '-c', 'echo $(id -u) $(id -g) $(id -G) $(pwd)'];
  const byName = await fly(env, [await users(), '--user=tester', '--group=testers', ...cmd]);
  t.is(byName.exitCode, 0, byName.stderr);
  t.is(byName.stdout, '1001 1002 1002 /home/tester\n');
  const flags = await fly(env, [await users(), '--user=65534', '--group=0', '--working-dir=/tmp', ...cmd]);
  t.is(flags.exitCode, 0, flags.stderr);
  t.is(flags.stdout, '65534 0 0 /tmp\n');
});

podTest(title('supplementary groups of the pod manifest (--pod-manifest) are the app\'s, after its gid'), async (t) => {
  const env = await podEnv(t);
  const id = (await env.r([INSECURE, 'fetch', '--full', await users()])).stdout.trim();
  const manifest = env.file('pod.json');
  writeFileSync(manifest, JSON.stringify({
    acVersion: '0.8.11', acKind: 'PodManifest',
    apps: [{ name: 'ids', image: { id }, app: { exec: ['/bin/sh', '-c', 'echo $(id -u) $(id -g) $(id -G)'], user: '1001', group: '1002', supplementaryGIDs: [7, 8] } }],
  }));
  const res = await env.r([INSECURE, 'run', FLY, `--pod-manifest=${manifest}`]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, '1001 1002 1002 7 8\n');
});

podTest(title('volumes: a host directory read-write and one read-only; the mounts are in the app\'s namespace only'), async (t) => {
  const env = await podEnv(t);
  const rw = env.file('rw');
  const ro = env.file('ro');
  mkdirSync(rw);
  mkdirSync(ro);
  writeFileSync(path.join(ro, 'given'), 'host file\n');
  const res = await fly(env, [`--volume=rw,kind=host,source=${rw}`, `--volume=ro,kind=host,source=${ro},readOnly=true`,
    await plain(), '--mount=volume=rw,target=/rw', '--mount=volume=ro,target=/ro', '--exec=/bin/sh', '--',
    '-c', 'echo written > /rw/new; cat /ro/given; if echo x > /ro/nope; then echo ro-writable; else echo ro-refused; fi; grep -c " /rw " /proc/self/mountinfo']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'host file\nro-refused\n1\n');
  t.is(readFileSync(path.join(rw, 'new'), 'utf8'), 'written\n');
  t.false(existsSync(path.join(ro, 'nope')));
  t.deepEqual(hostMountsUnder(env.dir), []);
});

/** An image whose /data is a symlink to `target` (an absolute path): built by hand, the test images have no symlinks. */
async function symlinkImage(env: PodEnv, target: string): Promise<string> {
  const dir = env.file('symlink-image');
  const r = path.join(dir, 'rootfs');
  mkdirSync(path.join(r, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', path.join(r, 'bin/busybox'));
  chmodSync(path.join(r, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'ls', 'cat']) symlinkSync('busybox', path.join(r, 'bin', a));
  symlinkSync(target, path.join(r, 'data'));
  writeFileSync(path.join(dir, 'manifest'), JSON.stringify({
    acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/fly-symlink', labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
    app: { exec: ['/bin/sh'], user: '0', group: '0' },
  }));
  const out = `${dir}.aci`;
  await runCmd(path.join(REPO, 'hack/aci'), ['build', '--compression=none', dir, out]);
  return out;
}

podTest(title('hostile image: a mount point that is a symlink to a host path never mounts over the host\'s directory'), async (t) => {
  const env = await podEnv(t);
  const outside = env.file('outside');
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'host-only'), 'must stay hidden\n');
  const vol = env.file('vol');
  mkdirSync(vol);
  writeFileSync(path.join(vol, 'in-volume'), 'volume\n');
  const img = await symlinkImage(env, outside);
  const script = ['--exec=/bin/sh', '--', '-c', `ls /data; ls ${outside} 2>&1 | grep -c host-only`];
  // With an overlay the pod's own /data (a directory in its writable layer) hides the image's symlink.
  const res = await fly(env, [`--volume=data,kind=host,source=${vol}`, img, '--mount=volume=data,target=/data', ...script]);
  t.is(res.exitCode, 1, res.stderr);
  t.is(res.stdout, 'in-volume\n0\n');
  // In a copy, either the layout made /data a directory of the pod's own (the volume is there, as above), or the
  // symlink stayed and resolves inside the app's root, where its target does not exist: refused before the app.
  const copy = await fly(env, ['--no-overlay', `--volume=data,kind=host,source=${vol}`, img, '--mount=volume=data,target=/data', ...script]);
  if (copy.exitCode === 254) {
    t.regex(copy.stderr, /failed before its app started: cannot bind .*vol: the mount point \/data is missing in the app's root: No such file or directory\n/);
  } else {
    t.is(copy.exitCode, 1, copy.stderr);
    t.is(copy.stdout, 'in-volume\n0\n');
  }
  t.deepEqual(readdirSync(outside), ['host-only']);
  t.deepEqual(hostMountsUnder(env.dir), []);
});

podTest(title('pre-start and post-stop handlers run as root around the app (which runs as its user); rkt run exits with the app\'s status'), async (t) => {
  const env = await podEnv(t);
  const vol = env.file('vol');
  mkdirSync(vol, { mode: 0o777 });
  const res = await fly(env, [`--volume=data,kind=host,source=${vol}`, await handlers(), '--user=65534', '--group=65534']);
  t.is(res.exitCode, 5, res.stderr);
  t.is(readFileSync(path.join(vol, 'order'), 'utf8'), 'pre-start 0\napp 65534\npost-stop 0\n');
});

podTest(title('the app\'s root: an overlay of the image (writes stay in the pod), or a copy with --no-overlay; /proc, /sys and /dev are the host\'s'), async (t) => {
  const env = await podEnv(t);
  const script = 'cat /marker; echo changed > /marker; cat /marker; readlink /proc/self/ns/pid; ls -d /sys/kernel /dev/null';
  for (const extra of [[], ['--no-overlay']]) {
    const res = await fly(env, [...extra, await plain(), '--exec=/bin/sh', '--', '-c', script]);
    t.is(res.exitCode, 0, res.stderr);
    t.is(res.stdout, `from the image\nchanged\n${readlinkSync('/proc/self/ns/pid')}\n/dev/null\n/sys/kernel\n`);
  }
  // The image itself is untouched: a third pod sees the image's file.
  const again = await fly(env, [await plain(), '--exec=/bin/cat', '--', '/marker']);
  t.is(again.stdout, 'from the image\n');
});

podTest(title('the network is the host\'s: without --net (the default becomes host) and with --net=host'), async (t) => {
  const env = await podEnv(t);
  const ours = readlinkSync('/proc/self/ns/net');
  const implied = await env.r([INSECURE, 'run', FLY, await plain(), '--exec=/bin/readlink', '--', '/proc/self/ns/net']);
  t.is(implied.exitCode, 0, implied.stderr);
  t.is(implied.stdout, `${ours}\n`);
  const host = await fly(env, [await plain(), '--exec=/bin/readlink', '--', '/proc/self/ns/net']);
  t.is(host.stdout, `${ours}\n`);
});

podTest(title('--readonly-rootfs: the app\'s root is read-only (overlay and --no-overlay), its volume and /dev are not; pre-start may write'), async (t) => {
  const env = await podEnv(t);
  const vol = env.file('vol');
  mkdirSync(vol);
  const pre = sharedImage({ name: 'example.com/fly-ro', eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'echo pre > /pre-wrote'] }] });
  const script = 'cat /pre-wrote; if touch /new 2>/dev/null; then echo root-writable; else echo root-read-only; fi; touch /v/ok && echo volume-writable; echo x > /dev/null && echo dev-ok';
  for (const extra of [[], ['--no-overlay']]) {
    const res = await fly(env, [...extra, `--volume=v,kind=host,source=${vol}`, await pre(), '--readonly-rootfs', '--mount=volume=v,target=/v', '--exec=/bin/sh', '--', '-c', script]);
    t.is(res.exitCode, 0, res.stderr);
    t.is(res.stdout, 'pre\nroot-read-only\nvolume-writable\ndev-ok\n', extra.join(' '));
  }
});

podTest(title('no-new-privileges and oom-score-adj are applied'), async (t) => {
  const env = await podEnv(t);
  const res = await fly(env, [await plain(), '--no-new-privileges', '--oom-score-adj=500', '--exec=/bin/sh', '--', '-c', 'grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'NoNewPrivs:\t1\n500\n');
});

// ---------------------------------------------------------------------------------------------------------
// Failures before the app's exec: 254 with the reason, no app status

podTest(title('a failing pre-start handler or a missing working directory: 254 with the reason, no app status recorded'), async (t) => {
  const env = await podEnv(t);
  const vol = env.file('vol');
  mkdirSync(vol);
  const failingPre = sharedImage({ name: 'example.com/fly-pre', eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'exit 4'] }] });
  const uuidFile = env.file('uuid');
  const pre = await fly(env, [`--uuid-file-save=${uuidFile}`, await failingPre(), '--exec=/bin/true']);
  t.is(pre.exitCode, 254);
  t.regex(pre.stderr, /^rkt: pod [0-9a-f-]+ failed before its app started: the pre-start handler \/bin\/sh exited with status 4\n/);
  const m = statusMap((await env.r(['status', readFileSync(uuidFile, 'utf8').trim()])).stdout);
  t.is(m.get('state'), 'exited');
  t.false([...m.keys()].some((k) => k.startsWith('app-')), 'no app status');
  const wd = await fly(env, [await plain(), '--working-dir=/no/such/dir', '--exec=/bin/true']);
  t.is(wd.exitCode, 254);
  t.regex(wd.stderr, /failed before its app started: cannot change to the working directory \/no\/such\/dir: No such file or directory\n/);
});

// ---------------------------------------------------------------------------------------------------------
// Refusals: a clear error, nothing on disk

const refusals: [string, (img: string) => string[], number, RegExp][] = [
  ['two apps', (img) => [FLY, img, '---', img, '--name=second'], 2, /^rkt: the fly stage1 runs one app per pod; this pod has 2\n/],
  ['--net=default given', (img) => [FLY, '--net=default', img], 2, /^rkt: the fly stage1 runs its app on the host's network: --net=default cannot be given\n/],
  ['--net=none', (img) => [FLY, '--net=none', img], 2, /--net=none cannot be given/],
  ['--port', (img) => [FLY, '--net=host', '--port=http:8080', img], 2, /--port has nothing to forward/],
  ['--dns', (img) => [FLY, '--net=host', '--dns=10.1.2.3', img], 2, /--dns, --dns-search, --dns-opt, --dns-domain and --hosts-entry cannot be given/],
  ['--hosts-entry', (img) => [FLY, '--net=host', '--hosts-entry=10.1.2.3=db', img], 2, /--hosts-entry cannot be given/],
  ['--mds-register', (img) => [FLY, '--net=host', '--mds-register', img], 2, /--mds-register cannot be given/],
  ['a capabilities isolator', (img) => [FLY, '--net=host', img, '--caps-retain=CAP_NET_ADMIN'], 254, /^rkt: app fly: the fly stage1 cannot apply the isolator os\/linux\/capabilities-retain-set /],
  ['a memory isolator and seccomp', (img) => [FLY, '--net=host', img, '--memory=64M', '--seccomp=mode=remove,reboot'], 254, /cannot apply the isolators (resource\/memory, os\/linux\/seccomp-remove-set|os\/linux\/seccomp-remove-set, resource\/memory) /],
];
for (const [what, args, code, message] of refusals) {
  podTest(title(`refused: ${what} (exit ${code}, the reason on stderr, no pod left on disk)`), async (t) => {
    const env = await podEnv(t);
    const res = await env.r([INSECURE, 'run', ...args(await plain())]);
    t.is(res.exitCode, code, res.stderr);
    t.regex(res.stderr, message);
    t.is(res.stdout, '');
    t.deepEqual(podsOnDisk(env), []);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Choosing the fly stage1

podTest(title('selection: --stage1-path, --stage1-from-dir (a directory or a file name beside the default), a stage1.d config'), async (t) => {
  const env = await podEnv(t);
  const isFly = ['--exec=/bin/readlink', '--', '/proc/self/ns/net'];
  const ours = `${readlinkSync('/proc/self/ns/net')}\n`;
  for (const flag of [`--stage1-path=${path.join(REPO, 'build/stage1-fly.aci')}`, '--stage1-from-dir=stage1-fly.aci']) {
    const res = await env.run([flag, await plain(), ...isFly]);
    t.is(res.exitCode, 0, `${flag}: ${res.stderr}`);
    t.is(res.stdout, ours, flag);
  }
  const dir = env.file('s1');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'stage1.aci'), readFileSync(path.join(REPO, 'build/stage1-fly.aci')));
  const fromDir = await env.run([`--stage1-from-dir=${dir}`, await plain(), ...isFly]);
  t.is(fromDir.exitCode, 0, fromDir.stderr);
  const conf = env.file('conf');
  mkdirSync(path.join(conf, 'stage1.d'), { recursive: true });
  writeFileSync(path.join(conf, 'stage1.d', 'fly.json'), JSON.stringify({ rktKind: 'stage1', rktVersion: 'v1', location: path.join(REPO, 'build/stage1-fly.aci') }));
  const byConfig = await env.run([`--local-config=${conf}`, await plain(), ...isFly]);
  t.is(byConfig.exitCode, 0, byConfig.stderr);
  t.is(byConfig.stdout, ours);
  // Every one of them made a fly pod: no pod's directory has units or a launcher.
  for (const p of podsOnDisk(env)) {
    const dirOf = readdirSync(path.join(env.data, 'pods')).map((st) => path.join(env.data, 'pods', st, p)).find((d) => existsSync(d)) ?? '';
    t.true(existsSync(path.join(dirOf, 'fly.json')), p);
    t.false(existsSync(path.join(dirOf, 'launch')), p);
  }
});

podTest(title('selection: --stage1-name with the version label finds the built image; an unknown stage1 name is a clear error'), async (t) => {
  const env = await podEnv(t);
  const version = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  const res = await env.run([`${FLY}:${version}`, await plain(), '--exec=/bin/true']);
  t.is(res.exitCode, 0, res.stderr);
  // localhost: discovery (https://localhost/...) is refused on this machine at once; nothing leaves it.
  const unknown = await env.run(['--stage1-name=localhost/no-such-stage1', await plain(), '--exec=/bin/true']);
  t.is(unknown.exitCode, 254);
  t.regex(unknown.stderr, /^rkt: stage1 image "localhost\/no-such-stage1" not found: no .*no-such-stage1\.aci with that name and labels \(nor in paths\.d's stage1-images\), none in the store, and fetching it failed: /);
  t.is(podsOnDisk(env).length, 1, 'only the first pod');
});

// ---------------------------------------------------------------------------------------------------------
// A running fly pod: status, list, enter, stop, gc, export

podTest(title('while running: status (pid = the app\'s process), list, enter (the app\'s root and volumes); then stop → 143, gc leaves nothing'), async (t) => {
  const env = await podEnv(t);
  const vol = env.file('vol');
  mkdirSync(vol);
  writeFileSync(path.join(vol, 'seen'), 'in the volume\n');
  const { uuid, bg, pid } = await startSleeper(env, [`--volume=v,kind=host,source=${vol}`], ['--mount=volume=v,target=/v']);
  const m = statusMap((await env.r(['status', uuid])).stdout);
  t.is(m.get('state'), 'running');
  t.is(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), '/bin/sleep\u000086400\u0000');
  const list = await env.r(['list', '--no-legend']);
  t.regex(list.stdout, new RegExp(`^${uuid.slice(0, 8)}\\s+sleeper\\s+example.com/fly\\s+running`, 'm'));
  t.like(JSON.parse(readFileSync(path.join(env.data, 'pods', 'run', uuid, 'list.json'), 'utf8')), { created: m.get('created'), apps: [{ name: 'sleeper', image: 'example.com/fly' }] }, 'a fly pod has its list.json too');
  const enter = await env.r(['enter', uuid, '/bin/sh', '-c', 'cat /marker /v/seen; echo $AC_APP_NAME']);
  t.is(enter.exitCode, 0, enter.stderr);
  t.is(enter.stdout, 'from the image\nin the volume\nsleeper\n');
  t.is((await env.r(['enter', uuid, '/bin/sh', '-c', 'exit 6'])).exitCode, 6);
  t.deepEqual(hostMountsUnder(env.dir), [], 'the pod\'s mounts are in its own namespace only');

  const stop = await env.r(['stop', uuid]);
  t.is(stop.exitCode, 0, stop.stderr);
  t.is(stop.stdout, `${uuid}\n`);
  const exit = await within(bg.exit, 60_000);
  t.deepEqual(exit, { code: 143, signal: null });
  const after = statusMap((await env.r(['status', uuid])).stdout);
  t.is(after.get('state'), 'exited');
  t.is(after.get('app-sleeper'), '143');
  const entered = await env.r(['enter', uuid, '/bin/true']);
  t.is(entered.exitCode, 254);

  const exported = env.file('out.aci');
  const ex = await env.r(['export', uuid, exported]);
  t.is(ex.exitCode, 0, ex.stderr);
  t.true(existsSync(exported));

  const gc = await env.r(['gc', '--grace-period=0s']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.regex(gc.stderr, new RegExp(`garbage collecting pod ${uuid}`));
  t.deepEqual(podsOnDisk(env), []);
  t.deepEqual(hostMountsUnder(env.dir), []);
});

podTest(title('stop --force kills an app that ignores SIGTERM: 137'), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  const vol = env.file('vol');
  mkdirSync(vol);
  const bg = env.spawnRun([FLY, `--uuid-file-save=${uuidFile}`, `--volume=v,kind=host,source=${vol}`, await plain(), '--mount=volume=v,target=/v',
    '--exec=/bin/sh', '--', '-c', "trap '' TERM; touch /v/ready; while :; do sleep 1; done"]);
  const uuid = await waitRunning(env, uuidFile, bg);
  await waitForFile(path.join(vol, 'ready'));
  t.is((await env.r(['stop', '--force', uuid])).exitCode, 0);
  t.deepEqual(await within(bg.exit, 60_000), { code: 137, signal: null });
  t.is(statusMap((await env.r(['status', uuid])).stdout).get('app-fly'), '137');
});

podTest(title('prepare + run-prepared runs a fly pod; run-prepared --net is refused before the pod moves'), async (t) => {
  const env = await podEnv(t);
  const prep = await env.r([INSECURE, 'prepare', FLY, '--quiet', await plain(), '--exec=/bin/sh', '--', '-c', 'exit 7']);
  t.is(prep.exitCode, 0, prep.stderr);
  const uuid = prep.stdout.trim();
  const refused = await env.r(['run-prepared', '--net=default', uuid]);
  t.is(refused.exitCode, 2);
  t.regex(refused.stderr, /runs on the fly stage1: --net, --port/);
  t.is(statusMap((await env.r(['status', uuid])).stdout).get('state'), 'prepared');
  const res = await env.r(['run-prepared', uuid]);
  t.is(res.exitCode, 7, res.stderr);
  t.is(statusMap((await env.r(['status', uuid])).stdout).get('app-fly'), '7');
});

podTest(title('a SIGKILLed rkt run: the app lives on holding the pod lock (running); rkt stop ends it (no app status: nobody recorded it), gc collects it'), async (t) => {
  const env = await podEnv(t);
  const { uuid, bg, pid } = await startSleeper(env);
  bg.child.kill('SIGKILL');
  await bg.exit;
  const m = statusMap((await env.r(['status', uuid])).stdout);
  t.is(m.get('state'), 'running');
  t.is(m.get('pid'), String(pid));
  t.true(existsSync(`/proc/${pid}`));
  const gcRunning = await env.r(['gc', '--grace-period=0s']);
  t.is(gcRunning.exitCode, 0);
  t.is(statusMap((await env.r(['status', uuid])).stdout).get('state'), 'running', 'gc never touches a running pod');
  t.is((await env.r(['stop', uuid])).exitCode, 0);
  const after = statusMap((await env.r(['status', uuid])).stdout);
  t.is(after.get('state'), 'exited');
  t.false(after.has('app-sleeper'));
  const gc = await env.r(['gc', '--grace-period=0s']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.deepEqual(podsOnDisk(env), []);
  t.deepEqual(hostMountsUnder(env.dir), []);
});

// ---------------------------------------------------------------------------------------------------------
// More of what works on fly pods: an OCI image's layer stack, --interactive, rkt rm

podTest(title('an OCI image (oci: layout, two layers): the app\'s root is the layers stacked, the config\'s env and working dir apply'), async (t) => {
  const env = await podEnv(t);
  const layout = env.file('layout');
  const top = layerTar(env.dir, [{ path: 'srv/top', content: 'from the top layer\n' }, { path: 'etc/os-release', content: 'ID=top\n' }]);
  const img = writeImage(layout, { layers: [{ tar: busyboxLayer(env.dir) }, { tar: top }], config: { Env: ['FROM_CONFIG=yes'], WorkingDir: '/srv', Cmd: ['/bin/sh'] } });
  writeLayout(layout, { v1: img });
  const res = await fly(env, [`oci:${layout}:v1`, '--exec=/bin/sh', '--', '-c', 'pwd; cat top /etc/os-release; echo $FROM_CONFIG']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, '/srv\nfrom the top layer\nID=top\nyes\n');
});

podTest(title('--interactive: the app reads rkt run\'s stdin (without it, stdin is /dev/null)'), async (t) => {
  const env = await podEnv(t);
  const piped = await rkt([`--dir=${env.data}`, INSECURE, 'run', FLY, '--interactive', await plain(), '--exec=/bin/cat'], { input: 'typed\n' });
  t.is(piped.exitCode, 0, piped.stderr);
  t.is(piped.stdout, 'typed\n');
  const closed = await rkt([`--dir=${env.data}`, INSECURE, 'run', FLY, await plain(), '--exec=/bin/cat'], { input: 'ignored\n' });
  t.is(closed.exitCode, 0, closed.stderr);
  t.is(closed.stdout, '');
});

podTest(title('rkt rm removes an exited fly pod and refuses a running one'), async (t) => {
  const env = await podEnv(t);
  const { uuid, bg } = await startSleeper(env);
  const busy = await env.r(['rm', uuid]);
  t.not(busy.exitCode, 0);
  t.regex(busy.stderr, /it is running/);
  await env.r(['stop', uuid]);
  await bg.exit;
  const rm = await env.r(['rm', uuid]);
  t.is(rm.exitCode, 0, rm.stderr);
  t.deepEqual(podsOnDisk(env), []);
});

podTest(title('selection: --stage1-name looks in the stage1 images directory of paths.d first (a broken file there is named in the error)'), async (t) => {
  const env = await podEnv(t);
  const conf = env.file('conf');
  const images = env.file('stage1-images');
  mkdirSync(path.join(conf, 'paths.d'), { recursive: true });
  mkdirSync(images);
  writeFileSync(path.join(conf, 'paths.d', 'paths.json'), JSON.stringify({ rktKind: 'paths', rktVersion: 'v1', 'stage1-images': images }));
  writeFileSync(path.join(images, 'stage1-fly.aci'), 'not an image\n');
  const broken = await env.run([`--local-config=${conf}`, FLY, await plain(), '--exec=/bin/true']);
  t.is(broken.exitCode, 254);
  t.true(broken.stderr.includes(path.join(images, 'stage1-fly.aci')), broken.stderr);
  writeFileSync(path.join(images, 'stage1-fly.aci'), readFileSync(path.join(REPO, 'build/stage1-fly.aci')));
  const res = await env.run([`--local-config=${conf}`, FLY, await plain(), '--exec=/bin/true']);
  t.is(res.exitCode, 0, res.stderr);
});

podTest(title('fly: a mount point no volume satisfies gets its implicit empty volume, said on stderr as for any pod'), async (t) => {
  const env = await podEnv(t);
  const res = await fly(env, [await handlers()]);
  t.is(res.exitCode, 5, res.stderr);
  t.regex(res.stderr, /^rkt: warning: no volume given for mount point "data" \(\/data\) of app fly-handlers: made the empty volume "fly-handlers-data"/m);
});
