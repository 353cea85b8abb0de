// rkt export: an exited pod's app as an ACI (its image's tree with the app's changes), built by GNU tar over the
// app's overlay in a private mount namespace.
import { execFileSync } from 'node:child_process';
import { podEnv, podTest, sharedImage, title, UUID_RE } from '../../lib/pods.js';

const busybox = sharedImage();

podTest(title('rkt export of an exited pod: the ACI holds what the app wrote, its Image ID is the sha512 of the file, and it can be fetched back'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const uuidFile = env.file('uuid');
  const run = await env.run([`--uuid-file-save=${uuidFile}`, img, '--exec=/bin/sh', '--', '-c', 'echo written-by-app > /made; rm /etc/os-release']);
  t.is(run.exitCode, 0, run.stderr);
  const uuid = execFileSync('cat', [uuidFile], { encoding: 'utf8' }).trim();
  t.regex(uuid, UUID_RE);

  const out = env.file('exported.aci');
  const exp = await env.r(['export', uuid, out]);
  t.is(exp.exitCode, 0, exp.stderr);
  const id = exp.stdout.trim();
  t.is(id, `sha512-${execFileSync('sha512sum', [out], { encoding: 'utf8' }).split(' ')[0] ?? ''}`);
  t.is(execFileSync('tar', ['-xOf', out, 'rootfs/made'], { encoding: 'utf8' }), 'written-by-app\n');
  const names = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).split('\n');
  t.true(names.includes('manifest'));
  t.true(names.includes('rootfs/bin/busybox'));
  t.false(names.includes('rootfs/etc/os-release'), 'a file the app removed is not in the export');

  const again = await env.r(['export', uuid, out]);
  t.is(again.exitCode, 254, 'an existing file is not overwritten without --overwrite');
  const fetched = await env.r(['--insecure-options=image', 'fetch', '--full', out]);
  t.is(fetched.exitCode, 0, fetched.stderr);
  t.is(fetched.stdout, `${id}\n`);
});
