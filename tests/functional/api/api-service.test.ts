// rkt api-service with real pods and images: the service started by each test on a free loopback port with
// the test's --dir, asked by a grpc-js client built from the same v1alpha.proto, as rkt's API clients are.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { INSECURE, podEnv, podTest, sharedImage, title, until, waitRunning, type PodEnv } from '../../lib/pods.js';
import { REPO, RKT, rkt, tempDir } from '../../lib/rkt.js';
import { client, startService, type Client, type Msg, type Service } from './client.js';

const BUSYBOX = path.join(REPO, 'build/busybox.aci');
const image = sharedImage({ name: 'example.com/api-probe' });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The service on the test's --dir and a client of it; both stopped when the test ends. */
async function serve(t: ExecutionContext, env: PodEnv, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ svc: Service; api: Client }> {
  const svc = await startService(env.data, ['--listen=127.0.0.1:0'], extraEnv);
  const api = client(svc.port);
  t.teardown(async () => {
    api.close();
    if (svc.child.exitCode === null) svc.child.kill('SIGKILL');
    await svc.exit;
  });
  return { svc, api };
}

/** A pod whose app waits for `<vol>/stop` (then exits `code`), started in the background; its UUID once running. */
async function waitingPod(env: PodEnv, name: string, code = 0) {
  const vol = env.file(name);
  mkdirSync(vol);
  const uuidFile = `${vol}.uuid`;
  const bg = env.spawnRun([`--uuid-file-save=${uuidFile}`, `--volume=out,kind=host,source=${vol}`, await image(), '--name=waiter',
    '--mount=volume=out,target=/out', '--exec=/bin/sh', '--', '-c', `touch /out/up; while [ ! -e /out/stop ]; do sleep 0.1; done; exit ${code}`]);
  const uuid = await waitRunning(env, uuidFile, bg);
  await until('the app is up', 60_000, () => existsSync(path.join(vol, 'up')), 50);
  return { uuid, bg, stop: () => writeFileSync(path.join(vol, 'stop'), '') };
}

/** A gRPC call's failure: its status code and message. */
async function grpcError(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: number; details?: string };
    return { code: e.code ?? -1, details: e.details ?? '' };
  }
  throw new Error('expected the call to fail');
}

const byId = (pods: Msg[], id: string): Msg => {
  const p = pods.find((x) => x['id'] === id);
  if (p === undefined) throw new Error(`pod ${id} not listed: ${JSON.stringify(pods.map((x) => [x['id'], x['state']]))}`);
  return p;
};

podTest(title('GetInfo: rkt, appc and API versions and the global flags the service was started with'), async (t) => {
  const env = await podEnv(t);
  const { api } = await serve(t, env);
  const { info } = await api.call('GetInfo');
  t.regex(info.rkt_version, /^1\.(3\d|[4-9]\d)\.\d+$/);
  t.is(info.appc_version, '0.8.11');
  t.is(info.api_version, '1.0.0-alpha');
  t.is(info.global_flags.dir, env.data);
  t.is(info.global_flags.system_config_dir, '/usr/lib/rkt');
  t.is(info.global_flags.local_config_dir, '/etc/rkt');
  t.is(info.global_flags.insecure_flags, 'none');
  t.false(info.global_flags.trust_keys_from_https);
});

podTest(title('ListPods and InspectPod: prepared, running (pid, cgroup, app running), exited (exit status), garbage (gc mark time); manifests only with detail'), async (t) => {
  const env = await podEnv(t);
  const img = await image();
  // exited with 3, then marked by gc (kept an hour): garbage
  t.is((await env.run([img, '--exec=/bin/sh', '--', '-c', 'exit 3'])).exitCode, 3);
  t.is((await env.r(['gc', '--grace-period=1h'])).exitCode, 0);
  // exited with 0, after gc ran
  t.is((await env.run([img, '--exec=/bin/true'])).exitCode, 0);
  const prep = await env.r([INSECURE, 'prepare', '--quiet', '--net=host', img, '--exec=/bin/true']);
  t.is(prep.exitCode, 0, prep.stderr);
  const prepared = prep.stdout.trim();
  const running = await waitingPod(env, 'run');
  const { api } = await serve(t, env);

  const { pods } = await api.call('ListPods', {}) as { pods: Msg[] };
  t.is(pods.length, 4);
  const states = new Map(pods.map((p) => [p['id'], p['state']]));
  t.is(states.get(prepared), 'POD_STATE_PREPARED');
  t.is(states.get(running.uuid), 'POD_STATE_RUNNING');
  t.deepEqual([...states.values()].sort(), ['POD_STATE_EXITED', 'POD_STATE_GARBAGE', 'POD_STATE_PREPARED', 'POD_STATE_RUNNING']);
  for (const p of pods) {
    t.regex(p['id'], UUID);
    t.is(p['manifest'].length, 0, 'no manifest without detail');
    t.not(p['created_at'], '0');
    t.is(p['apps'].length, 1);
    t.regex(p['apps'][0].image.id, /^sha512-[0-9a-f]{128}$/);
    t.is(p['apps'][0].image.name, 'example.com/api-probe');
    t.is(p['apps'][0].image.version, 'latest');
  }
  const status = (await env.r(['status', running.uuid])).stdout;
  const pid = Number(/^pid=(\d+)$/m.exec(status)?.[1]);
  const r = byId(pods, running.uuid);
  t.is(r['pid'], pid);
  t.not(r['started_at'], '0');
  t.regex(r['cgroup'], /^\//, 'the cgroup of its PID 1');
  t.deepEqual(r['apps'].map((a: Msg) => [a.name, a.state, a.exit_code]), [['waiter', 'APP_STATE_RUNNING', -1]]);
  const exited = pods.find((p) => p['state'] === 'POD_STATE_EXITED') as Msg;
  t.deepEqual(exited['apps'].map((a: Msg) => [a.state, a.exit_code]), [['APP_STATE_EXITED', 0]]);
  t.is(exited['cgroup'], '', 'no cgroup once exited');
  const garbage = pods.find((p) => p['state'] === 'POD_STATE_GARBAGE') as Msg;
  t.deepEqual(garbage['apps'].map((a: Msg) => [a.state, a.exit_code]), [['APP_STATE_EXITED', 3]]);
  t.not(garbage['gc_marked_at'], '0');
  t.true(BigInt(garbage['gc_marked_at']) >= BigInt(garbage['created_at']));
  const p = byId(pods, prepared);
  t.deepEqual(p['apps'].map((a: Msg) => [a.state, a.exit_code]), [['APP_STATE_UNDEFINED', -1]]);
  t.is(p['pid'], -1);
  t.is(p['started_at'], '0');

  const detailed = (await api.call('ListPods', { detail: true })).pods as Msg[];
  for (const d of detailed) t.is(JSON.parse(d['manifest'].toString()).acKind, 'PodManifest');

  const { pod } = await api.call('InspectPod', { id: garbage['id'] });
  t.is(pod.state, 'POD_STATE_GARBAGE');
  t.is(JSON.parse(pod.manifest.toString()).apps[0].name, pod.apps[0].name);
  t.is((await api.call('InspectPod', { id: running.uuid.slice(0, 8) })).pod.id, running.uuid, 'a unique UUID prefix, as the CLI takes');

  running.stop();
  t.is((await running.bg.exit).code, 0);
});

podTest(title('ListPods filters: states, app names, ids, image ids, annotations; OR across filters, AND within one'), async (t) => {
  const env = await podEnv(t);
  const img = await image();
  t.is((await env.run([img, '--name=alpha', '--exec=/bin/true'])).exitCode, 0);
  const prep = await env.r([INSECURE, 'prepare', '--quiet', '--net=host', img, '--name=beta', '--exec=/bin/true']);
  t.is(prep.exitCode, 0, prep.stderr);
  const beta = prep.stdout.trim();
  const { api } = await serve(t, env);
  const ids = async (...filters: object[]) => ((await api.call('ListPods', { filters })).pods as Msg[]).map((p) => p['id'] as string).sort();
  const all = await ids();
  t.is(all.length, 2);
  const alpha = all.find((u) => u !== beta) as string;
  t.deepEqual(await ids({ states: ['POD_STATE_PREPARED'] }), [beta]);
  t.deepEqual(await ids({ states: ['POD_STATE_EXITED', 'POD_STATE_RUNNING'] }), [alpha]);
  t.deepEqual(await ids({ app_names: ['alpha'] }), [alpha]);
  t.deepEqual(await ids({ app_names: ['alpha', 'beta'] }), [], 'all of the app names');
  t.deepEqual(await ids({ ids: [beta] }), [beta]);
  t.deepEqual(await ids({ ids: [beta], states: ['POD_STATE_EXITED'] }), [], 'AND within a filter');
  t.deepEqual(await ids({ ids: [beta] }, { app_names: ['alpha'] }), [alpha, beta].sort(), 'OR across filters');
  const imageId = ((await api.call('InspectPod', { id: alpha })).pod.apps[0] as Msg).image.id as string;
  t.deepEqual(await ids({ image_ids: [imageId] }), all);
  t.deepEqual(await ids({ network_names: ['default'] }), [], 'host-network pods are on no network');
  t.deepEqual(await ids({ annotations: [{ Key: 'no-such', value: 'x' }] }), []);
  t.deepEqual(await ids({ cgroups: ['/nowhere'] }), []);
});

podTest(title('an embryo and an aborted prepare (their rkt died) are listed as rkt list shows them: EMBRYO with its id only, ABORTED_PREPARE'), async (t) => {
  const env = await podEnv(t);
  const embryo = '0a1b2c3d-0000-4000-8000-000000000001';
  const aborted = '0a1b2c3d-0000-4000-8000-000000000002';
  for (const [dir, uuid] of [['embryo', embryo], ['prepare', aborted]] as const) {
    const d = path.join(env.data, 'pods', dir, uuid);
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, 'uuid'), `${uuid}\n`);
    writeFileSync(path.join(d, 'created'), '2026-12-01T10:00:00Z\n');
  }
  const list = await env.r(['list', '--format=json']);
  t.deepEqual((JSON.parse(list.stdout) as { name: string; state: string }[]).map((p) => [p.name, p.state]), [[embryo, 'embryo'], [aborted, 'aborted-prepare']]);
  const { api } = await serve(t, env);
  const { pods } = await api.call('ListPods', {}) as { pods: Msg[] };
  t.deepEqual(pods.map((p) => [p['id'], p['state'], p['pid'], p['apps'].length]), [[embryo, 'POD_STATE_EMBRYO', -1, 0], [aborted, 'POD_STATE_ABORTED_PREPARE', -1, 0]]);
  t.is(byId(pods, aborted)['created_at'], String(Date.parse('2026-12-01T10:00:00Z') * 1e6));
  t.deepEqual(((await api.call('ListPods', { filters: [{ states: ['POD_STATE_ABORTED_PREPARE'] }] })).pods as Msg[]).map((p) => p['id']), [aborted]);
});

podTest(title('hostile state on disk: a damaged pod manifest and image manifest are warned about; the pod and image are still listed, the others intact'), async (t) => {
  const env = await podEnv(t);
  const img = await image();
  const good = await env.r([INSECURE, 'prepare', '--quiet', '--net=host', img, '--exec=/bin/true']);
  const bad = await env.r([INSECURE, 'prepare', '--quiet', '--net=host', img, '--exec=/bin/true']);
  t.is(good.exitCode, 0, good.stderr);
  t.is(bad.exitCode, 0, bad.stderr);
  const badUuid = bad.stdout.trim();
  writeFileSync(path.join(env.data, 'pods/prepared', badUuid, 'pod'), '{"acKind":"PodManifest","apps":[{"name":"../../etc"}]');
  const fetched = await env.r([INSECURE, 'fetch', BUSYBOX]);
  t.is(fetched.exitCode, 0, fetched.stderr);
  const trees = path.join(env.data, 'cas/trees');
  const treeId = readdirSync(trees).find((d) => d.startsWith(fetched.stdout.trim())) as string;
  writeFileSync(path.join(trees, treeId, 'manifest'), '\u0000not json');
  const { svc, api } = await serve(t, env);
  const { pods } = await api.call('ListPods', {}) as { pods: Msg[] };
  t.deepEqual(pods.map((p) => [p['id'], p['state'], p['apps'].length]).sort(), [[good.stdout.trim(), 'POD_STATE_PREPARED', 1], [badUuid, 'POD_STATE_PREPARED', 0]].sort());
  const { images } = await api.call('ListImages', {}) as { images: Msg[] };
  const damaged = images.find((i) => i['id'] === treeId);
  t.deepEqual([damaged?.['name'], damaged?.['annotations'].length, damaged?.['manifest'].length], ['example.com/busybox', 0, 0], 'the record still names it');
  t.true(images.some((i) => i['name'] === 'example.com/api-probe'), 'the other images are listed as usual');
  await until('the warnings are printed', 30_000, () => svc.log().includes(badUuid) && svc.log().includes(treeId), 50);
  t.regex(svc.log(), new RegExp(`^api-service: warning: pod ${badUuid}: .*/pod: `, 'm'));
  t.regex(svc.log(), new RegExp(`^api-service: warning: image ${treeId}: .*/manifest: `, 'm'));
  t.notRegex(svc.log(), /internal error|\n\s+at /);
});

podTest(title('InspectPod of an unknown pod is NOT_FOUND, of no id INVALID_ARGUMENT'), async (t) => {
  const env = await podEnv(t);
  const { api } = await serve(t, env);
  const e = await grpcError(api.call('InspectPod', { id: '01234567-89ab-4def-8123-456789abcdef' }));
  t.is(e.code, status.NOT_FOUND);
  t.regex(e.details, /no pod "01234567-89ab-4def-8123-456789abcdef"/);
  t.is((await grpcError(api.call('InspectPod', {}))).code, status.INVALID_ARGUMENT);
});

podTest(title('ListImages and InspectImage: the busybox image with its labels and annotations, filters, manifest only with detail; unknown → NOT_FOUND'), async (t) => {
  const env = await podEnv(t);
  const fetched = await env.r([INSECURE, 'fetch', BUSYBOX]);
  t.is(fetched.exitCode, 0, fetched.stderr);
  const short = fetched.stdout.trim(); // rkt fetch prints the short form of the ID
  const other = await env.r([INSECURE, 'fetch', await image()]);
  t.is(other.exitCode, 0, other.stderr);
  const { api } = await serve(t, env);
  const { images } = await api.call('ListImages', {}) as { images: Msg[] };
  t.is(images.length, 2);
  const bb = images.find((i) => (i['id'] as string).startsWith(short)) as Msg;
  const id = bb['id'] as string;
  t.regex(id, /^sha512-[0-9a-f]{128}$/);
  t.is(bb['name'], 'example.com/busybox');
  t.deepEqual(bb['base_format'], { type: 'IMAGE_TYPE_APPC', version: '0.8.11' });
  t.regex(bb['version'], /^\d+\.\d+/, "the image's version label");
  t.true(Number(bb['size']) > 0);
  t.true(Math.abs(Number(bb['import_timestamp']) - Date.now() / 1000) < 24 * 3600, 'seconds since the epoch');
  t.is(bb['manifest'].length, 0, 'no manifest without detail');
  t.true(bb['labels'].some((l: Msg) => l.Key === 'os' && l.value === 'linux'));
  const created = (bb['annotations'] as Msg[]).find((a) => a.Key === 'created');
  t.truthy(created, 'the image manifest\'s annotations');

  const names = async (...filters: object[]) => ((await api.call('ListImages', { filters })).images as Msg[]).map((i) => i['name'] as string).sort();
  t.deepEqual(await names({ base_names: ['busybox'] }), ['example.com/busybox']);
  t.deepEqual(await names({ prefixes: ['example.com/api'] }), ['example.com/api-probe']);
  t.deepEqual(await names({ keywords: ['probe', 'busy'] }), ['example.com/api-probe', 'example.com/busybox']);
  t.deepEqual(await names({ full_names: ['example.com/busybox'] }), ['example.com/busybox']);
  t.deepEqual(await names({ ids: [id] }), ['example.com/busybox']);
  t.deepEqual(await names({ labels: [{ Key: 'version', value: bb['version'] }] }), ['example.com/busybox']);
  t.deepEqual(await names({ annotations: [{ Key: 'created', value: created?.value }] }), ['example.com/busybox']);
  t.deepEqual(await names({ imported_before: '1000000000' }), []);
  t.deepEqual(await names({ imported_after: '1000000000', base_names: ['api-probe'] }), ['example.com/api-probe']);

  const detailed = (await api.call('ListImages', { detail: true })).images as Msg[];
  for (const d of detailed) t.is(JSON.parse(d['manifest'].toString()).acKind, 'ImageManifest');
  const { image: one } = await api.call('InspectImage', { id });
  t.is(one.id, id);
  t.is(JSON.parse(one.manifest.toString()).name, 'example.com/busybox');
  t.is((await api.call('InspectImage', { id: id.slice(0, 40) })).image.id, id, 'a unique ID prefix');
  const missing = await grpcError(api.call('InspectImage', { id: `sha512-${'0'.repeat(128)}` }));
  t.is(missing.code, status.NOT_FOUND);
  t.is((await grpcError(api.call('InspectImage', { id: 'example.com/busybox' }))).code, status.INVALID_ARGUMENT);
});

podTest(title('ListenEvents: a pod going through its states is seen started, its app exiting with its status, the pod exiting; a fetch is an image imported'), async (t) => {
  const env = await podEnv(t);
  const img = await image();
  const { api } = await serve(t, env);
  const s = api.stream('ListenEvents', { filter: {} });
  await s.headers;
  const events = () => s.messages.flatMap((m) => m['events'] as Msg[]);
  const pod = await waitingPod(env, 'ev', 7);
  await until('the pod is seen started', 60_000, () => events().some((e) => e.type === 'EVENT_TYPE_POD_STARTED' && e.id === pod.uuid), 50);
  t.false(events().some((e) => e.type === 'EVENT_TYPE_POD_EXITED'), 'not exited while it runs');
  pod.stop();
  t.is((await pod.bg.exit).code, 7);
  await until('the pod is seen exited', 60_000, () => events().some((e) => e.type === 'EVENT_TYPE_POD_EXITED' && e.id === pod.uuid), 50);
  const mine = events().filter((e) => e.id === pod.uuid);
  t.deepEqual(mine.map((e) => e.type), ['EVENT_TYPE_POD_STARTED', 'EVENT_TYPE_APP_STARTED', 'EVENT_TYPE_APP_EXITED', 'EVENT_TYPE_POD_EXITED'], 'each once, in lifecycle order');
  const appExited = mine.find((e) => e.type === 'EVENT_TYPE_APP_EXITED');
  t.is(appExited?.from, 'waiter');
  t.deepEqual(appExited?.data, [{ Key: 'exit_code', value: '7' }]);
  t.deepEqual(mine.find((e) => e.type === 'EVENT_TYPE_POD_EXITED')?.data, [{ Key: 'app-waiter', value: '7' }]);
  for (const e of mine) t.true(Math.abs(Number(e.time) - Date.now() / 1000) < 3600, 'seconds since the epoch');

  // A filter: only image events; the fetch's image is seen imported.
  const images = api.stream('ListenEvents', { filter: { types: ['EVENT_TYPE_IMAGE_IMPORTED', 'EVENT_TYPE_IMAGE_REMOVED'] } });
  await images.headers;
  const fetched = await env.r([INSECURE, 'fetch', BUSYBOX]);
  t.is(fetched.exitCode, 0, fetched.stderr);
  const short = fetched.stdout.trim();
  const imageEvents = () => images.messages.flatMap((m) => m['events'] as Msg[]);
  await until('the image is seen imported', 60_000, () => imageEvents().some((e) => (e.id as string).startsWith(short)), 50);
  const id = imageEvents()[0]?.id as string;
  t.regex(id, /^sha512-[0-9a-f]{128}$/);
  t.deepEqual(imageEvents().map((e) => [e.type, e.id, e.from]), [['EVENT_TYPE_IMAGE_IMPORTED', id, 'example.com/busybox']]);
  t.is((await env.r(['image', 'rm', short])).exitCode, 0);
  await until('the image is seen removed', 60_000, () => imageEvents().some((e) => e.type === 'EVENT_TYPE_IMAGE_REMOVED'), 50);
  s.cancel();
  images.cancel();
  t.is((await s.done).code, status.CANCELLED);
  // until_time: the stream ends (OK) at that moment.
  const bounded = api.stream('ListenEvents', { filter: { until_time: String(Math.floor(Date.now() / 1000) + 1) } });
  t.is((await bounded.done).code, status.OK);
});

podTest(title('GetLogs of a pod without a journal on the host is FAILED_PRECONDITION saying so; of an unknown pod NOT_FOUND'), async (t) => {
  const env = await podEnv(t);
  t.is((await env.run([await image(), '--exec=/bin/sh', '--', '-c', 'echo hello'])).exitCode, 0);
  const journals = tempDir('rkt-api-journal-');
  t.teardown(journals.cleanup);
  const { api } = await serve(t, env, { RKT_API_JOURNAL_ROOT: journals.dir });
  const uuid = ((await api.call('ListPods', {})).pods as Msg[])[0]?.['id'] as string;
  const logs = api.stream('GetLogs', { pod_id: uuid });
  const st = await logs.done;
  t.is(st.code, status.FAILED_PRECONDITION);
  t.regex(st.details, new RegExp(`pod ${uuid} has no journal on this host \\(${journals.dir}/${uuid.replace(/-/g, '')} does not exist\\)`));
  t.deepEqual(logs.messages, [], 'no lines, never an empty success');
  const unknown = await api.stream('GetLogs', { pod_id: '01234567-89ab-4def-8123-456789abcdef' }).done;
  t.is(unknown.code, status.NOT_FOUND);
});

podTest(title('a second service on the same port: exit 1 naming the address in use; SIGTERM stops a service cleanly (exit 0)'), async (t) => {
  const env = await podEnv(t);
  const { svc } = await serve(t, env);
  const second = await rkt([`--dir=${env.data}`, 'api-service', `--listen=127.0.0.1:${svc.port}`]);
  t.is(second.exitCode, 1);
  t.regex(second.stderr, new RegExp(`^rkt: rkt api-service cannot listen on 127\\.0\\.0\\.1:${svc.port}: the address is already in use`, 'm'));
  t.notRegex(second.stderr, /\n\s+at /, 'no stack trace');
  // The first one still answers.
  const sock = net.connect(svc.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', () => resolve()).once('error', reject));
  sock.destroy();
  svc.child.kill('SIGTERM');
  const { code, signal } = await svc.exit;
  t.deepEqual([code, signal], [0, null]);
  t.regex(svc.log(), /^api-service: stopped$/m);
});

/** A port that was free a moment ago (for a listener that cannot be asked for port 0). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const socketActivateSkip = existsSync('/usr/bin/systemd-socket-activate') ? undefined : 'needs systemd-socket-activate (package systemd)';

podTest(title(`socket activation: started with systemd's socket (LISTEN_FDS) it serves that socket; --listen beside it is refused (exit 2)${socketActivateSkip === undefined ? '' : ` (skipped: ${socketActivateSkip})`}`), async (t) => {
  if (socketActivateSkip !== undefined) { t.log(socketActivateSkip); t.pass(); return; }
  const env = await podEnv(t);
  const activate = async (args: readonly string[]) => {
    const port = await freePort();
    const child = spawn('/usr/bin/systemd-socket-activate', ['-l', `127.0.0.1:${port}`, '--', process.execPath, RKT, `--dir=${env.data}`, 'api-service', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.stdout.resume();
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await exit; } });
    await until('systemd-socket-activate listens', 30_000, () => /Listening on/.test(err) || child.exitCode !== null, 50);
    return { port, child, exit, log: () => err };
  };
  const a = await activate([]);
  const api = client(a.port);
  const { info } = await api.call('GetInfo');
  t.is(info.global_flags.dir, env.data);
  t.regex(a.log(), new RegExp(`api-service: listening on 127\\.0\\.0\\.1:${a.port} \\(sockets passed by systemd\\)`));
  api.close();
  a.child.kill('SIGTERM');
  t.deepEqual(await a.exit, { code: 0, signal: null });

  const b = await activate(['--listen=127.0.0.1:1']);
  const poke = net.connect(b.port, '127.0.0.1');
  poke.on('error', () => undefined);
  t.deepEqual(await b.exit, { code: 2, signal: null });
  poke.destroy();
  t.regex(b.log(), /^rkt: --listen is given, but systemd passed sockets to listen on \(LISTEN_FDS\): drop one of them$/m);
});

test('an address that is not this machine\'s is exit 1 naming it (192.0.2.1: TEST-NET-1, never assigned here)', async (t) => {
  const r = await rkt(['api-service', '--listen=192.0.2.1:15441']);
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /^rkt: rkt api-service cannot listen on 192\.0\.2\.1:15441: it is not an address of this machine$/m);
});

test('a bad --listen is a usage error (exit 2) naming the value', async (t) => {
  for (const bad of ['nothing', 'localhost:99999', '[127.0.0.1]:5', 'a:b:c']) {
    const r = await rkt(['api-service', `--listen=${bad}`]);
    t.is(r.exitCode, 2, bad);
    t.regex(r.stderr, new RegExp(`^rkt: bad --listen "${bad.replace(/[[\]]/g, '\\$&')}"`, 'm'), bad);
  }
});
