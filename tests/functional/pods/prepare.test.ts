// rkt prepare / rkt run-prepared, --uuid-file-save / --uuid-file, and naming pods by UUID prefix.
import { readFileSync } from 'node:fs';
import { podEnv, podTest, sharedImage, statusMap, title, INSECURE, UUID_RE } from '../../lib/pods.js';

const busybox = sharedImage();

podTest(title('prepare prints only the UUID; the pod is listed as prepared; run-prepared runs it with its exit status'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const prep = await env.r([INSECURE, 'prepare', img, '--name=later', '--exec=/bin/sh', '--', '-c', 'echo ran; exit 5']);
  t.is(prep.exitCode, 0, prep.stderr);
  t.regex(prep.stdout, /^[0-9a-f-]{36}\n$/);
  const uuid = prep.stdout.trim();
  t.regex(uuid, UUID_RE);

  const list = await env.r(['list', '--no-legend']);
  t.deepEqual(list.stdout.trimEnd().split(/\t/).map((c) => c.trim()).slice(0, 5), [uuid.slice(0, 8), 'later', 'example.com/busybox', 'prepared', list.stdout.split(/\t/)[4]?.trim() ?? '']);
  t.regex(list.stdout, /\tprepared\s*\t\d+ (second|minute)s? ago\s*\t-\n$/, 'not started yet');
  t.is(statusMap((await env.r(['status', uuid])).stdout).get('state'), 'prepared');

  const run = await env.r(['run-prepared', uuid]);
  t.is(run.exitCode, 5, run.stderr);
  t.is(run.stdout, 'ran\n');
  const m = statusMap((await env.r(['status', uuid])).stdout);
  t.is(m.get('state'), 'exited');
  t.is(m.get('app-later'), '5');

  const again = await env.r(['run-prepared', uuid]);
  t.is(again.exitCode, 254, 'an exited pod cannot run again');
  t.regex(again.stderr, new RegExp(`^rkt: pod ${uuid} is exited, not prepared`));
});

podTest(title('prepare --uuid-file-save, then status and run-prepared with --uuid-file'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const uuidFile = env.file('pod.uuid');
  const prep = await env.r([INSECURE, 'prepare', `--uuid-file-save=${uuidFile}`, img, '--exec=/bin/sh', '--', '-c', 'exit 0']);
  t.is(prep.exitCode, 0, prep.stderr);
  const uuid = prep.stdout.trim();
  t.is(readFileSync(uuidFile, 'utf8').trim(), uuid);
  const st = await env.r(['status', `--uuid-file=${uuidFile}`]);
  t.is(st.exitCode, 0, st.stderr);
  t.is(statusMap(st.stdout).get('state'), 'prepared');
  const run = await env.r(['run-prepared', `--uuid-file=${uuidFile}`]);
  t.is(run.exitCode, 0, run.stderr);
  const after = statusMap((await env.r(['status', `--uuid-file=${uuidFile}`])).stdout);
  t.is(after.get('state'), 'exited');
  t.is(after.get('app-busybox'), '0');

  const both = await env.r(['status', `--uuid-file=${uuidFile}`, uuid]);
  t.is(both.exitCode, 2, 'a UUID and --uuid-file together are a usage error');
  const missing = await env.r(['status', `--uuid-file=${env.file('nothere')}`]);
  t.is(missing.exitCode, 254);
  t.regex(missing.stderr, /^rkt: cannot read --uuid-file ".*nothere"/);
});

podTest(title('UUID prefixes name pods; an ambiguous prefix lists the candidates; an unknown UUID is "no pod"'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const prepare = async () => {
    const p = await env.r([INSECURE, 'prepare', img, '--exec=/bin/true']);
    t.is(p.exitCode, 0, p.stderr);
    return p.stdout.trim();
  };
  // Prepare pods until two share a first character: that one character is an ambiguous prefix.
  const uuids: string[] = [await prepare()];
  let pair: [string, string] | undefined;
  while (pair === undefined && uuids.length <= 17) {
    uuids.push(...await Promise.all([prepare(), prepare()]));
    for (const a of uuids) for (const b of uuids) if (a < b && a[0] === b[0]) pair = [a, b];
  }
  if (pair === undefined) return t.fail('17 UUIDs and no two share a first character');
  const [a, b] = pair;

  const byPrefix = await env.r(['status', a.slice(0, 8)]);
  t.is(byPrefix.exitCode, 0, byPrefix.stderr);
  t.is(statusMap(byPrefix.stdout).get('state'), 'prepared');
  const upper = await env.r(['status', a.toUpperCase()]);
  t.is(upper.exitCode, 0, 'UUIDs are matched without regard to case');

  const prefix = a.slice(0, 1);
  const amb = await env.r(['status', prefix]);
  t.is(amb.exitCode, 254);
  t.is(amb.stdout, '');
  t.regex(amb.stderr, new RegExp(`^rkt: pod UUID prefix "${prefix}" is ambiguous: it matches `));
  const candidates = uuids.filter((u) => u.startsWith(prefix)).sort();
  t.true(amb.stderr.includes(candidates.join(', ')), amb.stderr);
  t.true(amb.stderr.includes(a) && amb.stderr.includes(b));
  const ambRun = await env.r(['run-prepared', prefix]);
  t.is(ambRun.exitCode, 254, 'run-prepared refuses an ambiguous prefix too');
  t.regex(ambRun.stderr, /is ambiguous/);

  const empty = await env.r(['status', '']);
  t.is(empty.exitCode, 254);
  t.regex(empty.stderr, /^rkt: no pod ""/);

  const unknown = 'ffffffff-ffff-4fff-bfff-ffffffffffff';
  const none = await env.r(['status', unknown]);
  t.is(none.exitCode, 254);
  t.is(none.stderr, `rkt: no pod "${unknown}"\nrkt: see "rkt list"\n`);
  const noneRun = await env.r(['run-prepared', unknown]);
  t.is(noneRun.exitCode, 254);
  t.is(noneRun.stderr.split('\n')[0], `rkt: no pod "${unknown}"`);
});
