// Two pods at the same time, each with its own rkt run.
import { readFileSync } from 'node:fs';
import { podEnv, podTest, sharedImage, statusMap, title } from '../../lib/pods.js';

const busybox = sharedImage();

podTest(title('two pods started together both run (at the same time) and both succeed'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const files = [env.file('uuid-1'), env.file('uuid-2')];
  const [one, two] = await Promise.all(files.map((f, i) =>
    env.run([`--uuid-file-save=${f}`, img, `--name=pod${i + 1}`, '--exec=/bin/sh', '--', '-c', `sleep 2; echo ok-${i + 1}`])));
  t.is(one?.exitCode, 0, one?.stderr);
  t.is(two?.exitCode, 0, two?.stderr);
  t.is(one?.stdout, 'ok-1\n');
  t.is(two?.stdout, 'ok-2\n');
  const st = await Promise.all(files.map(async (f) => statusMap((await env.r(['status', readFileSync(f, 'utf8').trim()])).stdout)));
  t.is(st[0]?.get('app-pod1'), '0');
  t.is(st[1]?.get('app-pod2'), '0');
  const started = st.map((m) => Date.parse(m.get('started') ?? ''));
  const exited = st.map((m) => Date.parse(m.get('exited-at') ?? ''));
  t.true((started[0] ?? NaN) < (exited[1] ?? NaN) && (started[1] ?? NaN) < (exited[0] ?? NaN), 'the two pods overlapped in time');
  const list = (await env.r(['list', '--no-legend'])).stdout.trimEnd().split('\n');
  t.is(list.length, 2);
});
