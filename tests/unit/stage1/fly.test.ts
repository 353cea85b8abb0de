// The fly stage1's run argv (src/stage1/fly.ts): pure, checked against the options stage1-image/fly/fly-run.c parses.
import test from 'ava';
import { FLY_STATUS_FD, flyPostStopArgs, flyRunArgs, type FlyAppSpec } from '../../../src/stage1/fly.js';

const app: FlyAppSpec = {
  app: 'web', exec: ['/bin/web', '--port', '80'], uid: 1000, gid: 1001, supplementaryGids: [7, 8], workingDirectory: '/srv',
  environment: [['PATH', '/bin'], ['AC_APP_NAME', 'web']], preStart: [['/bin/sh', '-c', 'echo pre']], postStop: [['/bin/post']],
  noNewPrivileges: false,
};
const mounts = {
  root: '/pods/run/u/stage1/rootfs/opt/stage2/web/rootfs', overlay: 'lowerdir=/l,upperdir=/u,workdir=/w',
  binds: [{ source: '/host/data', target: '/data', readOnly: false }, { source: '/host/conf', target: '/etc/conf', readOnly: true }],
};

test('run: status fd, root, overlay, binds in order, pre-start handlers with their argc, identity, working dir, then -- and the exec', (t) => {
  t.deepEqual(flyRunArgs(app, mounts), [
    '--status-fd', String(FLY_STATUS_FD),
    '--root', mounts.root, '--overlay', 'lowerdir=/l,upperdir=/u,workdir=/w',
    '--bind', '/host/data', '/data', '--bind-ro', '/host/conf', '/etc/conf',
    '--pre-start', '3', '/bin/sh', '-c', 'echo pre',
    '--uid', '1000', '--gid', '1001', '--groups', '7,8', '--workdir', '/srv',
    '--', '/bin/web', '--port', '80',
  ]);
});

test('run: no overlay with --no-overlay, no --groups without supplementary groups; no-new-privileges and oom-score-adj when asked', (t) => {
  const args = flyRunArgs({ ...app, supplementaryGids: [], preStart: [], noNewPrivileges: true, oomScoreAdjust: -500 }, { root: '/r', binds: [] });
  t.deepEqual(args, ['--status-fd', '4', '--root', '/r', '--uid', '1000', '--gid', '1001', '--workdir', '/srv', '--no-new-privileges', '--oom-score-adj', '-500', '--', '/bin/web', '--port', '80']);
});

test('an exec argument that looks like an option stays after --; a handler argument that looks like one is counted, not parsed', (t) => {
  const args = flyRunArgs({ ...app, exec: ['/bin/x', '--root', '/'], preStart: [['/bin/h', '--uid', '0']] }, { root: '/r', binds: [] });
  t.deepEqual(args.slice(args.indexOf('--')), ['--', '/bin/x', '--root', '/']);
  t.deepEqual(args.slice(args.indexOf('--pre-start'), args.indexOf('--pre-start') + 5), ['--pre-start', '3', '/bin/h', '--uid', '0']);
});

test('post-stop: the same mounts, the working directory, each handler, --handlers-only; no exec, no identity', (t) => {
  t.deepEqual(flyPostStopArgs(app, mounts), [
    '--root', mounts.root, '--overlay', 'lowerdir=/l,upperdir=/u,workdir=/w',
    '--bind', '/host/data', '/data', '--bind-ro', '/host/conf', '/etc/conf',
    '--workdir', '/srv', '--post-stop', '1', '/bin/post', '--handlers-only',
  ]);
});

test('run with a read-only root: --read-only-root before the exec', (t) => {
  const args = flyRunArgs({ ...app, readOnlyRootFS: true }, { root: '/r', binds: [] });
  t.deepEqual(args.slice(-5), ['--read-only-root', '--', '/bin/web', '--port', '80']);
});

test('run under a Type=notify unit: --notify-socket with rkt\'s NOTIFY_SOCKET, before the exec', (t) => {
  const args = flyRunArgs({ ...app, preStart: [], supplementaryGids: [] }, { root: '/r', binds: [] }, { notifySocket: '/run/systemd/notify' });
  t.deepEqual(args.slice(-6), ['--notify-socket', '/run/systemd/notify', '--', '/bin/web', '--port', '80']);
});
