// rkt status and rkt list, as a user reads them: key=value lines, JSON, waiting, and the pod table.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { podEnv, podTest, sharedImage, statusMap, title, waitRunning, UUID_RE, type PodEnv } from '../../lib/pods.js';

const busybox = sharedImage();
// An app that runs until the test lets it go (a file `go` in its host volume), then exits 4: the test sees
// it running however slowly the machine starts it, and decides when it ends.
const gated = sharedImage({
  name: 'example.com/gated',
  exec: ['/bin/sh', '-c', 'while [ ! -e /data/go ]; do sleep 0.1; done; exit 4'],
  mountPoints: [{ name: 'data', path: '/data' }],
});

/** Run the gated app as `shortrun` in the background; `release()` lets it exit 4. */
async function startGated(env: PodEnv) {
  const vol = env.file('vol');
  mkdirSync(vol);
  const uuidFile = env.file('uuid');
  const bg = env.spawnRun([`--uuid-file-save=${uuidFile}`, `--volume=data,kind=host,source=${vol}`, await gated(), '--name=shortrun']);
  const uuid = await waitRunning(env, uuidFile, bg);
  return { uuid, bg, release: () => writeFileSync(path.join(vol, 'go'), '') };
}
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

podTest(title('a running pod: status fields, --format=json, --wait=1s times out (254); list, --no-legend, --full, --format=json'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const uuidFile = env.file('uuid');
  const bg = env.spawnRun([`--uuid-file-save=${uuidFile}`, img, '--name=longrun', '--exec=/bin/sleep', '--', '86400']);
  const uuid = await waitRunning(env, uuidFile, bg);
  t.regex(uuid, UUID_RE);

  const st = await env.r(['status', uuid]);
  t.is(st.exitCode, 0, st.stderr);
  const lines = st.stdout.trimEnd().split('\n');
  t.deepEqual(lines.map((l) => l.split('=')[0]), ['state', 'created', 'started', 'pid', 'exited'], st.stdout);
  const m = statusMap(st.stdout);
  t.is(m.get('state'), 'running');
  t.regex(m.get('created') ?? '', ISO);
  t.regex(m.get('started') ?? '', ISO);
  t.true(Date.parse(m.get('started') ?? '') >= Date.parse(m.get('created') ?? ''));
  t.regex(m.get('pid') ?? '', /^[1-9]\d*$/);
  t.true(existsSync(`/proc/${m.get('pid') ?? 'x'}`), 'pid is a live host process');
  t.is(m.get('exited'), 'false');

  const js = await env.r(['status', '--format=json', uuid]);
  t.is(js.exitCode, 0, js.stderr);
  const j = JSON.parse(js.stdout) as Record<string, unknown>;
  t.is(j['name'], uuid);
  t.is(j['state'], 'running');
  t.is(j['pid'], Number(m.get('pid')));
  t.is(j['created_at'], m.get('created'));
  t.is(j['started_at'], m.get('started'));
  t.deepEqual(j['app_statuses'], {});

  const w = await env.r(['status', '--wait=1s', uuid]);
  t.is(w.exitCode, 254);
  t.regex(w.stderr, new RegExp(`^rkt: pod ${uuid} is still running after 1s`));

  const list = await env.r(['list']);
  t.is(list.exitCode, 0, list.stderr);
  const rows = list.stdout.trimEnd().split('\n');
  t.is(rows.length, 2, list.stdout);
  t.deepEqual(rows[0]?.split(/\t/).map((c) => c.trim()), ['UUID', 'APP', 'IMAGE NAME', 'STATE', 'CREATED', 'STARTED']);
  const row = rows[1]?.split(/\t/).map((c) => c.trim()) ?? [];
  t.is(row[0], uuid.slice(0, 8));
  t.is(row[1], 'longrun');
  t.is(row[2], 'example.com/busybox');
  t.is(row[3], 'running');
  t.regex(row[4] ?? '', /^\d+ (second|minute)s? ago$/);
  t.regex(row[5] ?? '', /^\d+ (second|minute)s? ago$/);

  const noLegend = await env.r(['list', '--no-legend']);
  const nrows = noLegend.stdout.trimEnd().split('\n');
  t.is(nrows.length, 1, noLegend.stdout);
  t.deepEqual(nrows[0]?.split(/\t/).map((c) => c.trim()).slice(0, 4), [uuid.slice(0, 8), 'longrun', 'example.com/busybox', 'running']);

  const full = await env.r(['list', '--full', '--no-legend']);
  const frow = full.stdout.trimEnd().split(/\t/).map((c) => c.trim());
  t.is(frow[0], uuid);
  t.is(frow[1], 'longrun');
  t.is(frow[2], 'example.com/busybox');
  t.regex(frow[3] ?? '', /^sha512-[0-9a-f]{128}$/);
  t.is(frow[4], 'running');
  t.is(frow[5], m.get('created'));
  t.is(frow[6], m.get('started'));
  t.is((await env.r(['list', '--full'])).stdout.split('\n')[0]?.split(/\t/).map((c) => c.trim())[3], 'IMAGE ID');
  // What list showed of the pod's creation and apps, it read from the pod's list.json, written at prepare.
  t.deepEqual(JSON.parse(readFileSync(path.join(env.data, 'pods', 'run', uuid, 'list.json'), 'utf8')), {
    created: m.get('created'), apps: [{ name: 'longrun', image: 'example.com/busybox', id: frow[3] }],
  });

  const lj = await env.r(['list', '--format=json']);
  t.is(lj.exitCode, 0, lj.stderr);
  const pods = JSON.parse(lj.stdout) as Record<string, unknown>[];
  t.is(pods.length, 1);
  t.like(pods[0], { name: uuid, state: 'running', app_names: ['longrun'], created_at: m.get('created'), started_at: m.get('started') });
  t.like((pods[0]?.['apps'] as Record<string, unknown>[])[0], { name: 'longrun', image_name: 'example.com/busybox', image_id: frow[3] });

  t.is((await env.r(['stop', '--force', uuid])).exitCode, 0);
  await bg.exit;
});

podTest(title('status --wait returns once the pod has exited, with exited-at and the app status'), async (t) => {
  const env = await podEnv(t);
  const { uuid, bg, release } = await startGated(env);
  const waiting = env.r(['status', uuid, '--wait']);
  release();
  const st = await waiting;
  t.is(st.exitCode, 0, st.stderr);
  const m = statusMap(st.stdout);
  t.is(m.get('state'), 'exited');
  t.is(m.get('exited'), 'true');
  t.is(m.get('app-shortrun'), '4');
  t.false(m.has('pid'), 'no pid once exited');
  t.is((await bg.exit).code, 4);

  // Once rkt run has finished, the exit time is recorded too.
  const after = statusMap((await env.r(['status', uuid])).stdout);
  t.regex(after.get('exited-at') ?? '', ISO);
  t.true(Date.parse(after.get('exited-at') ?? '') >= Date.parse(after.get('started') ?? ''));
  const js = JSON.parse((await env.r(['status', '--format=json', uuid])).stdout) as Record<string, unknown>;
  t.like(js, { name: uuid, state: 'exited', app_statuses: { shortrun: 4 }, exited_at: after.get('exited-at') });
  t.false('pid' in js);

  const list = await env.r(['list', '--no-legend']);
  t.regex(list.stdout, new RegExp(`^${uuid.slice(0, 8)}\\s+shortrun\\s+example\\.com/gated\\s+exited\\s`));
});

// A bare --wait must not take the UUID after it as its value (rkt's documented form).
podTest(title('status --wait UUID (the documented form: a bare --wait before the UUID) waits for the pod'), async (t) => {
  const env = await podEnv(t);
  const { uuid, bg, release } = await startGated(env);
  const waiting = env.r(['status', '--wait', uuid]);
  release();
  const st = await waiting;
  t.is(st.exitCode, 0, st.stderr);
  t.is(statusMap(st.stdout).get('app-shortrun'), '4');
  t.is((await bg.exit).code, 4);
});
