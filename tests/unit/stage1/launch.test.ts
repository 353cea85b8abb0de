import test from 'ava';
import { launcherArgs, nspawnArgs } from '../../../src/stage1/launch.js';
import { overlayPath } from '../../../src/stage1/overlay.js';

test('the launcher\'s command line: relay, cgroups, tmpfs, image trees, overlays, then the entrypoint with the nspawn argv', (t) => {
  const args = launcherArgs({
    ioDir: '/p/io',
    cgroups: ['/sys/fs/cgroup/pids/rkt-x', '/sys/fs/cgroup/memory/rkt-x'],
    privateNspawnRun: true,
    overlays: [
      { lower: ['/s1'], upper: '/p/s1/upper', work: '/p/s1/work', target: '/p/s1/rootfs' },
      { lower: ['/a,b', '/c'], upper: '/u', work: '/w', target: "/t'x" },
    ],
    entrypoint: '/p/s1/rootfs/rkt/run',
  }, ['--boot', '--', '--log-target=null']);
  t.deepEqual(args, [
    '--io', '/p/io',
    '--cgroup', '/sys/fs/cgroup/pids/rkt-x', '--cgroup', '/sys/fs/cgroup/memory/rkt-x',
    '--private-nspawn-run',
    '--image-tree', '/s1', '--image-tree', '/a,b', '--image-tree', '/c',
    '--overlay', 'lowerdir=/s1,upperdir=/p/s1/upper,workdir=/p/s1/work', '/p/s1/rootfs',
    '--overlay', 'lowerdir=/a\\,b:/c,upperdir=/u,workdir=/w', "/t'x",
    '--', '/p/s1/rootfs/rkt/run', '--boot', '--', '--log-target=null',
  ]);
});

test('an interactive pod (no FIFOs), under a host systemd (no cgroups, no tmpfs), --no-overlay: only the entrypoint', (t) => {
  t.deepEqual(launcherArgs({ cgroups: [], overlays: [], entrypoint: '/e' }, ['--boot']), ['--', '/e', '--boot']);
});

test('a path that looks like an option is a value, never an option, and the nspawn argv passes untouched', (t) => {
  const args = launcherArgs({ ioDir: '--netns', cgroups: [], overlays: [], entrypoint: '/e' }, ['--io', 'x']);
  t.deepEqual(args, ['--io', '--netns', '--', '/e', '--io', 'x']);
});

test('overlayfs option escaping', (t) => {
  t.is(overlayPath('a:b,c\\'), 'a\\:b\\,c\\\\');
});

test('--private-users: nspawn gets the pod\'s UID range and shifts its trees; the launcher gives the FIFOs to the pod\'s root and mounts overlays with metacopy', (t) => {
  const base = { uuid: 'u', stage1Root: '/r', hostname: 'h', net: 'host' as const, interactive: false, debug: false, binds: [], mode: { kind: 'raw' as const } };
  const args = nspawnArgs({ ...base, privateUsers: { base: 0x80000, range: 0x10000 } });
  t.true(args.includes('--private-users=524288:65536') && args.includes('--private-users-ownership=chown'));
  t.false(nspawnArgs(base).some((a) => a.startsWith('--private-users')), 'no user namespace unless asked');
  const overlays = [{ lower: ['/l'], upper: '/u', work: '/w', target: '/t' }];
  const shifted = launcherArgs({ cgroups: [], overlays, entrypoint: '/e', ioDir: '/p/io', rootId: 524288 }, []);
  t.deepEqual(shifted, ['--io', '/p/io', '--root-id', '524288', '--image-tree', '/l', '--overlay', 'metacopy=on,lowerdir=/l,upperdir=/u,workdir=/w', '/t', '--', '/e']);
  const plain = launcherArgs({ cgroups: [], overlays, entrypoint: '/e', ioDir: '/p/io' }, []);
  t.false(plain.includes('--root-id') || plain.some((a) => a.includes('metacopy')));
  const onNet = launcherArgs({ cgroups: [], overlays: [], entrypoint: '/e', rootId: 524288, netns: '/p/netns' }, ['--boot']);
  t.deepEqual(onNet, ['--root-id', '524288', '--netns', '/p/netns', '--', '/e', '--boot'], 'the launcher joins the pod network itself');
  const withNs = nspawnArgs({ ...base, net: 'pod', netnsPath: '/p/netns', privateUsers: { base: 0x80000, range: 0x10000 } });
  t.false(withNs.some((a) => a.startsWith('--network-namespace-path')), 'and nspawn does not try to');
});
