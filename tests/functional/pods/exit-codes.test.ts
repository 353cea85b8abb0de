// rkt run's exit status is the pod's: the first failing app's status, 0 when every app succeeded; an app's
// stdout and stderr reach rkt run's own stdout and stderr, each to its own.
import { podEnv, podTest, sharedImage, statusMap, title } from '../../lib/pods.js';

const busybox = sharedImage();

podTest(title('one app: exit 0 gives 0, exit 7 gives 7'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const [ok, seven] = await Promise.all([
    env.run([img, '--exec=/bin/sh', '--', '-c', 'exit 0']),
    env.run([img, '--exec=/bin/sh', '--', '-c', 'exit 7']),
  ]);
  t.is(ok.exitCode, 0, ok.stderr);
  t.is(ok.stderr, '');
  t.is(seven.exitCode, 7, seven.stderr);
  t.is(seven.stderr, '');
});

podTest(title('one app killed by a signal: 128 + the signal (SIGKILL 137), recorded as its status too'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const res = await env.run(['--uuid-file-save=' + env.file('uuid'), img, '--exec=/bin/sh', '--', '-c', 'kill -KILL $$']);
  t.is(res.exitCode, 137, res.stderr);
  const status = statusMap((await env.r(['status', '--uuid-file=' + env.file('uuid')])).stdout);
  t.is(status.get('app-busybox'), '137');
});

podTest(title('two apps, one exits 3 at once, the other would sleep for a day: rkt run exits 3 and the sleeper is stopped (143)'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const uuidFile = env.file('uuid');
  // The sleeper never ends by itself within the test's bounds: rkt run returning at all means the pod ended
  // when the quick app did (env.run gives up after 120 s).
  const res = await env.run([`--uuid-file-save=${uuidFile}`,
    img, '--name=quick', '--exec=/bin/sh', '--', '-c', 'exit 3', '---',
    img, '--name=sleeper', '--exec=/bin/sleep', '--', '86400']);
  t.is(res.exitCode, 3, res.stderr);
  const st = await env.r(['status', `--uuid-file=${uuidFile}`]);
  t.is(st.exitCode, 0, st.stderr);
  const m = statusMap(st.stdout);
  t.is(m.get('state'), 'exited');
  t.is(m.get('app-quick'), '3');
  t.is(m.get('app-sleeper'), '143', 'the sleeper was stopped with SIGTERM (128+15), not left to finish');
});

podTest(title('two apps that both exit 0: rkt run exits 0 once both are done'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const uuidFile = env.file('uuid');
  const res = await env.run([`--uuid-file-save=${uuidFile}`,
    img, '--name=first', '--exec=/bin/sh', '--', '-c', 'exit 0', '---',
    img, '--name=second', '--exec=/bin/sh', '--', '-c', 'sleep 1; echo second done']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'second done\n', 'the pod did not end when the first app did');
  const m = statusMap((await env.r(['status', `--uuid-file=${uuidFile}`])).stdout);
  t.is(m.get('app-first'), '0');
  t.is(m.get('app-second'), '0');
});

podTest(title("an app's stdout goes to rkt run's stdout only, its stderr to rkt run's stderr only"), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const res = await env.run([img, '--exec=/bin/sh', '--', '-c', 'echo to-stdout; echo to-stderr >&2; echo more-stdout']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'to-stdout\nmore-stdout\n');
  t.is(res.stderr, 'to-stderr\n');
});
