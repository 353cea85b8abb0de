// Failures before a pod boots: an --exec that is not in the image, and rkt run without root.
import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RKT, runCmd } from '../../lib/rkt.js';
import { INSECURE, podEnv, podTest, sharedImage, title } from '../../lib/pods.js';

const busybox = sharedImage();

podTest(title('--exec of a path not in the image: "no such file in image", exit 254, and no pod boots'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run([await busybox(), '--exec=/bin/nothere']);
  t.is(res.exitCode, 254);
  t.is(res.stdout, '');
  t.is(res.stderr, 'rkt: exec /bin/nothere: no such file in image example.com/busybox\n');
  t.false(existsSync(path.join(env.data, 'pods/run')) && readdirSync(path.join(env.data, 'pods/run')).length > 0, 'no pod reached run/');
  const list = JSON.parse((await env.r(['list', '--format=json'])).stdout) as { state: string; started_at?: string }[];
  t.true(list.every((p) => p.state !== 'running' && p.state !== 'exited' && p.started_at === undefined), JSON.stringify(list));
});

podTest(title('rkt run as a non-root user (nobody) says it needs root, exit 254'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const res = await runCmd('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, RKT, `--dir=${env.data}`, INSECURE, 'run', img],
    { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent' } });
  t.is(res.exitCode, 254, res.stderr);
  t.is(res.stdout, '');
  t.regex(res.stderr, /^rkt: cannot run "rkt run": it needs root\n/);
  t.false(existsSync(path.join(env.data, 'pods')), 'nothing was created');
});

podTest(title('a failure before any app starts is rkt\'s (254, the reason on stderr), never a status passed off as the app\'s'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  // run-prepared of a pod whose image tree has gone: the launcher's overlay mount cannot be made.
  const prep = await env.r([INSECURE, 'prepare', '--net=host', img, '--exec=/bin/true']);
  t.is(prep.exitCode, 0, prep.stderr);
  const uuid = prep.stdout.trim();
  const trees = path.join(env.data, 'cas', 'trees');
  const moved = path.join(env.dir, 'moved-trees');
  renameSync(trees, moved);
  const gone = await env.r(['run-prepared', uuid]);
  renameSync(moved, trees);
  t.is(gone.exitCode, 254, gone.stderr);
  t.regex(gone.stderr, /^rkt: cannot start the pod: the image tree .* is missing/m);
  t.regex(gone.stderr, new RegExp(`^rkt: pod ${uuid} failed before any app started$`, 'm'));
  t.false(/app-/.test((await env.r(['status', uuid])).stdout), 'no app status was recorded');
  // A host file mounted over a directory the image has: nspawn refuses the bind and exits 1.
  const file = env.file('a-file');
  writeFileSync(file, 'x\n');
  const over = await env.run([`--volume=f,kind=host,source=${file}`, img, '--mount=volume=f,target=/bin', '--exec=/bin/true']);
  t.is(over.exitCode, 254, over.stderr);
  t.regex(over.stderr, /failed before any app started \(stage1 exited with status 1\)$/m);
});
