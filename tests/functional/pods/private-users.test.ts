// --private-users: the pod in a user namespace of its own. Its root is root inside and an unprivileged UID
// range outside; what it writes is owned by that range on the host; its exit statuses are recorded as usual.
import { chmodSync, mkdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { podEnv, podPath, podTest, sharedImage, statusMap, title, until, waitRunning } from '../../lib/pods.js';

const busybox = sharedImage({ name: 'example.com/userns', files: { '/owned-by-1000': { content: 'x', uid: 1000, gid: 1000 } } });

/** The pod's UID/GID mapping as options.json records it. */
function shiftOf(pod: string): { base: number; range: number } {
  const o = JSON.parse(readFileSync(path.join(pod, 'options.json'), 'utf8')) as { privateUsers?: { base: number; range: number } };
  if (o.privateUsers === undefined) throw new Error(`${pod}/options.json has no privateUsers`);
  return o.privateUsers;
}

/** A world-writable host directory the app mounts at /out. */
function outVolume(dir: string): { args: string[]; read: (f: string) => string } {
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  return { args: [`--volume=out,kind=host,source=${dir}`, '--mount=volume=out,target=/out'], read: (f) => readFileSync(path.join(dir, f), 'utf8').trim() };
}

podTest(title("--private-users: the app is root in the pod and a shifted UID on the host; the image's owners are kept; the exit status passes"), async (t) => {
  const env = await podEnv(t);
  const out = outVolume(env.file('out'));
  const uuidFile = env.file('uuid');
  const res = await env.run(['--private-users', `--uuid-file-save=${uuidFile}`, ...out.args, await busybox(), '--exec=/bin/sh', '--', '-c',
    'id -u > /out/uid; cat /proc/self/uid_map > /out/map; stat -c "%u %g" /owned-by-1000 / > /out/owners; echo w > /written; exit 3']);
  t.is(res.exitCode, 3, res.stderr);
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  const pod = podPath(env, 'run', uuid);
  const { base, range } = shiftOf(pod);
  t.true(base >= 0x80000 && base % 0x10000 === 0 && range === 0x10000, `a 64 Ki range above nspawn's floor: ${base}/${range}`);
  t.is(out.read('uid'), '0', 'root inside');
  t.deepEqual(out.read('map').split(/\s+/).map(Number), [0, base, range], 'uid 0 inside is the base outside');
  t.is(out.read('owners'), '1000 1000\n0 0', "the image's owners as the image has them, inside");
  const written = statSync(path.join(pod, 'overlay', 'userns', 'upper', 'written'));
  t.is(written.uid, base, "what the pod's root writes is owned by the base on the host");
  const outFile = statSync(path.join(env.file('out'), 'uid'));
  t.is(outFile.uid, base, 'in a host volume too');
  const status = statusMap((await env.r(['status', uuid])).stdout);
  t.is(status.get('app-userns'), '3', 'the exit status is recorded');
});

podTest(title('--private-users: each pod gets a range of its own; an empty volume is owned by its uid and gid shifted; without the flag no user namespace'), async (t) => {
  const env = await podEnv(t);
  const out = outVolume(env.file('out'));
  const uuidFile = env.file('uuid');
  const bg = env.spawnRun(['--private-users', `--uuid-file-save=${uuidFile}`, '--volume=data,kind=empty,mode=0700,uid=1000,gid=1001', '--mount=volume=data,target=/data',
    ...out.args, await busybox(), '--user=1000', '--group=1001', '--exec=/bin/sh', '--', '-c', 'echo mine > /data/f && echo ok > /out/data-write; exec sleep 86400']);
  const first = await waitRunning(env, uuidFile, bg);
  const second = await env.run(['--private-users', await busybox(), '--exec=/bin/true']);
  t.is(second.exitCode, 0, second.stderr);
  const plain = await env.run([...out.args, await busybox(), '--exec=/bin/sh', '--', '-c', 'cat /proc/self/uid_map > /out/plain-map']);
  t.is(plain.exitCode, 0, plain.stderr);
  t.deepEqual(out.read('plain-map').split(/\s+/).map(Number), [0, 0, 4294967295], 'without --private-users: the host IDs');
  const list = (await env.r(['list', '--no-legend', '--full'])).stdout.split('\n').map((l) => l.split(/\s+/)[0] ?? '').filter((u) => u !== '');
  const bases = new Set(list.filter((u) => u !== '').flatMap((u) => {
    try {
      return [shiftOf(podPath(env, 'run', u)).base];
    } catch {
      return []; // the plain pod has none
    }
  }));
  t.is(bases.size, 2, 'two --private-users pods, two ranges');
  const { base } = shiftOf(podPath(env, 'run', first));
  await waitForOk(out.read);
  const vol = statSync(path.join(podPath(env, 'run', first), 'volumes', 'data'));
  t.deepEqual([vol.uid, vol.gid, vol.mode & 0o777], [base + 1000, base + 1001, 0o700], 'the empty volume: its uid/gid shifted, its mode');
  t.is(statSync(path.join(podPath(env, 'run', first), 'volumes', 'data', 'f')).uid, base + 1000, 'the app (uid 1000 inside) wrote into it');
  const entered = await env.r(['enter', first, '/bin/sh', '-c', 'id -u; cat /proc/self/uid_map']);
  t.is(entered.exitCode, 0, entered.stderr);
  t.deepEqual(entered.stdout.trim().split(/\s+/).map(Number), [0, 0, base, 0x10000], 'rkt enter joins the pod\'s user namespace, as its root');
  await env.r(['stop', first]);
  await bg.exit;
});

/** The app's "written into the volume" marker: the app writes it before it sleeps. */
async function waitForOk(read: (f: string) => string): Promise<void> {
  await until('the app wrote into its empty volume', 60_000, () => {
    try {
      return read('data-write') === 'ok';
    } catch {
      return false;
    }
  });
}

podTest(title('--private-users on a pod network: the pod joins its own network namespace (the launcher joins it, nspawn cannot from the user namespace)'), async (t) => {
  const env = await podEnv(t);
  const out = outVolume(env.file('out'));
  const res = await env.run(['--private-users', '--net=default', ...out.args, await busybox(), '--exec=/bin/sh', '--', '-c',
    'readlink /proc/self/ns/net > /out/net; ip -o -4 addr show | grep -v " lo " > /out/addr; cat /proc/self/uid_map > /out/map']);
  t.is(res.exitCode, 0, res.stderr);
  t.not(out.read('net'), readlinkSync('/proc/self/ns/net'), "the pod's own network namespace");
  t.regex(out.read('addr'), /inet 172\.16\.28\.\d+\//, "an address on rkt's default network");
  t.not(out.read('map').split(/\s+/)[1], '0', 'in its own user namespace');
});

podTest(title('run-prepared --private-users runs a pod prepared without it in a user namespace; =false the other way'), async (t) => {
  const env = await podEnv(t);
  const out = outVolume(env.file('out'));
  const app = async (name: string) => [...out.args, '--volume=data,kind=empty,uid=7,gid=8', '--mount=volume=data,target=/data', await busybox(), '--exec=/bin/sh', '--', '-c',
    `cat /proc/self/uid_map > /out/${name}; touch /data/f`];
  const plain = (await env.r(['prepare', '--quiet', '--insecure-options=image', '--net=host', ...(await app('plain'))])).stdout.trim();
  const res = await env.r(['run-prepared', '--private-users', plain]);
  t.is(res.exitCode, 0, res.stderr);
  const { base } = shiftOf(podPath(env, 'run', plain));
  t.deepEqual(out.read('plain').split(/\s+/).map(Number), [0, base, 0x10000], 'a prepared pod, run in a range of its own');
  t.is(statSync(path.join(podPath(env, 'run', plain), 'volumes', 'data')).uid, base + 7, 'its empty volume given to the range');
  const shifted = (await env.r(['prepare', '--quiet', '--insecure-options=image', '--net=host', '--private-users', ...(await app('shifted'))])).stdout.trim();
  const back = await env.r(['run-prepared', '--private-users=false', shifted]);
  t.is(back.exitCode, 0, back.stderr);
  t.deepEqual(out.read('shifted').split(/\s+/).map(Number), [0, 0, 4294967295], '=false: the host IDs');
  t.is(statSync(path.join(podPath(env, 'run', shifted), 'volumes', 'data')).uid, 7, 'its empty volume given back');
});

podTest(title('--private-users and the fly stage1 (no user namespace of its own): refused by run and by run-prepared, nothing left'), async (t) => {
  const env = await podEnv(t);
  const fly = '--stage1-name=coreos.com/rkt/stage1-fly';
  const run = await env.run(['--private-users', fly, await busybox(), '--exec=/bin/true']);
  t.is(run.exitCode, 2, run.stderr);
  t.regex(run.stderr, /^rkt: the fly stage1 runs its app in the host's user namespace: --private-users cannot be given$/m);
  const uuid = (await env.r(['prepare', '--quiet', '--insecure-options=image', fly, await busybox(), '--exec=/bin/true'])).stdout.trim();
  const rp = await env.r(['run-prepared', '--private-users', uuid]);
  t.is(rp.exitCode, 2, rp.stderr);
  t.regex(rp.stderr, /runs on the fly stage1: .*--private-users/);
  t.regex((await env.r(['status', uuid])).stdout, /^state=prepared$/m, 'the pod stays prepared');
});
