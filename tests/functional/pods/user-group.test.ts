// The app's user and group, as appc allows them: a number, a name in the image's /etc/passwd or /etc/group,
// or an absolute path (the owner of that file in the image).
import { podEnv, podTest, sharedImage, title, type ImageSpec } from '../../lib/pods.js';

const users: Pick<ImageSpec, 'extraPasswd' | 'extraGroup' | 'files'> = {
  extraPasswd: ['tester:x:1001:1002:tester:/home/tester:/bin/sh'],
  extraGroup: ['testers:x:1002:'],
  files: {
    '/home/tester': { dir: true, uid: 1003, gid: 1004, mode: 0o755 },
    '/home/nobody-owned': { dir: true, uid: 65534, gid: 65534, mode: 0o755 },
  },
};
const ids = ['/bin/sh', '-c', 'echo $(id -u) $(id -g)'];

// The pod's systemd resolves User=/Group= numbers in the stage1's own user database: stage0 adds an entry for
// every id an app uses (without it, ids other than 0 and 65534 failed with 217/216).
const cases: [string, string, string, string][] = [
  ['numbers', '1000', '1000', '1000 1000'],
  ['names from the image', 'tester', 'testers', '1001 1002'],
  ["a path's owner and group", '/home/tester', '/home/tester', '1003 1004'],
  ['names from the image', 'nobody', 'nogroup', '65534 65534'],
  ["a path's owner and group", '/home/nobody-owned', '/home/nobody-owned', '65534 65534'],
];
for (const [what, user, group, want] of cases) {
  const image = sharedImage({ name: 'example.com/ids', user, group, exec: ids, ...users });
  podTest(title(`user "${user}" and group "${group}" (${what}): the app runs as ${want}`), async (t) => {
    const env = await podEnv(t);
    const res = await env.run([await image()]);
    t.is(res.exitCode, 0, res.stderr);
    t.is(res.stdout, `${want}\n`);
  });
}

const base = sharedImage({ name: 'example.com/ids', exec: ids, ...users });

podTest(title('--user and --group after the image override the manifest'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run([await base(), '--user=nobody', '--group=0']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, '65534 0\n');
});

podTest(title('an unknown user or group name is an error naming it (254), before any pod runs'), async (t) => {
  const env = await podEnv(t);
  const unknownUser = sharedImage({ name: 'example.com/ghost', user: 'ghost', ...users });
  const [u, g] = await Promise.all([env.run([await unknownUser()]), env.run([await base(), '--group=phantoms'])]);
  t.is(u.exitCode, 254);
  t.is(u.stderr, 'rkt: app ghost: user "ghost" not found in the image\'s /etc/passwd\n');
  t.is(g.exitCode, 254);
  t.is(g.stderr, 'rkt: app ids: group "phantoms" not found in the image\'s /etc/group\n');
});
