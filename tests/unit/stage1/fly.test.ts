// The fly stage1's run argv (src/stage1/fly.ts): pure, checked against the options stage1-image/fly/fly-run.c parses.
import test from 'ava';
import { flyRunArgs, type FlyAppSpec } from '../../../src/stage1/fly.js';

const app: FlyAppSpec = {
  app: 'web', exec: ['/bin/web', '--port', '80'], uid: 1000, gid: 1001, supplementaryGids: [7, 8], workingDirectory: '/srv',
  environment: [['PATH', '/bin'], ['AC_APP_NAME', 'web']], preStart: [['/bin/sh', '-c', 'echo pre']], postStop: [['/bin/post']],
  noNewPrivileges: false,
};
const pod = { uuid: '1f0e2d3c-0000-4000-8000-000000000001', lockFd: 19, stdinNull: true };
const mounts = {
  root: '/pods/run/u/stage1/rootfs/opt/stage2/web/rootfs', overlay: 'lowerdir=/l,upperdir=/u,workdir=/w',
  binds: [{ source: '/host/data', target: '/data', readOnly: false }, { source: '/host/conf', target: '/etc/conf', readOnly: true }],
};

test('run: the pod, app and lock to supervise, stdin, root, overlay, binds in order, event handlers with their argc, identity, working dir, then -- and the exec', (t) => {
  t.deepEqual(flyRunArgs(app, mounts, pod), [
    '--pod', pod.uuid, '--app', 'web', '--lock-fd', '19', '--stdin-null',
    '--root', mounts.root, '--overlay', 'lowerdir=/l,upperdir=/u,workdir=/w',
    '--bind', '/host/data', '/data', '--bind-ro', '/host/conf', '/etc/conf',
    '--pre-start', '3', '/bin/sh', '-c', 'echo pre', '--post-stop', '1', '/bin/post',
    '--uid', '1000', '--gid', '1001', '--groups', '7,8', '--workdir', '/srv',
    '--', '/bin/web', '--port', '80',
  ]);
});

test('run: stdin as rkt\'s with --interactive, no overlay with --no-overlay, no --groups without supplementary groups; no-new-privileges and oom-score-adj when asked', (t) => {
  const args = flyRunArgs({ ...app, supplementaryGids: [], preStart: [], postStop: [], noNewPrivileges: true, oomScoreAdjust: -500 }, { root: '/r', binds: [] }, { ...pod, stdinNull: false });
  t.deepEqual(args, ['--pod', pod.uuid, '--app', 'web', '--lock-fd', '19', '--root', '/r', '--uid', '1000', '--gid', '1001', '--workdir', '/srv', '--no-new-privileges', '--oom-score-adj', '-500', '--', '/bin/web', '--port', '80']);
});

test('an exec argument that looks like an option stays after --; a handler argument that looks like one is counted, not parsed', (t) => {
  const args = flyRunArgs({ ...app, exec: ['/bin/x', '--root', '/'], preStart: [['/bin/h', '--uid', '0']] }, { root: '/r', binds: [] }, pod);
  t.deepEqual(args.slice(args.indexOf('--')), ['--', '/bin/x', '--root', '/']);
  t.deepEqual(args.slice(args.indexOf('--pre-start'), args.indexOf('--pre-start') + 5), ['--pre-start', '3', '/bin/h', '--uid', '0']);
});

test('run with a read-only root: --read-only-root before the exec', (t) => {
  const args = flyRunArgs({ ...app, readOnlyRootFS: true }, { root: '/r', binds: [] }, pod);
  t.deepEqual(args.slice(-5), ['--read-only-root', '--', '/bin/web', '--port', '80']);
});

test('run under a Type=notify unit: --notify-socket with rkt\'s NOTIFY_SOCKET, before the exec', (t) => {
  const args = flyRunArgs({ ...app, preStart: [], supplementaryGids: [] }, { root: '/r', binds: [] }, { ...pod, notifySocket: '/run/systemd/notify' });
  t.deepEqual(args.slice(-6), ['--notify-socket', '/run/systemd/notify', '--', '/bin/web', '--port', '80']);
});
