// appc event handlers: pre-start runs before the app, post-stop after it, both in the app's root.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { podEnv, podTest, sharedImage, title } from '../../lib/pods.js';

const log = (what: string) => ['/bin/sh', '-c', `echo ${what} >> /log/order`];
const handlers = sharedImage({
  name: 'example.com/handlers',
  exec: log('app'),
  mountPoints: [{ name: 'log', path: '/log' }],
  eventHandlers: [{ name: 'pre-start', exec: log('pre-start') }, { name: 'post-stop', exec: log('post-stop') }],
});

podTest(title('pre-start runs before the app and post-stop after it (order recorded in a host volume)'), async (t) => {
  const env = await podEnv(t);
  const vol = env.file('log');
  mkdirSync(vol);
  const res = await env.run([`--volume=log,kind=host,source=${vol}`, await handlers()]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(readFileSync(path.join(vol, 'order'), 'utf8'), 'pre-start\napp\npost-stop\n');
});

podTest(title("post-stop runs after a failing app too, and the pod still exits with the app's status"), async (t) => {
  const env = await podEnv(t);
  const vol = env.file('log');
  mkdirSync(vol);
  const res = await env.run([`--volume=log,kind=host,source=${vol}`, await handlers(), '--exec=/bin/sh', '--', '-c', 'echo failing-app >> /log/order; exit 9']);
  t.is(res.exitCode, 9, res.stderr);
  t.is(readFileSync(path.join(vol, 'order'), 'utf8'), 'pre-start\nfailing-app\npost-stop\n');
});
