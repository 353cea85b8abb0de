// rkt stop: graceful (the app gets SIGTERM, post-stop handlers run, rkt run returns) and --force (SIGKILL).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { podEnv, podTest, sharedImage, statusMap, title, waitForFile, waitRunning, within, type PodEnv } from '../../lib/pods.js';

// An app that says it is up in its volume, then sleeps; its post-stop handler leaves a file in the volume.
const stoppable = sharedImage({
  name: 'example.com/stoppable',
  exec: ['/bin/sh', '-c', 'echo up > /data/up; exec sleep 86400'],
  mountPoints: [{ name: 'data', path: '/data' }],
  eventHandlers: [{ name: 'post-stop', exec: ['/bin/sh', '-c', 'echo post-stop ran > /data/post-stop'] }],
});

async function startLong(env: PodEnv, appArgs: readonly string[] = []) {
  const vol = env.file('vol');
  mkdirSync(vol);
  const uuidFile = env.file('uuid');
  const bg = env.spawnRun([`--uuid-file-save=${uuidFile}`, `--volume=data,kind=host,source=${vol}`, await stoppable(), '--name=sleeper', ...appArgs]);
  const uuid = await waitRunning(env, uuidFile, bg);
  // Wait for the app itself to be running, not just the pod's systemd.
  await waitForFile(path.join(vol, 'up'));
  return { vol, uuid, bg };
}

podTest(title('stop: rkt run returns, the app ends with 143 (SIGTERM); stopping again says "already stopped"'), async (t) => {
  const env = await podEnv(t);
  const { vol, uuid, bg } = await startLong(env);
  const stop = await env.r(['stop', uuid]);
  t.is(stop.exitCode, 0, stop.stderr);
  t.is(stop.stdout, `${uuid}\n`);
  // The app would sleep a day: rkt run ending (bounded only against a hung test) is the stop taking effect.
  const exit = await within(bg.exit, 90_000);
  t.not(exit, undefined, 'rkt run did not return after rkt stop');
  t.is(exit?.signal, null, 'rkt run ended by itself, not by a signal');
  const m = statusMap((await env.r(['status', uuid])).stdout);
  t.is(m.get('state'), 'exited');
  t.is(m.get('app-sleeper'), '143');
  t.true(existsSync(path.join(vol, 'up')));

  const again = await env.r(['stop', uuid]);
  t.is(again.exitCode, 0);
  t.is(again.stdout, '');
  t.is(again.stderr, `pod ${uuid} is already stopped (exited)\n`);
});

// The app unit requires its volume mounts, so a graceful shutdown unmounts them only after ExecStopPost=.
podTest(title('stop: the post-stop handler runs with the app\'s volumes still mounted (its file appears in the host volume)'), async (t) => {
  const env = await podEnv(t);
  const { vol, uuid, bg } = await startLong(env);
  t.is((await env.r(['stop', uuid])).exitCode, 0);
  await bg.exit;
  t.is(statusMap((await env.r(['status', uuid])).stdout).get('app-sleeper'), '143');
  t.true(existsSync(path.join(vol, 'post-stop')), 'no post-stop file in the host volume');
  t.is(readFileSync(path.join(vol, 'post-stop'), 'utf8'), 'post-stop ran\n');
});

podTest(title('stop --force kills the pod, even an app that ignores SIGTERM: rkt run ends with nspawn\'s kill status, no post-stop handler'), async (t) => {
  const env = await podEnv(t);
  // The app ignores SIGTERM and would sleep a day: only a kill ends it before that.
  const { vol, uuid, bg } = await startLong(env, ['--exec=/bin/sh', '--', '-c', "trap '' TERM; echo up > /data/up; sleep 86400"]);
  const stop = await env.r(['stop', '--force', uuid]);
  t.is(stop.exitCode, 0, stop.stderr);
  t.is(stop.stdout, `${uuid}\n`);
  const exit = await within(bg.exit, 90_000);
  t.not(exit, undefined, 'rkt run did not return after rkt stop --force');
  // nspawn reports its container killed and exits 1; rkt run passes that on (no app status to pass).
  t.is(exit?.code, 1);
  t.regex((await bg.done).stderr, /terminated by signal KILL/);
  t.is(statusMap((await env.r(['status', uuid])).stdout).get('state'), 'exited');
  // A graceful stop of this app would have ended it after its stop timeout and then run the post-stop handler.
  t.false(existsSync(path.join(vol, 'post-stop')), 'a killed pod runs no post-stop handler');
});

podTest(title('stop of an exited pod prints "already stopped" on stderr and exits 0; of an unknown pod exits 1'), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  const vol = env.file('vol');
  mkdirSync(vol);
  const res = await env.run([`--uuid-file-save=${uuidFile}`, `--volume=data,kind=host,source=${vol}`, await stoppable(), '--exec=/bin/true']);
  t.is(res.exitCode, 0, res.stderr);
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  const stop = await env.r(['stop', uuid]);
  t.is(stop.exitCode, 0);
  t.is(stop.stdout, '');
  t.is(stop.stderr, `pod ${uuid} is already stopped (exited)\n`);
  const unknown = await env.r(['stop', 'ffffffff-ffff-4fff-bfff-ffffffffffff']);
  t.is(unknown.exitCode, 1);
  t.regex(unknown.stderr, /^rkt: no pod "ffffffff-ffff-4fff-bfff-ffffffffffff"/);
});

podTest(title('stop: a pod whose stage1 stop entrypoint cannot be run gets a clear error (exit 1), not a stack trace'), async (t) => {
  const env = await podEnv(t);
  const { uuid, bg } = await startLong(env);
  const options = path.join(env.data, 'pods', 'run', uuid, 'options.json');
  const saved = readFileSync(options, 'utf8');
  writeFileSync(options, saved.replace(/"stage1Stop": *"[^"]*"/, '"stage1Stop": "rkt/no-such-stop"'));
  // Put it back whatever happens: the teardown stops leftover pods with rkt stop --force.
  t.teardown(() => writeFileSync(options, saved));
  const stop = await env.r(['stop', uuid]);
  t.is(stop.exitCode, 1);
  t.regex(stop.stderr, /^rkt: cannot run the stage1 entrypoint \S+\/rkt\/no-such-stop: .*no such file/im);
  t.notRegex(stop.stderr, /internal error|\n\s+at /);
  writeFileSync(options, saved);
  t.is((await env.r(['stop', '--force', uuid])).exitCode, 0);
  await bg.exit;
});
