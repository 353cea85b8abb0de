// The app's environment: image < --set-env-file < --set-env < the app's --environment; --inherit-env passes
// rkt's own environment at the lowest precedence; PATH, AC_APP_NAME and container=rkt are always set.
import { writeFileSync } from 'node:fs';
import { podEnv, podTest, sharedImage, title } from '../../lib/pods.js';

const ACE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const envImage = sharedImage({
  name: 'example.com/env',
  environment: { FROM_IMAGE: 'image', IN_FILE: 'image', IN_SET_ENV: 'image', IN_APP: 'image', HOME: '/root' },
});

/** The `env` output of an app as a map. */
function envOf(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

podTest(title('precedence: image < --set-env-file < --set-env < --environment; PATH, AC_APP_NAME, container=rkt'), async (t) => {
  const env = await podEnv(t);
  const file = env.file('env-file');
  writeFileSync(file, '# a comment\n\nIN_FILE=file\nIN_SET_ENV=file\nIN_APP=file\nONLY_FILE=file value with spaces\n');
  const res = await env.run([`--set-env-file=${file}`, '--set-env=IN_SET_ENV=set-env', '--set-env=IN_APP=set-env',
    await envImage(), '--name=envapp', '--environment=IN_APP=app', '--exec=/bin/env'],
  { env: { ...process.env, NOT_INHERITED: 'host' } });
  t.is(res.exitCode, 0, res.stderr);
  const e = envOf(res.stdout);
  t.is(e.get('FROM_IMAGE'), 'image');
  t.is(e.get('IN_FILE'), 'file');
  t.is(e.get('IN_SET_ENV'), 'set-env');
  t.is(e.get('IN_APP'), 'app');
  t.is(e.get('ONLY_FILE'), 'file value with spaces');
  t.is(e.get('HOME'), '/root');
  t.is(e.get('PATH'), ACE_PATH);
  t.is(e.get('AC_APP_NAME'), 'envapp');
  t.is(e.get('container'), 'rkt');
  t.false(e.has('NOT_INHERITED'), "rkt's environment is not passed without --inherit-env");
});

podTest(title("--inherit-env passes rkt's own environment, below everything else; PATH stays the ACE default"), async (t) => {
  const env = await podEnv(t);
  const res = await env.run(['--inherit-env', '--set-env=IN_SET_ENV=set-env', await envImage(), '--exec=/bin/env'],
    { env: { ...process.env, INHERITED_VAR: 'from-rkt', FROM_IMAGE: 'from-rkt', IN_SET_ENV: 'from-rkt', AC_APP_NAME: 'from-rkt', PATH: `/host/only:${process.env['PATH'] ?? ''}` } });
  t.is(res.exitCode, 0, res.stderr);
  const e = envOf(res.stdout);
  t.is(e.get('INHERITED_VAR'), 'from-rkt');
  t.is(e.get('FROM_IMAGE'), 'image', 'the image wins over an inherited variable');
  t.is(e.get('IN_SET_ENV'), 'set-env', '--set-env wins over an inherited variable');
  t.is(e.get('AC_APP_NAME'), 'env');
  t.is(e.get('PATH'), ACE_PATH);
  t.is(e.get('container'), 'rkt');
});
