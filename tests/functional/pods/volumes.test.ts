// Volumes: host directories (read-write and read-only), empty volumes shared by apps, the implicit empty volume
// of a mount point no volume satisfies (an OCI image's filled with the image's content there), and the errors
// for a mount of an unknown volume and for a host source that does not exist.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { busyboxLayer, writeImage, writeLayout } from '../../lib/oci.js';
import { podEnv, podTest, sharedImage, title } from '../../lib/pods.js';

const busybox = sharedImage();
const needsVolume = sharedImage({ name: 'example.com/needs-volume', mountPoints: [{ name: 'needed', path: '/needed' }], files: { '/needed/from-image': 'an ACI\'s volume starts empty\n' } });

podTest(title('a host volume mounted with --mount: what the app writes appears on the host'), async (t) => {
  const env = await podEnv(t);
  const vol = env.file('vol');
  mkdirSync(vol);
  const res = await env.run([`--volume=data,kind=host,source=${vol}`, await busybox(), '--mount=volume=data,target=/data',
    '--exec=/bin/sh', '--', '-c', 'echo written-by-app > /data/out; ls /data']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'out\n');
  t.is(readFileSync(path.join(vol, 'out'), 'utf8'), 'written-by-app\n');
});

podTest(title('a readOnly=true host volume: the write fails, the app exits non-zero, nothing appears on the host'), async (t) => {
  const env = await podEnv(t);
  const vol = env.file('vol');
  mkdirSync(vol);
  const res = await env.run([`--volume=data,kind=host,source=${vol},readOnly=true`, await busybox(), '--mount=volume=data,target=/data',
    '--exec=/bin/sh', '--', '-c', 'echo x > /data/out']);
  t.not(res.exitCode, 0, 'the app could write to a read-only volume');
  t.not(res.exitCode, 254, 'rkt itself did not fail: the app did');
  t.regex(res.stderr, /Read-only file system/);
  t.deepEqual(readdirSync(vol), []);
});

podTest(title('a kind=empty volume mounted for every app is shared: one app writes, the other reads'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const res = await env.run(['--volume=shared,kind=empty', '--mount=volume=shared,target=/shared',
    img, '--name=writer', '--exec=/bin/sh', '--', '-c', 'echo hello-from-writer > /shared/msg.tmp && mv /shared/msg.tmp /shared/msg', '---',
    img, '--name=reader', '--exec=/bin/sh', '--', '-c', 'i=0; while [ ! -e /shared/msg ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; cat /shared/msg']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'hello-from-writer\n');
});

podTest(title('an image mount point that no volume satisfies gets an empty volume of its own: said on stderr, in the pod manifest, in the pod directory'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run(['--uuid-file-save=' + env.file('uuid'), await needsVolume(), '--exec=/bin/sh', '--',
    '-c', 'ls -A /needed; echo kept > /needed/out; stat -c "%a %u:%g" /needed']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, '755 0:0\n', 'empty (the image\'s own /needed/from-image is hidden), 0755 root:root');
  t.regex(res.stderr, /^rkt: warning: no volume given for mount point "needed" \(\/needed\) of app needs-volume: made the empty volume "needs-volume-needed"; it is removed with the pod \(give --volume to keep the data\)$/m);
  const uuid = readFileSync(env.file('uuid'), 'utf8').trim();
  const pm = JSON.parse((await env.r(['cat-manifest', uuid])).stdout) as { volumes?: unknown[]; apps: { mounts: unknown[] }[] };
  t.deepEqual(pm.volumes, [{ name: 'needs-volume-needed', kind: 'empty', mode: '0755', uid: 0, gid: 0 }]);
  t.deepEqual(pm.apps[0]?.mounts, [{ volume: 'needs-volume-needed', path: '/needed' }]);
  const podDir = path.join(env.data, 'pods/exited-garbage', uuid);
  const inPod = existsSync(podDir) ? podDir : path.join(env.data, 'pods/run', uuid);
  t.is(readFileSync(path.join(inPod, 'volumes/needs-volume-needed/out'), 'utf8'), 'kept\n', 'the volume lives in the pod directory');
  const rm = await env.r(['rm', uuid]);
  t.is(rm.exitCode, 0, rm.stderr);
  t.false(existsSync(inPod), 'and goes with it');
});

podTest(title('two apps of one image each get their own implicit volume; a volume of the mount point\'s name still satisfies it'), async (t) => {
  const env = await podEnv(t);
  const img = await needsVolume();
  const res = await env.run(['--uuid-file-save=' + env.file('uuid'), img, '--name=a', '--exec=/bin/sh', '--', '-c', 'echo a > /needed/who', '---',
    img, '--name=b', '--exec=/bin/sh', '--', '-c', 'echo b > /needed/who']);
  t.is(res.exitCode, 0, res.stderr);
  const uuid = readFileSync(env.file('uuid'), 'utf8').trim();
  const pm = JSON.parse((await env.r(['cat-manifest', uuid])).stdout) as { volumes?: { name: string }[] };
  t.deepEqual(pm.volumes?.map((v) => v.name), ['a-needed', 'b-needed']);
  const given = await env.run(['--volume=needed,kind=empty', img, '--exec=/bin/true']);
  t.is(given.exitCode, 0, given.stderr);
  t.notRegex(given.stderr, /no volume given/);
});

/** An OCI layout in `dir` holding `vol:1`: busybox, and a layer with /data (0750), /data/seed (0640), /data/sub/ (0700), all 1234:1234; VOLUME /data. */
function ociImageWithVolume(dir: string): string {
  const tree = path.join(dir, 'layer');
  mkdirSync(path.join(tree, 'data/sub'), { recursive: true });
  writeFileSync(path.join(tree, 'data/seed'), 'from-the-image\n');
  chmodSync(path.join(tree, 'data'), 0o750);
  chmodSync(path.join(tree, 'data/seed'), 0o640);
  chmodSync(path.join(tree, 'data/sub'), 0o700);
  for (const p of ['data', 'data/seed', 'data/sub']) chownSync(path.join(tree, p), 1234, 1234);
  const tar = execFileSync('tar', ['-C', tree, '--numeric-owner', '-cf', '-', 'data'], { maxBuffer: 1 << 26 });
  const layout = path.join(dir, 'layout');
  const image = writeImage(layout, { layers: [{ tar: busyboxLayer(dir) }, { tar }], config: { Volumes: { '/data': {} }, Cmd: ['/bin/sh'] } });
  writeLayout(layout, { vol: image });
  return `oci:${layout}:vol`;
}

podTest(title('an OCI image\'s VOLUME with no volume given starts with the image\'s content there, owners and modes kept, a copy the pod owns'), async (t) => {
  const env = await podEnv(t);
  const ref = ociImageWithVolume(env.dir);
  const res = await env.run(['--uuid-file-save=' + env.file('uuid'), ref, '--name=web', '--exec=/bin/sh', '--', '-c',
    'cat /data/seed; stat -c "%n %a %u:%g" /data /data/sub; stat -c "%n %a %u:%g %h" /data/seed; echo changed > /data/seed']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'from-the-image\n/data 750 1234:1234\n/data/sub 700 1234:1234\n/data/seed 640 1234:1234 1\n', 'a copy: one link per file, not the store\'s');
  t.regex(res.stderr, /^rkt: warning: no volume given for mount point "volume-data" \(\/data\) of app web: made the empty volume "web-volume-data", holding a copy of what the image has at \/data \(an OCI image's volume\); it is removed with the pod/m);
  const uuid = readFileSync(env.file('uuid'), 'utf8').trim();
  const pm = JSON.parse((await env.r(['cat-manifest', uuid])).stdout) as { volumes?: unknown[] };
  t.deepEqual(pm.volumes, [{ name: 'web-volume-data', kind: 'empty', mode: '0755', uid: 0, gid: 0 }]);
  const again = await env.run([ref, '--name=web', '--exec=/bin/cat', '--', '/data/seed']);
  t.is(again.stdout, 'from-the-image\n', 'the next pod starts from the image again: the first one changed only its own copy');
});

podTest(title('a --mount of a volume no --volume declares is an error naming it (254)'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run([await busybox(), '--mount=volume=nowhere,target=/data', '--exec=/bin/true']);
  t.is(res.exitCode, 254);
  t.is(res.stdout, '');
  t.regex(res.stderr, /^rkt: app busybox: mount of unknown volume "nowhere"\n/);
  t.false(existsSync(path.join(env.data, 'pods/run')), 'no pod ran');
});

podTest(title('a host volume whose source does not exist is an error naming it (254)'), async (t) => {
  const env = await podEnv(t);
  const missing = env.file('does-not-exist');
  const res = await env.run([`--volume=data,kind=host,source=${missing}`, await busybox(), '--mount=volume=data,target=/data', '--exec=/bin/true']);
  t.is(res.exitCode, 254);
  t.is(res.stdout, '');
  t.regex(res.stderr, new RegExp(`^rkt: volume data: host source ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} does not exist\\n`));
  t.false(existsSync(path.join(env.data, 'pods/run')), 'no pod ran');
});

// A hostile image: its mount points are symlinks that climb out of the app's root. nspawn would follow them
// from the stage1's root (its own /etc); stage0 follows them inside the app's root, as the app would.
const climbing = sharedImage({
  name: 'example.com/climbing-mounts',
  mountPoints: [{ name: 'up', path: '/data' }, { name: 'abs', path: '/logs/app' }],
  files: { '/data': { symlink: '../../../../../../etc' }, '/logs': { symlink: '/../../../../srv/rkt-escape' } },
});

podTest(title("mount points that are symlinks out of the app's root land inside it, where the app's own path leads; the stage1 is untouched"), async (t) => {
  const env = await podEnv(t);
  const up = env.file('up');
  const abs = env.file('abs');
  mkdirSync(up);
  mkdirSync(abs);
  writeFileSync(path.join(up, 'marker'), 'from the host volume\n');
  const res = await env.run([`--volume=up,kind=host,source=${up}`, `--volume=abs,kind=host,source=${abs}`, await climbing(), '--exec=/bin/sh', '--', '-c',
    'cat /etc/marker; cat /data/marker; echo written > /logs/app/out; ls /srv/rkt-escape/app/out; grep -c " /etc " /proc/self/mountinfo']);
  t.is(res.exitCode, 0, res.stderr);
  const lines = res.stdout.trim().split('\n');
  t.deepEqual(lines.slice(0, 4), ['from the host volume', 'from the host volume', '/srv/rkt-escape/app/out', '1'],
    "the volume is bound on the app's /etc (where /data leads inside its root), the absolute link's at the app's /srv/rkt-escape/app");
  t.is(readFileSync(path.join(abs, 'out'), 'utf8'), 'written\n', 'what the app wrote reached the host volume');
  t.false(existsSync('/srv/rkt-escape'), "nothing on the host's own /srv");
});
