// rkt enter: a command in a running app, with the app's environment and root filesystem.
import { readFileSync } from 'node:fs';
import { podEnv, podTest, sharedImage, title, waitRunning } from '../../lib/pods.js';

// A marker at the image's root tells the app's root filesystem from the stage1's.
const busybox = sharedImage({ files: { '/image-marker': 'x' } });

podTest(title("enter runs a command with the app's environment, hostname and root filesystem"), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  const bg = env.spawnRun([`--uuid-file-save=${uuidFile}`, '--set-env=FROM_SET_ENV=yes', await busybox(), '--name=inside', '--exec=/bin/sleep', '--', '86400']);
  const uuid = await waitRunning(env, uuidFile, bg);
  const res = await env.r(['enter', uuid, '/bin/sh', '-c', 'echo $AC_APP_NAME; cat /etc/hostname; ls /; echo $FROM_SET_ENV $container']);
  t.is(res.exitCode, 0, res.stderr);
  const lines = res.stdout.trimEnd().split('\n');
  t.is(lines[0], 'inside');
  t.is(lines[1], `rkt-${uuid}`);
  const root = lines.slice(2, -1);
  t.true(root.includes('image-marker'), `ls / shows the app's root: ${root.join(' ')}`);
  t.true(root.includes('bin') && root.includes('etc'));
  t.false(root.includes('rkt') || root.includes('opt'), 'not the stage1 root');
  t.is(lines[lines.length - 1], 'yes rkt');

  const code = await env.r(['enter', uuid, '/bin/sh', '-c', 'exit 6']);
  t.is(code.exitCode, 6, "enter exits with the command's status");
  t.is(readFileSync(uuidFile, 'utf8').trim(), uuid);
  const byFile = await env.r(['enter', `--uuid-file=${uuidFile}`, '/bin/cat', '/etc/hostname']);
  t.is(byFile.stdout, `rkt-${uuid}\n`);
  await env.r(['stop', '--force', uuid]);
  await bg.exit;
});

podTest(title('enter needs --app when the pod has two apps; with --app it enters that one'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const uuidFile = env.file('uuid');
  const bg = env.spawnRun([`--uuid-file-save=${uuidFile}`, img, '--name=one', '--exec=/bin/sleep', '--', '86400', '---', img, '--name=two', '--exec=/bin/sleep', '--', '86400']);
  const uuid = await waitRunning(env, uuidFile, bg);
  const res = await env.r(['enter', uuid, '/bin/sh', '-c', 'echo $AC_APP_NAME']);
  t.is(res.exitCode, 254);
  t.is(res.stdout, '');
  t.regex(res.stderr, new RegExp(`^rkt: pod ${uuid} has several apps \\(one, two\\)\\nrkt: choose one with --app\\n$`));
  const two = await env.r(['enter', '--app=two', uuid, '/bin/sh', '-c', 'echo $AC_APP_NAME']);
  t.is(two.exitCode, 0, two.stderr);
  t.is(two.stdout, 'two\n');
  const bad = await env.r(['enter', '--app=three', uuid, '/bin/true']);
  t.is(bad.exitCode, 254);
  t.regex(bad.stderr, /has no app "three" \(it has one, two\)/);
  await env.r(['stop', '--force', uuid]);
  await bg.exit;
});

podTest(title('enter of a pod that is not running is an error (exit 254)'), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  const res = await env.run([`--uuid-file-save=${uuidFile}`, await busybox(), '--exec=/bin/true']);
  t.is(res.exitCode, 0, res.stderr);
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  const enter = await env.r(['enter', uuid, '/bin/true']);
  t.is(enter.exitCode, 254);
  t.is(enter.stdout, '');
  t.is(enter.stderr, `rkt: cannot enter pod ${uuid}: it is exited, not running\n`);
});
