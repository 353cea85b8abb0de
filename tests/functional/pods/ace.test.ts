// App Container Executor requirements (appc 0.8.11, "App Container Executor") that no other pod test covers:
// each test is a row of Documentation/ace.md. Apps write what they see into a host volume; the test reads it.
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { podEnv, podTest, sharedImage, title, type PodEnv } from '../../lib/pods.js';

const plain = sharedImage({ name: 'example.com/ace' });
const handlers = sharedImage({
  name: 'example.com/ace-handlers',
  user: '65534', group: '65534',
  exec: ['/bin/sh', '-c', 'id -u > /out/app-uid; cat /pre-made > /out/app-saw-pre 2>&1; echo app > /written-by-app 2>/out/app-write-err; echo $? > /out/app-write-rc'],
  mountPoints: [{ name: 'out', path: '/out' }],
  eventHandlers: [
    { name: 'pre-start', exec: ['/bin/sh', '-c', 'id -u > /out/pre-uid; echo from-pre-start > /pre-made'] },
    { name: 'post-stop', exec: ['/bin/sh', '-c', 'id -u > /out/post-uid; cat /pre-made > /out/post-saw-pre'] },
  ],
});
const workdir = sharedImage({ name: 'example.com/ace-workdir', workingDirectory: '/tmp' });

/** A host directory every app of the pod mounts at /out (world-writable: apps may run as nobody). */
function outVolume(env: PodEnv): { args: string[]; read: (f: string) => string } {
  const vol = env.file('out');
  mkdirSync(vol);
  chmodSync(vol, 0o777);
  return { args: [`--volume=out,kind=host,source=${vol}`, '--mount=volume=out,target=/out'], read: (f) => readFileSync(path.join(vol, f), 'utf8').trim() };
}

const NS = 'for n in pid ipc uts net; do echo "$n $(readlink /proc/self/ns/$n)"; done';

podTest(title("the apps of a pod share its PID, IPC, UTS and network namespaces, which are not the host's"), async (t) => {
  const env = await podEnv(t);
  const out = outVolume(env);
  const res = await env.run([...out.args, '--net=host', await plain(), '--name=a', '--exec=/bin/sh', '--', '-c', `${NS} > /out/a`,
    '---', await plain(), '--name=b', '--exec=/bin/sh', '--', '-c', `${NS} > /out/b`]);
  t.is(res.exitCode, 0, res.stderr);
  const a = out.read('a');
  t.regex(a, /^pid pid:\[\d+\]$/m);
  t.is(out.read('b'), a, 'the same four namespaces');
  for (const n of ['pid', 'ipc', 'uts']) t.false(a.includes(readlinkSync(`/proc/self/ns/${n}`)), `the pod's ${n} namespace is its own`);
  t.true(a.includes(`net ${readlinkSync('/proc/self/ns/net')}`), '--net=host: the host network namespace');
});

podTest(title("pre-start and post-stop run as root in the app's writable root filesystem, before and after an app that runs as nobody"), async (t) => {
  const env = await podEnv(t);
  const out = outVolume(env);
  const res = await env.run([out.args[0] ?? '', await handlers()]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(out.read('pre-uid'), '0', 'pre-start runs as root');
  t.is(out.read('post-uid'), '0', 'post-stop runs as root');
  t.is(out.read('app-uid'), '65534', 'the app as its user');
  t.is(out.read('app-saw-pre'), 'from-pre-start', "pre-start wrote into the app's root before the app ran");
  t.is(out.read('post-saw-pre'), 'from-pre-start', "post-stop runs in the same root");
  t.not(out.read('app-write-rc'), '0', 'nobody cannot write to / (root-owned): the handler could because it is root');
});

podTest(title('a kind=empty volume is empty when the pod starts, with the mode, uid and gid given'), async (t) => {
  const env = await podEnv(t);
  const out = outVolume(env);
  const res = await env.run([...out.args, '--volume=data,kind=empty,mode=0750,uid=12,gid=34', '--mount=volume=data,target=/data',
    await plain(), '--exec=/bin/sh', '--', '-c', 'ls -A /data | wc -l > /out/count; stat -c "%a %u %g" /data > /out/stat']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(out.read('count'), '0');
  t.is(out.read('stat'), '750 12 34');
});

podTest(title("mount points appear in /proc/self/mountinfo at the manifest's paths, read-only exactly when asked"), async (t) => {
  const env = await podEnv(t);
  const out = outVolume(env);
  const rw = env.file('rw');
  const ro = env.file('ro');
  mkdirSync(rw);
  mkdirSync(ro);
  const res = await env.run([...out.args, `--volume=rw,kind=host,source=${rw}`, `--volume=ro,kind=host,source=${ro},readOnly=true`,
    '--mount=volume=rw,target=/srv/rw', '--mount=volume=ro,target=/srv/ro',
    await plain(), '--exec=/bin/sh', '--', '-c', 'cat /proc/self/mountinfo > /out/mountinfo']);
  t.is(res.exitCode, 0, res.stderr);
  // mountinfo: id parent major:minor root mount-point options …
  const options = (mp: string) => out.read('mountinfo').split('\n').map((l) => l.split(' ')).filter((f) => f[4] === mp).map((f) => (f[5] ?? '').split(','));
  const rwOpts = options('/srv/rw');
  const roOpts = options('/srv/ro');
  t.is(rwOpts.length, 1, 'one mount at /srv/rw');
  t.is(roOpts.length, 1, 'one mount at /srv/ro');
  t.true(rwOpts[0]?.includes('rw'));
  t.true(roOpts[0]?.includes('ro'));
});

podTest(title("the working directory is the image's workingDirectory, --working-dir replaces it, / without either"), async (t) => {
  const env = await podEnv(t);
  const out = outVolume(env);
  const res = await env.run([...out.args, await workdir(), '--name=image', '--exec=/bin/sh', '--', '-c', 'pwd > /out/image',
    '---', await workdir(), '--name=flag', '--working-dir=/etc', '--exec=/bin/sh', '--', '-c', 'pwd > /out/flag',
    '---', await plain(), '--name=none', '--exec=/bin/sh', '--', '-c', 'pwd > /out/none']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(out.read('image'), '/tmp');
  t.is(out.read('flag'), '/etc');
  t.is(out.read('none'), '/');
});

const resolvTest = existsSync('/etc/resolv.conf') ? podTest : podTest.skip;
const resolvTitle = existsSync('/etc/resolv.conf') ? '' : ' (skipped: this host has no /etc/resolv.conf to copy)';
resolvTest(title(`--net=host: an image without /etc/resolv.conf gets the host's${resolvTitle}`), async (t) => {
  const env = await podEnv(t);
  const hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
  const out = outVolume(env);
  const res = await env.run([...out.args, '--net=host', await plain(), '--exec=/bin/sh', '--', '-c', 'cat /etc/resolv.conf > /out/resolv']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(out.read('resolv'), hostResolv.trim());
});
