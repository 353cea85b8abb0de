import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validatePodManifest, type PodManifest } from '../../../src/image/pod-manifest.js';
import { applyLayout, planPodLayout, type LayoutInput, type LayoutStep } from '../../../src/stage0/pod-layout.js';

const IMAGE = 'sha512-' + 'a'.repeat(128);
const STAGE1 = 'sha512-' + 'b'.repeat(128);

/** A store with two trees: an app image (exec /bin/app, an /etc/hosts of its own) and a stage1. */
function fixture(t: { teardown(f: () => void): void }): { root: string; input: (over?: Partial<LayoutInput>) => LayoutInput } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rkt-layout-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const img = path.join(root, 'trees', IMAGE, 'rootfs');
  mkdirSync(path.join(img, 'bin'), { recursive: true });
  mkdirSync(path.join(img, 'etc'));
  writeFileSync(path.join(img, 'bin', 'app'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(path.join(img, 'etc', 'hosts'), '10.0.0.1 mine\n');
  const s1 = path.join(root, 'trees', STAGE1, 'rootfs', 'etc');
  mkdirSync(s1, { recursive: true });
  writeFileSync(path.join(s1, 'passwd'), 'root:x:0:0::/:/bin/sh\n');
  writeFileSync(path.join(s1, 'group'), 'root:x:0:\n');
  const manifest: PodManifest = validatePodManifest({
    acVersion: '0.8.11', acKind: 'PodManifest',
    apps: [{ name: 'web', image: { id: IMAGE, name: 'example.com/web' }, app: { exec: ['/bin/app'], user: '1000', group: '1000' }, mounts: [{ volume: 'data', path: '/data' }] }],
    volumes: [{ name: 'data', kind: 'empty', mode: '0750', uid: 1000, gid: 1000 }],
  });
  const pod = path.join(root, 'pod');
  mkdirSync(pod);
  return {
    root,
    input: (over = {}) => ({
      pod, manifest, treeOf: (id) => path.join(root, 'trees', id), stage1Id: STAGE1, hostname: 'h1', net: 'host',
      interactive: false, noOverlay: false, journal: false, insecure: new Set(), cgroupV2: false, options: { hostname: 'h1' }, ...over,
    }),
  };
}

const paths = (steps: readonly LayoutStep[], op: LayoutStep['op']) => steps.filter((s) => s.op === op).map((s) => ('path' in s ? s.path : s.to));

test('the plan is data: nothing is written until it is applied', async (t) => {
  const f = fixture(t);
  const { steps, apps } = await planPodLayout(f.input());
  const pod = path.join(f.root, 'pod');
  t.false(existsSync(path.join(pod, 'stage1')), 'planning wrote nothing');
  t.is(apps.length, 1);
  t.like(apps[0], { name: 'web', uid: 1000, gid: 1000, exec: ['/bin/app'] });
  const writes = paths(steps, 'write');
  t.true(writes.includes(path.join(pod, 'overlay', 'web', 'upper', 'etc', 'hostname')));
  t.false(writes.includes(path.join(pod, 'overlay', 'web', 'upper', 'etc', 'hosts')), "the image's own /etc/hosts is kept");
  t.true(writes.includes(path.join(pod, 'stage1', 'upper', 'etc', 'systemd', 'system', 'web.service')));
  t.true(writes.includes(path.join(pod, 'stage1', 'upper', 'etc', 'passwd')), 'uid 1000 gets a passwd entry in the stage1');
  t.deepEqual(paths(steps, 'writeAtomic'), [path.join(pod, 'options.json'), path.join(pod, 'pod')], 'the records come last');
});

test("with the pod's created time on disk, the plan writes list.json last: that time and each app's name, image name and ID", async (t) => {
  const f = fixture(t);
  const pod = path.join(f.root, 'pod');
  writeFileSync(path.join(pod, 'created'), '2026-11-20T10:00:00.000Z\n');
  const { steps } = await planPodLayout(f.input());
  t.deepEqual(paths(steps, 'writeAtomic'), [path.join(pod, 'options.json'), path.join(pod, 'pod'), path.join(pod, 'list.json')]);
  const listing = steps.find((s) => s.op === 'writeAtomic' && s.path === path.join(pod, 'list.json'));
  t.deepEqual(JSON.parse(listing !== undefined && 'content' in listing ? String(listing.content) : 'null'), {
    created: '2026-11-20T10:00:00.000Z', apps: [{ name: 'web', image: 'example.com/web', id: IMAGE }],
  });
});

const asRoot = process.getuid?.() === 0 ? test : test.skip;

asRoot(`applying the plan makes the pod tree: ACE files, mount points, units, records${process.getuid?.() === 0 ? '' : ' (skipped: needs root to chown)'}`, async (t) => {
  const f = fixture(t);
  const { steps } = await planPodLayout(f.input());
  await applyLayout(steps);
  const pod = path.join(f.root, 'pod');
  t.is(readFileSync(path.join(pod, 'overlay', 'web', 'upper', 'etc', 'hostname'), 'utf8'), 'h1\n');
  t.is(readlinkSync(path.join(pod, 'overlay', 'web', 'upper', 'etc', 'mtab')), '../proc/self/mounts');
  t.true(existsSync(path.join(pod, 'overlay', 'web', 'upper', 'data')), 'the mount point the image lacks is made');
  t.regex(readFileSync(path.join(pod, 'stage1', 'upper', 'etc', 'passwd'), 'utf8'), /^rkt-uid-1000:x:1000:1000:/m);
  t.regex(readFileSync(path.join(pod, 'stage1', 'upper', 'etc', 'systemd', 'system', 'web.service'), 'utf8'), /^User=1000$/m);
  t.deepEqual(JSON.parse(readFileSync(path.join(pod, 'options.json'), 'utf8')), { hostname: 'h1' });
  t.is(JSON.parse(readFileSync(path.join(pod, 'pod'), 'utf8')).apps[0].name, 'web');
});

test('an exec missing from the image fails the plan before anything is written', async (t) => {
  const f = fixture(t);
  const bad = validatePodManifest({
    acVersion: '0.8.11', acKind: 'PodManifest',
    apps: [{ name: 'web', image: { id: IMAGE, name: 'example.com/web' }, app: { exec: ['/bin/nope'], user: '0', group: '0' } }],
  });
  await t.throwsAsync(planPodLayout(f.input({ manifest: bad })), { message: 'exec /bin/nope: no such file in image example.com/web' });
  t.false(existsSync(path.join(f.root, 'pod', 'stage1')));
});

test('--no-overlay copies the stage1 and app trees instead of making overlay dirs', async (t) => {
  const f = fixture(t);
  const { steps } = await planPodLayout(f.input({ noOverlay: true }));
  const pod = path.join(f.root, 'pod');
  t.deepEqual(paths(steps, 'copyTree'), [path.join(pod, 'stage1', 'rootfs'), path.join(pod, 'stage1', 'rootfs', 'opt', 'stage2', 'web', 'rootfs')]);
  t.false(paths(steps, 'mkdir').some((p) => p.includes(path.join('overlay', 'web'))));
});
