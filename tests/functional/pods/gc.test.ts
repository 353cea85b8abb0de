// rkt gc and rkt rm: exited pods are marked, then removed after the grace period; running pods are never
// touched; and a pod whose rkt run was killed keeps running, then is collected once it ends.
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { closePodDir, openPodDir, tryLockFd } from '../../../src/pod/lock.js';
import { podEnv, podPath, podTest, sharedImage, statusMap, title, waitRunning } from '../../lib/pods.js';

const busybox = sharedImage();
const listStates = async (r: (a: string[]) => Promise<{ stdout: string }>): Promise<Record<string, string>> =>
  Object.fromEntries((JSON.parse((await r(['list', '--format=json'])).stdout) as { name: string; state: string }[]).map((p) => [p.name, p.state]));

podTest(title('gc --mark-only marks an exited pod (exited-garbage) and keeps it; gc keeps a fresh mark; --grace-period=0s removes it'), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  const res = await env.run([`--uuid-file-save=${uuidFile}`, await busybox(), '--exec=/bin/true']);
  t.is(res.exitCode, 0, res.stderr);
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  t.deepEqual(await listStates(env.r), { [uuid]: 'exited' });

  const mark = await env.r(['gc', '--mark-only']);
  t.is(mark.exitCode, 0, mark.stderr);
  t.is(mark.stderr, `moving pod ${uuid} to garbage\n`);
  t.deepEqual(await listStates(env.r), { [uuid]: 'exited-garbage' });
  t.true(existsSync(podPath(env, 'exited-garbage', uuid)));
  t.false(existsSync(podPath(env, 'run', uuid)));
  t.is(statusMap((await env.r(['status', uuid])).stdout).get('app-busybox'), '0', 'a marked pod still has its status');

  const gc = await env.r(['gc']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.deepEqual(await listStates(env.r), { [uuid]: 'exited-garbage' }, 'marked just now: within the default grace period');
  t.true(existsSync(podPath(env, 'exited-garbage', uuid)));

  const now = await env.r(['gc', '--grace-period=0s']);
  t.is(now.exitCode, 0, now.stderr);
  t.is(now.stderr, `garbage collecting pod ${uuid}\n`);
  t.deepEqual(await listStates(env.r), {});
  t.false(existsSync(podPath(env, 'exited-garbage', uuid)), 'the pod directory is gone');
  const st = await env.r(['status', uuid]);
  t.is(st.exitCode, 254);
  t.regex(st.stderr, /^rkt: no pod/);
});

podTest(title('gc never touches a running pod; rm of a running pod fails (exit 1) naming it; rm of an exited pod removes it'), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  const bg = env.spawnRun([`--uuid-file-save=${uuidFile}`, await busybox(), '--exec=/bin/sleep', '--', '86400']);
  const uuid = await waitRunning(env, uuidFile, bg);

  const gc = await env.r(['gc', '--grace-period=0s', '--expire-prepared=0s']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.is(gc.stderr, '');
  t.deepEqual(await listStates(env.r), { [uuid]: 'running' });
  t.true(existsSync(podPath(env, 'run', uuid)));
  t.false(bg.hasExited());

  const rm = await env.r(['rm', uuid]);
  t.is(rm.exitCode, 1);
  t.is(rm.stdout, '');
  t.regex(rm.stderr, new RegExp(`^rkt: cannot remove pod ${uuid}: it is running\\n`));
  t.deepEqual(await listStates(env.r), { [uuid]: 'running' });

  t.is((await env.r(['stop', uuid])).exitCode, 0);
  await bg.exit;
  const rm2 = await env.r(['rm', uuid]);
  t.is(rm2.exitCode, 0, rm2.stderr);
  t.is(rm2.stdout, `${uuid}\n`);
  t.deepEqual(await listStates(env.r), {});
  t.false(existsSync(podPath(env, 'run', uuid)));
  t.false(existsSync(podPath(env, 'exited-garbage', uuid)));
});

podTest(title('rkt run killed with SIGKILL: the pod keeps running, is listed running, then exited once it ends; gc collects it'), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  // The app ends when the test lets it: once a file appears in its volume.
  const ctl = env.file('ctl');
  mkdirSync(ctl);
  const bg = env.spawnRun([`--uuid-file-save=${uuidFile}`, `--volume=ctl,kind=host,source=${ctl}`, await busybox(), '--mount=volume=ctl,target=/ctl',
    '--exec=/bin/sh', '--', '-c', 'while [ ! -e /ctl/go ]; do sleep 0.1; done; echo finished']);
  const uuid = await waitRunning(env, uuidFile, bg);
  bg.child.kill('SIGKILL');
  const exit = await bg.exit;
  t.is(exit.signal, 'SIGKILL');
  const m = statusMap((await env.r(['status', uuid])).stdout);
  t.is(m.get('state'), 'running', 'the pod outlives its rkt run');
  t.true(existsSync(`/proc/${m.get('pid') ?? 'x'}`));
  t.deepEqual(await listStates(env.r), { [uuid]: 'running' });

  writeFileSync(path.join(ctl, 'go'), '');
  const waited = await env.r(['status', '--wait=30s', uuid]);
  t.is(waited.exitCode, 0, waited.stderr);
  const after = statusMap(waited.stdout);
  t.is(after.get('state'), 'exited');
  t.is(after.get('app-busybox'), '0', 'the app ran to its end');
  t.deepEqual(await listStates(env.r), { [uuid]: 'exited' });
  t.is((await bg.done).stdout, 'finished\n', "the app's output still reached the killed rkt's stdout");

  const gc = await env.r(['gc', '--grace-period=0s']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.is(gc.stderr, `moving pod ${uuid} to garbage\ngarbage collecting pod ${uuid}\n`);
  t.deepEqual(await listStates(env.r), {});
  t.false(existsSync(podPath(env, 'run', uuid)));
  t.false(existsSync(podPath(env, 'exited-garbage', uuid)));
});

podTest(title('gc collects an abandoned embryo (unlocked, ten minutes old or more), not a fresh one, nor one its creator holds'), async (t) => {
  const env = await podEnv(t);
  const hourAgo = new Date(Date.now() - 3_600_000);
  const embryo = (uuid: string, created: Date | undefined) => {
    const dir = podPath(env, 'embryo', uuid);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'uuid'), `${uuid}\n`);
    if (created !== undefined) writeFileSync(path.join(dir, 'created'), `${created.toISOString()}\n`);
    return dir;
  };
  const old = '0e000000-0000-4000-8000-000000000001';
  const oldNoCreated = '0e000000-0000-4000-8000-000000000002';
  const fresh = '0e000000-0000-4000-8000-000000000003';
  const held = '0e000000-0000-4000-8000-000000000004';
  embryo(old, hourAgo);
  utimesSync(embryo(oldNoCreated, undefined), hourAgo, hourAgo); // its rkt died before writing created
  embryo(fresh, new Date());
  const fd = openPodDir(embryo(held, hourAgo)); // a creator, alive, holding the lock
  t.teardown(() => closePodDir(fd));
  t.true(await tryLockFd(fd));

  const gc = await env.r(['gc', '--grace-period=0s']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.deepEqual(gc.stderr.trimEnd().split('\n').sort(), [`garbage collecting pod ${old}`, `garbage collecting pod ${oldNoCreated}`]);
  for (const uuid of [old, oldNoCreated]) {
    t.false(existsSync(podPath(env, 'embryo', uuid)), uuid);
    t.false(existsSync(podPath(env, 'garbage', uuid)), uuid);
  }
  t.true(existsSync(podPath(env, 'embryo', fresh)), 'a fresh embryo is being created');
  t.true(existsSync(podPath(env, 'embryo', held)), 'a locked one has its creator');
  t.deepEqual(await listStates(env.r), { [fresh]: 'embryo', [held]: 'embryo' });
});
