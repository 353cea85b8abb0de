/**
 * Pod states on disk (src/pod/pods.ts): createEmbryo and each transition along embryo → prepare → prepared →
 * run → exited-garbage (and prepare|prepared → garbage), each refusing a pod in the wrong state or locked by
 * someone else with the error a user sees; listing pods in every state; finding a pod by UUID prefix. Locks are
 * real flock(2) locks taken through util-linux flock(1), as in production; no root needed.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { podDir, type PodDirState, type PodState } from '../../../src/pod/layout.js';
import { closePodDir, isLocked, openPodDir } from '../../../src/pod/lock.js';
import {
  createEmbryo, getPod, listPods, podListingText, readPodListing, readUuidFile, removePodDir, toExitedGarbage, toGarbage,
  toPrepare, toPrepared, toRun, writeTimestamp, writeUuidFile,
} from '../../../src/pod/pods.js';

const flockSkip = spawnSync('flock', ['--version'], { stdio: 'ignore' }).error === undefined
  ? undefined : 'util-linux flock(1) is not installed (pod locks are taken through it)';
const lockTest = flockSkip === undefined ? test : test.skip;
const title = (s: string): string => (flockSkip === undefined ? s : `${s} (skipped: ${flockSkip})`);

async function dataDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'rkt-pods-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Descriptors a test opened, closed at its end unless it closed them itself through `release`. */
function fds(t: ExecutionContext): { keep: (fd: number) => number; release: (fd: number) => void } {
  const open = new Set<number>();
  t.teardown(() => { for (const fd of open) closePodDir(fd); });
  return {
    keep: (fd) => { open.add(fd); return fd; },
    release: (fd) => { open.delete(fd); closePodDir(fd); },
  };
}

/** A new pod, as `rkt prepare` and `rkt run` start one: in embryo/, locked through the returned fd. */
async function embryo(t: ExecutionContext, data: string): Promise<{ uuid: string; dir: string; fd: number; release: () => void }> {
  const f = fds(t);
  const { uuid, dir, lockFd } = await createEmbryo(data);
  f.keep(lockFd);
  return { uuid, dir, fd: lockFd, release: () => f.release(lockFd) };
}

/** The state `listPods` reports for `uuid`. */
async function stateOf(data: string, uuid: string): Promise<PodState | undefined> {
  return (await listPods(data)).find((p) => p.uuid === uuid)?.state;
}

/** The EPODSTATE error a transition gives, checked for its exact message. */
async function wrongState(t: ExecutionContext, p: Promise<unknown>, message: string): Promise<void> {
  const err = await t.throwsAsync(p, { instanceOf: RktError });
  t.is(err?.code, 'EPODSTATE');
  t.is(err?.message, message);
  t.is(err?.exitCode, 254);
}

/** The EPODLOCKED error a transition gives on a pod someone else holds. */
async function lockedOut(t: ExecutionContext, p: Promise<unknown>, uuid: string): Promise<void> {
  const err = await t.throwsAsync(p, { instanceOf: RktError });
  t.is(err?.code, 'EPODLOCKED');
  t.is(err?.message, `failed to lock pod ${uuid}: already locked`);
  t.is(err?.hint, 'another rkt is preparing, running or collecting it');
}

/** Another process holding the lock on `dir` (flock(1) around `cat`), until `release()`. */
async function lockedByAnotherProcess(t: ExecutionContext, dir: string): Promise<{ child: ChildProcess; release: () => Promise<void> }> {
  const child = spawn('flock', ['--exclusive', dir, '-c', 'echo locked; exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let ended = false;
  const exited = once(child, 'exit').then(() => { ended = true; });
  const release = async () => { if (!ended) { child.stdin?.end(); await exited; } };
  t.teardown(release);
  child.stdout?.setEncoding('utf8');
  const [line] = (await once(child.stdout!, 'data')) as [string];
  t.is(line, 'locked\n');
  return { child, release };
}

/** Make a pod directory by hand (as an older rkt or a crash leaves one), with a chosen UUID. */
async function podByHand(data: string, dirState: PodDirState, uuid: string): Promise<string> {
  const dir = podDir(data, dirState, uuid);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'uuid'), `${uuid}\n`);
  return dir;
}

lockTest(title('createEmbryo makes pods/embryo/<uuid> (0750) with its uuid and created files, locked through the returned fd'), async (t) => {
  const data = await dataDir(t);
  const before = Date.now();
  const e = await embryo(t, data);
  t.regex(e.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.is(e.dir, path.join(data, 'pods', 'embryo', e.uuid));
  t.is((await fs.stat(e.dir)).mode & 0o7777, 0o750);
  for (const d of ['pods', 'pods/embryo']) t.is((await fs.stat(path.join(data, d))).mode & 0o7777, 0o750, d);
  t.is(await fs.readFile(path.join(e.dir, 'uuid'), 'utf8'), `${e.uuid}\n`);
  t.true(isLocked(e.dir));
  const [info] = await listPods(data);
  t.is(info?.uuid, e.uuid);
  t.is(info?.state, 'embryo');
  t.true(info?.locked);
  t.true((info?.created?.getTime() ?? 0) >= Math.floor(before / 1000) * 1000);
  e.release();
  t.false(isLocked(e.dir), 'closing the fd releases the lock');
});

lockTest(title('the prepare path: embryo → preparing → prepared → running → exited → exited-garbage'), async (t) => {
  const data = await dataDir(t);
  const e = await embryo(t, data);
  const prep = await toPrepare(data, e.uuid, e.fd);
  t.is(prep, path.join(data, 'pods', 'prepare', e.uuid));
  t.false(existsSync(e.dir));
  t.is(await stateOf(data, e.uuid), 'preparing', 'the lock followed the directory');

  const prepared = await toPrepared(data, e.uuid, e.fd);
  t.is(prepared, path.join(data, 'pods', 'prepared', e.uuid));
  e.release();
  t.is(await stateOf(data, e.uuid), 'prepared');
  t.false(isLocked(prepared));

  // rkt run-prepared: opens the prepared pod, toRun takes the lock through that fd.
  const f = fds(t);
  const runFd = f.keep(openPodDir(prepared));
  const run = await toRun(data, e.uuid, runFd);
  t.is(run, path.join(data, 'pods', 'run', e.uuid));
  t.is(await stateOf(data, e.uuid), 'running');
  t.true(isLocked(run));
  f.release(runFd);
  t.is(await stateOf(data, e.uuid), 'exited', 'the lock went with the last fd');

  const eg = await toExitedGarbage(data, e.uuid);
  t.is(eg, path.join(data, 'pods', 'exited-garbage', e.uuid));
  t.is(await stateOf(data, e.uuid), 'exited-garbage');
  t.deepEqual((await listPods(data)).map((p) => p.uuid), [e.uuid], 'listed once');
  t.is(await fs.readFile(path.join(eg, 'uuid'), 'utf8'), `${e.uuid}\n`, 'the directory moved whole');
});

lockTest(title('the run path: preparing → running without stopping at prepared, the lock held throughout'), async (t) => {
  const data = await dataDir(t);
  const e = await embryo(t, data);
  await toPrepare(data, e.uuid, e.fd);
  const run = await toRun(data, e.uuid, e.fd);
  t.is(run, path.join(data, 'pods', 'run', e.uuid));
  t.is(await stateOf(data, e.uuid), 'running');
  e.release();
  t.is(await stateOf(data, e.uuid), 'exited');
});

lockTest(title('the lock can be handed to a child: the pod runs while the child holds it, and exits with it'), async (t) => {
  const data = await dataDir(t);
  const e = await embryo(t, data);
  await toPrepare(data, e.uuid, e.fd);
  await toRun(data, e.uuid, e.fd);
  // As stage0 hands the fd to stage1: the child's copy shares the open file description, hence the lock.
  const child = spawn('sh', ['-c', 'echo started; exec cat'], { stdio: ['pipe', 'pipe', 'inherit', e.fd] });
  const { stdin, stdout } = child;
  if (stdin === null || stdout === null) return t.fail('no pipes to the child');
  const exited = once(child, 'exit');
  t.teardown(async () => { if (child.exitCode === null) { stdin.end(); await exited; } });
  stdout.setEncoding('utf8');
  await once(stdout, 'data');
  e.release();
  t.is(await stateOf(data, e.uuid), 'running', 'held by the child alone');
  stdin.end();
  await exited;
  t.is(await stateOf(data, e.uuid), 'exited');
});

lockTest(title('a pod whose preparing rkt died is aborted-prepare, and goes to garbage'), async (t) => {
  const data = await dataDir(t);
  const e = await embryo(t, data);
  await toPrepare(data, e.uuid, e.fd);
  e.release();
  t.is(await stateOf(data, e.uuid), 'aborted-prepare');
  await wrongState(t, toRun(data, e.uuid, fds(t).keep(openPodDir(podDir(data, 'prepare', e.uuid)))),
    `pod ${e.uuid} is aborted-prepare, not prepared or preparing`);
  const g = await toGarbage(data, e.uuid);
  t.is(g, path.join(data, 'pods', 'garbage', e.uuid));
  t.is(await stateOf(data, e.uuid), 'garbage');
});

lockTest(title('a prepared pod goes to garbage (an expired prepare)'), async (t) => {
  const data = await dataDir(t);
  const e = await embryo(t, data);
  await toPrepare(data, e.uuid, e.fd);
  await toPrepared(data, e.uuid, e.fd);
  e.release();
  await toGarbage(data, e.uuid);
  t.is(await stateOf(data, e.uuid), 'garbage');
});

lockTest(title('each transition refuses a pod in the wrong state with EPODSTATE, and leaves it where it was'), async (t) => {
  const data = await dataDir(t);
  const f = fds(t);
  const e = await embryo(t, data);
  const u = e.uuid;
  await wrongState(t, toPrepared(data, u, e.fd), `pod ${u} is embryo, not preparing`);
  await wrongState(t, toRun(data, u, e.fd), `pod ${u} is embryo, not prepared or preparing`);
  await wrongState(t, toExitedGarbage(data, u), `pod ${u} is embryo, not exited`);
  await wrongState(t, toGarbage(data, u), `pod ${u} is embryo, not aborted-prepare or prepared`);
  t.is(await stateOf(data, u), 'embryo');

  await toPrepare(data, u, e.fd);
  await wrongState(t, toPrepare(data, u, e.fd), `pod ${u} is preparing, not embryo`);
  await wrongState(t, toExitedGarbage(data, u), `pod ${u} is preparing, not exited`);
  await wrongState(t, toGarbage(data, u), `pod ${u} is preparing, not aborted-prepare or prepared`);
  t.is(await stateOf(data, u), 'preparing');

  await toPrepared(data, u, e.fd);
  e.release();
  const prepared = podDir(data, 'prepared', u);
  await wrongState(t, toPrepare(data, u, f.keep(openPodDir(prepared))), `pod ${u} is prepared, not embryo`);
  await wrongState(t, toPrepared(data, u, f.keep(openPodDir(prepared))), `pod ${u} is prepared, not preparing`);
  await wrongState(t, toExitedGarbage(data, u), `pod ${u} is prepared, not exited`);
  t.is(await stateOf(data, u), 'prepared');

  const runFd = f.keep(openPodDir(prepared));
  await toRun(data, u, runFd);
  await wrongState(t, toRun(data, u, runFd), `pod ${u} is running, not prepared or preparing`);
  await wrongState(t, toExitedGarbage(data, u), `pod ${u} is running, not exited`);
  await wrongState(t, toGarbage(data, u), `pod ${u} is running, not aborted-prepare or prepared`);
  t.is(await stateOf(data, u), 'running');
  f.release(runFd);

  await wrongState(t, toGarbage(data, u), `pod ${u} is exited, not aborted-prepare or prepared`);
  await wrongState(t, toRun(data, u, f.keep(openPodDir(podDir(data, 'run', u)))), `pod ${u} is exited, not prepared or preparing`);
  await toExitedGarbage(data, u);
  await wrongState(t, toExitedGarbage(data, u), `pod ${u} is exited-garbage, not exited`);
  await wrongState(t, toGarbage(data, u), `pod ${u} is exited-garbage, not aborted-prepare or prepared`);
  t.is(await stateOf(data, u), 'exited-garbage');
});

lockTest(title('a transition of a pod that does not exist is ENOPOD'), async (t) => {
  const data = await dataDir(t);
  const uuid = '00000000-0000-4000-8000-000000000000';
  for (const p of [toExitedGarbage(data, uuid), toGarbage(data, uuid)]) {
    const err = await t.throwsAsync(p, { instanceOf: RktError });
    t.is(err?.code, 'ENOPOD');
    t.is(err?.message, `no pod "${uuid}"`);
    t.is(err?.hint, 'see "rkt list"');
  }
});

lockTest(title('a prepared pod another process holds (being run) is refused by gc and by a second run-prepared: EPODLOCKED'), async (t) => {
  const data = await dataDir(t);
  const e = await embryo(t, data);
  await toPrepare(data, e.uuid, e.fd);
  const prepared = await toPrepared(data, e.uuid, e.fd);
  e.release();
  const other = await lockedByAnotherProcess(t, prepared);
  t.is(await stateOf(data, e.uuid), 'prepared', 'a prepared pod is prepared, locked or not');
  await lockedOut(t, toGarbage(data, e.uuid), e.uuid);
  await lockedOut(t, toRun(data, e.uuid, fds(t).keep(openPodDir(prepared))), e.uuid);
  t.true(existsSync(prepared), 'still prepared');
  await other.release();
  await toGarbage(data, e.uuid);
  t.is(await stateOf(data, e.uuid), 'garbage');
});

lockTest(title('a pod being prepared by another process cannot be run or collected'), async (t) => {
  const data = await dataDir(t);
  const e = await embryo(t, data);
  const prep = await toPrepare(data, e.uuid, e.fd);
  e.release();
  const other = await lockedByAnotherProcess(t, prep);
  t.is(await stateOf(data, e.uuid), 'preparing');
  await lockedOut(t, toRun(data, e.uuid, fds(t).keep(openPodDir(prep))), e.uuid);
  await wrongState(t, toGarbage(data, e.uuid), `pod ${e.uuid} is preparing, not aborted-prepare or prepared`);
  await other.release();
  t.is(await stateOf(data, e.uuid), 'aborted-prepare');
});

lockTest(title('a pod that another process keeps running is refused by gc until it exits'), async (t) => {
  const data = await dataDir(t);
  const e = await embryo(t, data);
  await toPrepare(data, e.uuid, e.fd);
  const run = await toRun(data, e.uuid, e.fd);
  e.release();
  const other = await lockedByAnotherProcess(t, run);
  await wrongState(t, toExitedGarbage(data, e.uuid), `pod ${e.uuid} is running, not exited`);
  await other.release();
  await toExitedGarbage(data, e.uuid);
  t.is(await stateOf(data, e.uuid), 'exited-garbage');
});

lockTest(title('listPods reports every pod once, in lifecycle order, with its state, timestamps, pid and app statuses'), async (t) => {
  const data = await dataDir(t);
  const f = fds(t);
  const uuids: Record<string, string> = {};
  const make = async (name: string, steps: (u: string, fd: number) => Promise<void>, keepLock: boolean) => {
    const { uuid, lockFd } = await createEmbryo(data);
    f.keep(lockFd);
    uuids[name] = uuid;
    await steps(uuid, lockFd);
    if (!keepLock) f.release(lockFd);
  };
  await make('embryo', async () => undefined, true);
  await make('dead-embryo', async () => undefined, false);
  await make('preparing', async (u, fd) => { await toPrepare(data, u, fd); }, true);
  await make('aborted-prepare', async (u, fd) => { await toPrepare(data, u, fd); }, false);
  await make('prepared', async (u, fd) => { await toPrepare(data, u, fd); await toPrepared(data, u, fd); }, false);
  await make('running', async (u, fd) => { await toPrepare(data, u, fd); await toRun(data, u, fd); }, true);
  await make('exited', async (u, fd) => { await toPrepare(data, u, fd); await toRun(data, u, fd); }, false);
  await make('exited-garbage', async (u, fd) => { await toPrepare(data, u, fd); await toRun(data, u, fd); }, false);
  await toExitedGarbage(data, uuids['exited-garbage'] ?? '');
  await make('garbage', async (u, fd) => { await toPrepare(data, u, fd); }, false);
  await toGarbage(data, uuids['garbage'] ?? '');

  const exited = podDir(data, 'run', uuids['exited'] ?? '');
  await writeTimestamp(exited, 'started', new Date('2026-12-01T10:00:00.000Z'));
  await writeTimestamp(exited, 'exited', new Date('2026-12-01T10:05:00.000Z'));
  await fs.writeFile(path.join(exited, 'pid'), '4242\n');
  await fs.mkdir(path.join(exited, 'status'));
  await fs.writeFile(path.join(exited, 'status', 'web'), '0\n');
  await fs.writeFile(path.join(exited, 'status', 'worker'), '3\n');
  await fs.writeFile(path.join(exited, 'status', 'still-running'), ''); // a stage1 that writes with plain `echo >`
  await fs.writeFile(path.join(exited, 'status', '.web.tmp-1'), '9'); // an atomic writer's temporary
  // Entries that are not pods are not listed.
  await fs.mkdir(path.join(data, 'pods', 'run', 'not-a-uuid'));
  await fs.writeFile(path.join(data, 'pods', 'prepared', 'README'), 'x');

  const pods = await listPods(data);
  t.deepEqual(pods.map((p) => [p.uuid, p.state, p.locked]), [
    [uuids['embryo'], 'embryo', true],
    [uuids['dead-embryo'], 'embryo', false],
    [uuids['preparing'], 'preparing', true],
    [uuids['aborted-prepare'], 'aborted-prepare', false],
    [uuids['prepared'], 'prepared', false],
    [uuids['running'], 'running', true],
    [uuids['exited'], 'exited', false],
    [uuids['exited-garbage'], 'exited-garbage', false],
    [uuids['garbage'], 'garbage', false],
  ].sort((a, b) => {
    // Within one directory pods are listed in UUID order.
    const order = ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage'];
    const dirOf = (s: unknown) => ({ preparing: 'prepare', 'aborted-prepare': 'prepare', running: 'run', exited: 'run' } as Record<string, string>)[String(s)] ?? String(s);
    return order.indexOf(dirOf(a[1])) - order.indexOf(dirOf(b[1])) || String(a[0]).localeCompare(String(b[0]));
  }));
  const ex = pods.find((p) => p.uuid === uuids['exited']);
  t.is(ex?.dir, exited);
  t.is(ex?.started?.toISOString(), '2026-12-01T10:00:00.000Z');
  t.is(ex?.exited?.toISOString(), '2026-12-01T10:05:00.000Z');
  t.is(ex?.pid, 4242);
  t.deepEqual([...(ex?.appStatuses ?? [])], [['web', 0], ['worker', 3]]);
  t.true(pods.every((p) => p.created instanceof Date));
});

test('listPods of a data directory without pods/ is empty', async (t) => {
  t.deepEqual(await listPods(await dataDir(t)), []);
});

lockTest(title('a pod directory with a malformed timestamp, pid or status is EPODCORRUPT naming the file'), async (t) => {
  const data = await dataDir(t);
  for (const [file, text, message] of [
    ['created', 'yesterday\n', 'holds "yesterday", not an RFC 3339 timestamp'],
    ['pid', '-1\n', 'holds "-1", not a pid'],
    ['status/app', 'exited\n', 'holds "exited", not an exit status'],
  ] as const) {
    const dir = await podByHand(data, 'prepared', '11111111-1111-4111-8111-111111111111');
    await fs.mkdir(path.join(dir, 'status'), { recursive: true });
    await fs.writeFile(path.join(dir, file), text);
    const err = await t.throwsAsync(listPods(data), { instanceOf: RktError });
    t.is(err?.code, 'EPODCORRUPT');
    t.is(err?.message, `${path.join(dir, file)} ${message}`);
    await fs.rm(dir, { recursive: true });
  }
});

lockTest(title('a pod file that cannot be read is EPODREAD naming it; a pod whose file is missing lists without it'), async (t) => {
  const data = await dataDir(t);
  const dir = await podByHand(data, 'prepared', '11111111-1111-4111-8111-111111111111');
  await fs.writeFile(path.join(dir, 'created'), '2026-12-02T11:00:00Z\n');
  const [info] = await listPods(data);
  t.is(info?.created?.toISOString(), '2026-12-02T11:00:00.000Z');
  t.is(info?.started, undefined, 'no started file: not started');
  await fs.mkdir(path.join(dir, 'started'));
  const err = await t.throwsAsync(listPods(data), { instanceOf: RktError });
  t.is(err?.code, 'EPODREAD');
  t.is(err?.message, `cannot read ${path.join(dir, 'started')}: EISDIR: illegal operation on a directory, read`);
});

test("a pod's list.json reads back as written; none is undefined; a damaged one is EPODCORRUPT saying what is wrong", async (t) => {
  const dir = await dataDir(t);
  t.is(readPodListing(dir), undefined, 'a pod without list.json (prepared by an earlier rkt)');
  const id = `sha512-${'ab'.repeat(64)}`;
  const listing = { created: new Date('2026-12-02T11:00:00.250Z'), apps: [{ name: 'web', image: 'example.com/web', id }, { name: 'db', image: '', id }] };
  await fs.writeFile(path.join(dir, 'list.json'), podListingText(listing));
  t.deepEqual(readPodListing(dir), listing);
  const file = path.join(dir, 'list.json');
  for (const [text, what] of [
    ['{"created": "2026-12-02T11:00:00Z", "apps": [', undefined], // (JSON.parse's words, which differ between Node versions)
    ['[]', 'not a JSON object'],
    ['{"apps": []}', '"created" is not an RFC 3339 timestamp'],
    ['{"created": "yesterday", "apps": []}', '"created" is not an RFC 3339 timestamp'],
    ['{"created": "2026-12-02T11:00:00Z"}', '"apps" is not a list'],
    ['{"created": "2026-12-02T11:00:00Z", "apps": [{"name": "web", "image": "x"}]}', 'an app is not {"name", "image", "id"} strings'],
    ['{"created": "2026-12-02T11:00:00Z", "apps": ["web"]}', 'an app is not {"name", "image", "id"} strings'],
  ] as const) {
    await fs.writeFile(file, text);
    const err = t.throws(() => readPodListing(dir), { instanceOf: RktError });
    t.is(err?.code, 'EPODCORRUPT', text);
    const message = err?.message ?? '';
    t.true(message.startsWith(`${file} is corrupt: `), message);
    if (what !== undefined) t.is(message, `${file} is corrupt: ${what}`);
  }
  await fs.rm(file);
  await fs.mkdir(file);
  t.throws(() => readPodListing(dir), { instanceOf: RktError, code: 'EPODREAD', message: `cannot read ${file}: EISDIR: illegal operation on a directory, read` });
});

lockTest(title('listPods leaves out what is not a pod directory: a file or a symbolic link named like a pod'), async (t) => {
  const data = await dataDir(t);
  const real = await podByHand(data, 'run', '11111111-1111-4111-8111-111111111111');
  await fs.writeFile(path.join(path.dirname(real), '22222222-2222-4222-8222-222222222222'), 'not a pod\n');
  await fs.symlink(real, path.join(path.dirname(real), '33333333-3333-4333-8333-333333333333'));
  t.deepEqual((await listPods(data)).map((p) => [p.uuid, p.state]), [['11111111-1111-4111-8111-111111111111', 'exited']]);
});

// UUIDs that share prefixes: a and b share "3f2a", c is alone under "9".
const UA = '3f2a0000-0000-4000-8000-00000000000a';
const UB = '3f2a1111-0000-4000-8000-00000000000b';
const UC = '9c000000-0000-4000-8000-00000000000c';

lockTest(title('getPod finds a pod by its full UUID or a unique prefix, in any case and in any state'), async (t) => {
  const data = await dataDir(t);
  await podByHand(data, 'prepared', UA);
  await podByHand(data, 'run', UB);
  await podByHand(data, 'exited-garbage', UC);
  t.is((await getPod(data, UA)).uuid, UA);
  t.is((await getPod(data, UA.toUpperCase())).uuid, UA);
  t.is((await getPod(data, '3f2a0')).uuid, UA);
  t.is((await getPod(data, '3F2A1')).uuid, UB);
  const c = await getPod(data, '9');
  t.is(c.uuid, UC);
  t.is(c.state, 'exited-garbage');
  t.is(c.dir, podDir(data, 'exited-garbage', UC));
  t.is((await getPod(data, UB)).state, 'exited');
});

lockTest(title('getPod: an ambiguous prefix is EAMBIGUOUS listing the matches; an unknown one or "" is ENOPOD'), async (t) => {
  const data = await dataDir(t);
  await podByHand(data, 'prepared', UA);
  await podByHand(data, 'run', UB);
  await podByHand(data, 'garbage', UC);
  const amb = await t.throwsAsync(getPod(data, '3F2A'), { instanceOf: RktError });
  t.is(amb?.code, 'EAMBIGUOUS');
  t.is(amb?.message, `pod UUID prefix "3F2A" is ambiguous: it matches ${UA}, ${UB}`);
  t.is(amb?.hint, 'give more of the UUID');
  for (const arg of ['4', '3f2a2', `${UA}0`, '']) {
    const err = await t.throwsAsync(getPod(data, arg), { instanceOf: RktError });
    t.is(err?.code, 'ENOPOD', arg);
    t.is(err?.message, `no pod "${arg}"`);
    t.is(err?.hint, 'see "rkt list"');
  }
});

test('getPod in a data directory without pods/ is ENOPOD', async (t) => {
  const err = await t.throwsAsync(getPod(await dataDir(t), UA), { instanceOf: RktError });
  t.is(err?.code, 'ENOPOD');
});

test('--uuid-file: written as one line, read back trimmed; missing, empty or several words is EUUIDFILE', async (t) => {
  const dir = await dataDir(t);
  const file = path.join(dir, 'uuid');
  await writeUuidFile(file, UA);
  t.is(await fs.readFile(file, 'utf8'), `${UA}\n`);
  t.is(await readUuidFile(file), UA);
  await fs.writeFile(file, `  ${UA}\n\n`);
  t.is(await readUuidFile(file), UA);
  const cases: [string, string | undefined, RegExp][] = [
    [path.join(dir, 'missing'), undefined, /^cannot read --uuid-file ".*missing": ENOENT: /],
    [path.join(dir, 'empty'), ' \n', /^--uuid-file ".*empty" is empty$/],
    [path.join(dir, 'two'), `${UA} ${UB}\n`, /^--uuid-file ".*two" holds more than one word; it should hold one pod UUID$/],
  ];
  for (const [f, content, re] of cases) {
    if (content !== undefined) await fs.writeFile(f, content);
    const err = await t.throwsAsync(readUuidFile(f), { instanceOf: RktError });
    t.is(err?.code, 'EUUIDFILE');
    t.regex(err?.message ?? '', re);
  }
  const werr = await t.throwsAsync(writeUuidFile(path.join(dir, 'no', 'such', 'dir'), UA), { instanceOf: RktError });
  t.is(werr?.code, 'EUUIDFILE');
});

test('removePodDir removes a pod directory with everything in it; one already gone is not an error', async (t) => {
  const data = await dataDir(t);
  const dir = await podByHand(data, 'garbage', UA);
  const outside = path.join(data, 'outside');
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, 'keep'), 'x');
  await fs.mkdir(path.join(dir, 'stage1', 'rootfs', 'opt'), { recursive: true });
  await fs.symlink(outside, path.join(dir, 'stage1', 'rootfs', 'etc'));
  await removePodDir(dir);
  t.false(existsSync(dir));
  t.true(existsSync(path.join(outside, 'keep')), 'a symlink in the pod is removed, not followed');
  await t.notThrowsAsync(removePodDir(dir));
});

lockTest(title('a pods/<state> path that is not a directory is EPODDIR, for a new pod and for a transition into it'), async (t) => {
  const data = await dataDir(t);
  await fs.mkdir(path.join(data, 'pods'), { recursive: true });
  await fs.writeFile(path.join(data, 'pods', 'embryo'), 'not a directory');
  const err = await t.throwsAsync(createEmbryo(data), { instanceOf: RktError });
  t.is(err?.code, 'EPODDIR');
  t.is(err?.message, `${path.join(data, 'pods', 'embryo')} exists and is not a directory`);

  await fs.rm(path.join(data, 'pods', 'embryo'));
  const e = await embryo(t, data);
  await fs.writeFile(path.join(data, 'pods', 'prepare'), 'not a directory');
  const terr = await t.throwsAsync(toPrepare(data, e.uuid, e.fd), { instanceOf: RktError });
  t.is(terr?.code, 'EPODDIR');
  t.is(terr?.message, `${path.join(data, 'pods', 'prepare')} exists and is not a directory`);
  t.true(existsSync(e.dir), 'the pod stays where it was');
});
