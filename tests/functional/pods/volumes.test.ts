// Volumes: host directories (read-write and read-only), empty volumes shared by apps, and the errors for a
// mount point no volume satisfies and for a host source that does not exist.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { podEnv, podTest, sharedImage, title } from '../../lib/pods.js';

const busybox = sharedImage();
const needsVolume = sharedImage({ name: 'example.com/needs-volume', mountPoints: [{ name: 'needed', path: '/needed' }] });

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

podTest(title('an image mount point that no volume satisfies is an error naming it (254)'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run([await needsVolume()]);
  t.is(res.exitCode, 254);
  t.is(res.stdout, '');
  t.regex(res.stderr, /^rkt: app needs-volume: mount point "needed" \(\/needed\) of image example\.com\/needs-volume is not satisfied\n/);
  t.regex(res.stderr, /\nrkt: add --volume needed,kind=host,source=\/path or --volume needed,kind=empty\n$/);
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
