// The files every app gets: /etc/hosts (unless the image has its own) and /etc/hostname from --hostname or
// the default rkt-<uuid>.
import { readFileSync } from 'node:fs';
import { podEnv, podTest, sharedImage, title } from '../../lib/pods.js';

const noHosts = sharedImage();
const OWN_HOSTS = '# the image\'s own hosts file\n10.11.12.13\tcustom.example\n';
const ownHosts = sharedImage({ name: 'example.com/own-hosts', files: { '/etc/hosts': OWN_HOSTS } });

podTest(title('an image without /etc/hosts gets one with localhost; --hostname sets /etc/hostname and the UTS name'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run(['--hostname=pod-host', await noHosts(), '--exec=/bin/sh', '--', '-c', 'cat /etc/hosts; echo ---; cat /etc/hostname; hostname']);
  t.is(res.exitCode, 0, res.stderr);
  const [hosts, rest] = res.stdout.split('---\n');
  t.regex(hosts ?? '', /^127\.0\.0\.1\s+localhost(\s|$)/m);
  t.regex(hosts ?? '', /^::1\s+localhost(\s|$)/m);
  t.is(rest, 'pod-host\npod-host\n');
});

podTest(title("an image's own /etc/hosts is kept unchanged"), async (t) => {
  const env = await podEnv(t);
  const res = await env.run(['--hostname=pod-host', await ownHosts(), '--exec=/bin/cat', '--', '/etc/hosts']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, OWN_HOSTS);
});

podTest(title('the default hostname is rkt-<uuid>'), async (t) => {
  const env = await podEnv(t);
  const uuidFile = env.file('uuid');
  const res = await env.run([`--uuid-file-save=${uuidFile}`, await noHosts(), '--exec=/bin/sh', '--', '-c', 'cat /etc/hostname; hostname']);
  t.is(res.exitCode, 0, res.stderr);
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  t.is(res.stdout, `rkt-${uuid}\nrkt-${uuid}\n`);
});
