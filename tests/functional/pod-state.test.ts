import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RktError } from '../../src/common/errors.js';
import { CREATED_FILE, STARTED_FILE, UUID_FILE, podDir, podStateDir } from '../../src/pod/layout.js';
import { closePodDir, isLocked, openPodDir, tryLockFd } from '../../src/pod/lock.js';
import {
  createEmbryo,
  getPod,
  listPods,
  readAppStatuses,
  readTimestamp,
  readUuidFile,
  removePodDir,
  toExitedGarbage,
  toGarbage,
  toPrepare,
  toPrepared,
  toRun,
  writeTimestamp,
  writeUuidFile,
} from '../../src/pod/pods.js';
import { REPO, functionalSkipReason, runCmd, tempDir } from '../lib/rkt.js';
import { until } from '../lib/wait.js';

const skip = functionalSkipReason();
const t0 = skip === undefined ? test : test.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);

function dataDir(t: ExecutionContext): string {
  const { dir, cleanup } = tempDir('rkt-pod-');
  t.teardown(cleanup);
  return path.join(dir, 'data');
}

/** `flock -x <dir> <command>` in its own process group; resolves once the lock is held. */
async function holdLock(t: ExecutionContext, dir: string): Promise<ChildProcess> {
  const child = spawn('flock', ['--exclusive', dir, 'sh', '-c', 'echo locked; exec sleep 30'], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => killGroup(child));
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`flock(1) exited (${code}) before taking the lock`)));
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      if (s.includes('locked')) resolve();
    });
  });
  return child;
}

/** Kill flock(1) and the command it runs (which inherited the locked descriptor), and wait for both. */
async function killGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
  await exited;
  // sleep(1), the group's other member, may outlive flock(1) by an instant: wait until the lock is free.
  const group = String(child.pid);
  await until(`process group ${group} is gone`, 30_000, () => spawnSync('pgrep', ['-g', group]).status !== 0, 20);
}

/** Exit status of `flock --nonblock <dir> true`: 0 if the lock was free, 1 if held. */
function flockProbe(dir: string): number | null {
  return spawnSync('flock', ['--exclusive', '--nonblock', dir, 'true']).status;
}

async function stateOf(data: string, uuid: string): Promise<string | undefined> {
  return (await listPods(data)).find((p) => p.uuid === uuid)?.state;
}

t0(title('a pod goes embryo → preparing → prepared → running → exited → exited-garbage, as listPods shows'), async (t) => {
  const data = dataDir(t);
  const before = new Date();
  const { uuid, dir, lockFd } = await createEmbryo(data);
  const after = new Date();
  t.is(dir, podDir(data, 'embryo', uuid));
  t.is(statSync(dir).mode & 0o7777, 0o750);
  for (const d of ['pods', 'pods/embryo']) t.is(statSync(path.join(data, d)).mode & 0o7777, 0o750, d);
  t.is(readFileSync(path.join(dir, UUID_FILE), 'utf8'), `${uuid}\n`);
  t.regex(readFileSync(path.join(dir, CREATED_FILE), 'utf8'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n$/);
  const created = await readTimestamp(dir, CREATED_FILE);
  t.true(created !== undefined && created >= before && created <= after, `created ${created?.toISOString()}, made between ${before.toISOString()} and ${after.toISOString()}`);

  t.like((await listPods(data))[0], { uuid, state: 'embryo', locked: true, dir });
  const preparing = await toPrepare(data, uuid, lockFd);
  t.is(preparing, podDir(data, 'prepare', uuid));
  t.false(existsSync(dir));
  t.is(await stateOf(data, uuid), 'preparing');
  t.is(flockProbe(preparing), 1, 'the lock follows the directory through the rename');

  const prepared = await toPrepared(data, uuid, lockFd);
  t.is(await stateOf(data, uuid), 'prepared', 'still locked, but a prepared pod is prepared');
  closePodDir(lockFd);
  t.like(await getPod(data, uuid), { state: 'prepared', locked: false, dir: prepared });

  const runFd = openPodDir(prepared);
  const running = await toRun(data, uuid, runFd);
  t.is(running, podDir(data, 'run', uuid));
  await writeTimestamp(running, STARTED_FILE, new Date('2024-05-06T07:08:09.123Z'));
  mkdirSync(path.join(running, 'status'));
  writeFileSync(path.join(running, 'status', 'web'), '0\n');
  writeFileSync(path.join(running, 'status', 'worker'), '3');
  writeFileSync(path.join(running, 'status', '.worker.tmp-1-abcd'), '');
  writeFileSync(path.join(running, 'pid'), '4242\n');
  const info = await getPod(data, uuid);
  t.like(info, { state: 'running', locked: true, pid: 4242 });
  t.is(info.started?.toISOString(), '2024-05-06T07:08:09.123Z');
  t.deepEqual([...info.appStatuses], [['web', 0], ['worker', 3]]);

  await t.throwsAsync(toExitedGarbage(data, uuid), { instanceOf: RktError, message: `pod ${uuid} is running, not exited` });
  closePodDir(runFd);
  t.is(await stateOf(data, uuid), 'exited');
  const collected = await toExitedGarbage(data, uuid);
  t.is(collected, podDir(data, 'exited-garbage', uuid));
  t.is(await stateOf(data, uuid), 'exited-garbage');
  t.is(flockProbe(collected), 0, 'gc dropped the lock it took to move the pod');
  await removePodDir(collected);
  t.false(existsSync(collected));
  t.deepEqual(await listPods(data), []);
});

t0(title('rkt run goes straight from preparing to running; an aborted prepare is garbage'), async (t) => {
  const data = dataDir(t);
  const a = await createEmbryo(data);
  await toPrepare(data, a.uuid, a.lockFd);
  t.is(await toRun(data, a.uuid, a.lockFd), podDir(data, 'run', a.uuid));
  t.is(await stateOf(data, a.uuid), 'running');
  closePodDir(a.lockFd);
  t.is(await stateOf(data, a.uuid), 'exited');

  const b = await createEmbryo(data);
  await toPrepare(data, b.uuid, b.lockFd);
  closePodDir(b.lockFd); // rkt prepare died
  t.is(await stateOf(data, b.uuid), 'aborted-prepare');
  const garbage = await toGarbage(data, b.uuid);
  t.is(garbage, podDir(data, 'garbage', b.uuid));
  t.is(await stateOf(data, b.uuid), 'garbage');
  await t.throwsAsync(toGarbage(data, a.uuid), { instanceOf: RktError, code: 'EPODSTATE', message: `pod ${a.uuid} is exited, not aborted-prepare or prepared` });
});

t0(title('a pod in run/ is running while another process holds its lock, exited once that process is killed'), async (t) => {
  const data = dataDir(t);
  const uuid = '0a1b2c3d-0000-4000-8000-000000000001';
  const dir = podDir(data, 'run', uuid);
  mkdirSync(dir, { recursive: true });
  t.is(await stateOf(data, uuid), 'exited');
  const holder = await holdLock(t, dir);
  t.true(isLocked(dir));
  t.like(await getPod(data, '0a1b'), { state: 'running', locked: true });
  await t.throwsAsync(toExitedGarbage(data, uuid), { instanceOf: RktError, code: 'EPODSTATE', message: `pod ${uuid} is running, not exited` });
  await killGroup(holder);
  t.false(isLocked(dir));
  t.is(await stateOf(data, uuid), 'exited');
});

t0(title('tryLockFd: false while another process holds the lock; a lock it takes is held until the fd closes'), async (t) => {
  const data = dataDir(t);
  const dir = podDir(data, 'prepared', '0a1b2c3d-0000-4000-8000-000000000002');
  mkdirSync(dir, { recursive: true });

  const holder = await holdLock(t, dir);
  const fd = openPodDir(dir);
  t.false(await tryLockFd(fd));
  await killGroup(holder);
  t.true(await tryLockFd(fd));
  t.true(await tryLockFd(fd), 'taking it again through the same description succeeds');
  t.is(flockProbe(dir), 1, 'flock -n <dir> true sees our lock');
  t.true(isLocked(dir), 'isLocked sees it');
  const other = openPodDir(dir);
  t.false(await tryLockFd(other), 'another description of the same directory cannot take it');
  closeSync(other);
  closePodDir(fd);
  t.is(flockProbe(dir), 0, 'closing the fd released it');
  t.false(isLocked(dir));
});

t0(title('a lock handed to a child process lives as long as the child holds the descriptor'), async (t) => {
  const data = dataDir(t);
  const uuid = '0a1b2c3d-0000-4000-8000-000000000003';
  const dir = podDir(data, 'prepared', uuid);
  mkdirSync(dir, { recursive: true });
  const fd = openPodDir(dir);
  await toRun(data, uuid, fd);
  const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
  t.teardown(() => child.kill('SIGKILL'));
  closePodDir(fd);
  t.is(await stateOf(data, uuid), 'running', 'the stage1 stand-in holds the lock');
  const gone = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await gone;
  t.is(await stateOf(data, uuid), 'exited');
});

t0(title('inside a new pid namespace, a lock whose taker has exited (hidden from /proc/locks there) is still seen'), async (t) => {
  const data = dataDir(t);
  const dir = podDir(data, 'run', '0a1b2c3d-0000-4000-8000-000000000004');
  const orphan = podDir(data, 'run', '0a1b2c3d-0000-4000-8000-000000000007');
  for (const d of [dir, orphan]) mkdirSync(d, { recursive: true });
  // dir: locked by this process (rkt's own flock(2)). orphan: locked as a pod is once the rkt that took its lock
  // has exited (here flock(1), which exits at once), the descriptor held by this process as a stage1 holds it.
  const script = `
    const lock = await import(${JSON.stringify(path.join(REPO, 'src/pod/lock.ts'))});
    const { openSync } = await import('node:fs');
    const { spawnSync } = await import('node:child_process');
    const dir = ${JSON.stringify(dir)}, orphan = ${JSON.stringify(orphan)};
    const before = lock.isLocked(dir);
    const fd = lock.openPodDir(dir);
    const took = await lock.tryLockFd(fd);
    const during = lock.isLocked(dir);
    lock.closePodDir(fd);
    const after = lock.isLocked(dir);
    const ofd = openSync(orphan, 'r');
    const orphanTook = spawnSync('flock', ['--exclusive', '--nonblock', '3'], { stdio: ['ignore', 'ignore', 'inherit', ofd] }).status === 0;
    const orphanLocked = lock.isLocked(orphan);
    console.log(JSON.stringify({ before, took, during, after, orphanTook, orphanLocked }));`;
  const res = await runCmd('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO });
  t.is(res.exitCode, 0, res.stderr);
  t.deepEqual(JSON.parse(res.stdout), { before: false, took: true, during: true, after: false, orphanTook: true, orphanLocked: true });
});

t0(title('rkt status and rkt list tell running from exited without running any program, and leave no lock behind'), async (t) => {
  const data = dataDir(t);
  const exited = '0a1b2c3d-0000-4000-8000-000000000005';
  const running = '0a1b2c3d-0000-4000-8000-000000000006';
  for (const uuid of [exited, running]) {
    const dir = podDir(data, 'run', uuid);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, CREATED_FILE), '2026-11-23T10:00:00Z\n');
  }
  // The lock of a running pod, held by this process's descriptor.
  const fd = openPodDir(podDir(data, 'run', running));
  t.teardown(() => closePodDir(fd));
  t.true(await tryLockFd(fd));
  // No PATH: a program rkt tried to start would fail the command.
  const env = { ...process.env, PATH: '/nonexistent' };
  const status = await runCmd(process.execPath, [path.join(REPO, 'dist/bin/rkt.js'), `--dir=${data}`, 'status', exited], { env });
  t.is(status.exitCode, 0, status.stderr);
  t.regex(status.stdout, /^state=exited$/m);
  const list = await runCmd(process.execPath, [path.join(REPO, 'dist/bin/rkt.js'), `--dir=${data}`, 'list', '--no-legend', '--full', '--fields=uuid,state'], { env });
  t.is(list.exitCode, 0, list.stderr);
  t.deepEqual(list.stdout.trim().split('\n').map((l) => l.split(/\s+/)), [[exited, 'exited'], [running, 'running']]);
  t.is(flockProbe(podDir(data, 'run', exited)), 0, 'the exited pod can be locked: the readers left no lock');
});

t0(title('getPod: full UUID or unique prefix in any case; unknown and ambiguous prefixes are errors'), async (t) => {
  const data = dataDir(t);
  const a1 = 'aaaaaaaa-0000-4000-8000-000000000001';
  const a2 = 'aaaaaaaa-0000-4000-8000-000000000002';
  const b = 'abcdef01-0000-4000-8000-000000000003';
  mkdirSync(podDir(data, 'prepared', a1), { recursive: true });
  mkdirSync(podDir(data, 'run', a2), { recursive: true });
  mkdirSync(podDir(data, 'garbage', b), { recursive: true });
  mkdirSync(path.join(podStateDir(data, 'run'), 'not-a-pod'));
  t.is((await getPod(data, a1)).uuid, a1);
  t.is((await getPod(data, a2.toUpperCase())).uuid, a2);
  t.like(await getPod(data, 'AB'), { uuid: b, state: 'garbage' });
  const amb = await t.throwsAsync(getPod(data, 'a'), { instanceOf: RktError });
  t.is(amb.code, 'EAMBIGUOUS');
  t.is(amb.message, `pod UUID prefix "a" is ambiguous: it matches ${a1}, ${a2}, ${b}`);
  const amb2 = await t.throwsAsync(getPod(data, 'AAAA'), { instanceOf: RktError });
  t.is(amb2.message, `pod UUID prefix "AAAA" is ambiguous: it matches ${a1}, ${a2}`);
  for (const arg of ['zz', '', 'not-a-pod', 'aaaaaaaa0000']) {
    const err = await t.throwsAsync(getPod(data, arg), { instanceOf: RktError });
    t.is(err.code, 'ENOPOD', arg);
    t.is(err.message, `no pod "${arg}"`);
    t.is(err.hint, 'see "rkt list"');
  }
  t.deepEqual((await listPods(data)).map((p) => [p.uuid, p.state]), [[a1, 'prepared'], [a2, 'exited'], [b, 'garbage']]);
});

t0(title('getPod on an empty data dir says no pod'), async (t) => {
  const data = dataDir(t);
  await t.throwsAsync(getPod(data, 'a'), { instanceOf: RktError, code: 'ENOPOD', message: 'no pod "a"' });
  t.deepEqual(await listPods(data), []);
});

t0(title('transitions from the wrong state are refused and leave the pod where it was'), async (t) => {
  const data = dataDir(t);
  const { uuid, lockFd } = await createEmbryo(data);
  let lockFdOpen = true;
  t.teardown(() => {
    if (lockFdOpen) closePodDir(lockFd);
  });
  const refused = async (p: Promise<string>, message: string) => {
    const err = await t.throwsAsync(p, { instanceOf: RktError, message });
    t.is(err.code, 'EPODSTATE');
  };
  await refused(toPrepared(data, uuid, lockFd), `pod ${uuid} is embryo, not preparing`);
  await refused(toRun(data, uuid, lockFd), `pod ${uuid} is embryo, not prepared or preparing`);
  await refused(toGarbage(data, uuid), `pod ${uuid} is embryo, not aborted-prepare or prepared`);
  await refused(toExitedGarbage(data, uuid), `pod ${uuid} is embryo, not exited`);
  t.is(await stateOf(data, uuid), 'embryo');
  await toPrepare(data, uuid, lockFd);
  await refused(toPrepare(data, uuid, lockFd), `pod ${uuid} is preparing, not embryo`);
  await refused(toGarbage(data, uuid), `pod ${uuid} is preparing, not aborted-prepare or prepared`);
  t.is(await stateOf(data, uuid), 'preparing');
  await t.throwsAsync(toPrepare(data, 'ffffffff-0000-4000-8000-000000000000', lockFd), { instanceOf: RktError, code: 'ENOPOD' });

  // The pod is locked while its prepare holds the lock, and while another process (another run-prepared, a gc)
  // holds it: it cannot be run.
  await toPrepared(data, uuid, lockFd);
  const prepared = podDir(data, 'prepared', uuid);
  const fd = openPodDir(prepared);
  t.teardown(() => closeSync(fd));
  await t.throwsAsync(toRun(data, uuid, fd), { instanceOf: RktError, code: 'EPODLOCKED', message: `failed to lock pod ${uuid}: already locked` });
  closePodDir(lockFd);
  lockFdOpen = false;
  const holder = await holdLock(t, prepared);
  await t.throwsAsync(toRun(data, uuid, fd), { instanceOf: RktError, code: 'EPODLOCKED' });
  t.is(await stateOf(data, uuid), 'prepared');
  await killGroup(holder);
  t.is(await toRun(data, uuid, fd), podDir(data, 'run', uuid));
});

t0(title('listPods reports each pod once while pods move between directories'), async (t) => {
  const data = dataDir(t);
  const uuids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const p = await createEmbryo(data);
    await toPrepare(data, p.uuid, p.lockFd);
    closePodDir(p.lockFd);
    uuids.push(p.uuid);
  }
  // The same pod in two directories (only a crash mid-copy by some other tool could do this): the later wins.
  const twice = 'bbbbbbbb-0000-4000-8000-000000000001';
  mkdirSync(podDir(data, 'prepared', twice), { recursive: true });
  mkdirSync(podDir(data, 'garbage', twice), { recursive: true });

  const moving = (async () => {
    for (const u of uuids) await toGarbage(data, u);
  })();
  const seenStates = new Set<string>();
  let rounds = 0;
  let done = false;
  void moving.then(() => { done = true; });
  while (!done || rounds < 2) {
    const pods = await listPods(data);
    const ids = pods.map((p) => p.uuid);
    t.is(new Set(ids).size, ids.length, 'no pod listed twice');
    t.is(ids.length, 21, 'no pod missed');
    for (const p of pods) seenStates.add(p.state);
    t.is(pods.find((p) => p.uuid === twice)?.state, 'garbage');
    rounds++;
  }
  await moving;
  t.true(seenStates.has('garbage'));
  t.true((await listPods(data)).every((p) => p.state === 'garbage'));
});

t0(title('--uuid-file: trimmed; a missing, empty or multi-word file is an error naming it'), async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'uuid');
  await writeUuidFile(file, '6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2c');
  t.is(readFileSync(file, 'utf8'), '6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2c\n');
  t.is(await readUuidFile(file), '6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2c');
  writeFileSync(file, '  \n\t6f1b2a3c\r\n\n');
  t.is(await readUuidFile(file), '6f1b2a3c');
  writeFileSync(file, ' \n');
  await t.throwsAsync(readUuidFile(file), { instanceOf: RktError, code: 'EUUIDFILE', message: `--uuid-file "${file}" is empty` });
  writeFileSync(file, 'abc\ndef\n');
  await t.throwsAsync(readUuidFile(file), { instanceOf: RktError, code: 'EUUIDFILE', message: new RegExp(`"${file}" holds more than one word`) });
  const missing = path.join(dir, 'nope');
  const err = await t.throwsAsync(readUuidFile(missing), { instanceOf: RktError, code: 'EUUIDFILE' });
  t.is(err.message, `cannot read --uuid-file "${missing}": ENOENT: no such file or directory, open '${missing}'`);
});

t0(title('timestamps, pid and app statuses: missing is undefined, malformed is an error'), async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  t.is(await readTimestamp(dir, 'exited'), undefined);
  writeFileSync(path.join(dir, 'exited'), '');
  t.is(await readTimestamp(dir, 'exited'), undefined, 'empty: still being written');
  writeFileSync(path.join(dir, 'exited'), '2024-01-02 03:04:05+02:00\n');
  t.is((await readTimestamp(dir, 'exited'))?.toISOString(), '2024-01-02T01:04:05.000Z');
  writeFileSync(path.join(dir, 'exited'), 'yesterday\n');
  await t.throwsAsync(readTimestamp(dir, 'exited'), { instanceOf: RktError, code: 'EPODCORRUPT' });
  t.deepEqual(await readAppStatuses(dir), new Map());
  mkdirSync(path.join(dir, 'status'));
  writeFileSync(path.join(dir, 'status', 'a'), '137\n');
  writeFileSync(path.join(dir, 'status', 'b'), '');
  t.deepEqual(await readAppStatuses(dir), new Map([['a', 137]]));
  writeFileSync(path.join(dir, 'status', 'b'), 'oops');
  await t.throwsAsync(readAppStatuses(dir), { instanceOf: RktError, code: 'EPODCORRUPT' });
});

t0(title('removePodDir refuses a pod directory with something still mounted in it'), async (t) => {
  const data = dataDir(t);
  const { uuid, lockFd } = await createEmbryo(data);
  closePodDir(lockFd);
  const dir = podDir(data, 'embryo', uuid);
  const mnt = path.join(dir, 'stage1', 'rootfs');
  mkdirSync(mnt, { recursive: true });
  const mount = spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', mnt]);
  t.is(mount.status, 0, mount.stderr.toString());
  t.teardown(() => { spawnSync('umount', [mnt]); });
  writeFileSync(path.join(mnt, 'precious'), 'x');
  await t.throwsAsync(removePodDir(dir), { instanceOf: RktError, code: 'EPODBUSY', message: `cannot remove ${dir}: ${mnt} still mounted` });
  t.true(existsSync(path.join(mnt, 'precious')));
  t.is(spawnSync('umount', [mnt]).status, 0);
  await removePodDir(dir);
  t.false(existsSync(dir));
  await removePodDir(dir); // already gone: fine
});
