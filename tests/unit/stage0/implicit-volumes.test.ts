import test from 'ava';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import type { App, ImageManifest } from '../../../src/image/manifest.js';
import type { Volume } from '../../../src/image/pod-manifest.js';
import { resolveMounts } from '../../../src/stage0/prepare.js';
import { copyImageDir, implicitVolumeName, implicitVolumeWarning } from '../../../src/stage0/volumes.js';

const app = (mountPoints: { name: string; path: string }[]): App => ({
  exec: ['/bin/true'], user: '0', group: '0', supplementaryGIDs: [], eventHandlers: [], environment: [], isolators: [],
  mountPoints: mountPoints.map((m) => ({ ...m, readOnly: false })), ports: [],
} as unknown as App);
const image = { name: 'example.com/web' } as unknown as ImageManifest;

test('a mount point no volume satisfies gets an implicit empty volume <app>-<mount point>, with appc\'s defaults', (t) => {
  const implicit: Volume[] = [];
  const mounts = resolveMounts('web', image, app([{ name: 'data', path: '/var/data' }, { name: 'logs', path: '/var/log' }]), [],
    [{ name: 'logs', kind: 'empty', mode: '0700', uid: 1, gid: 1 }], implicit);
  t.deepEqual(mounts, [{ volume: 'web-data', path: '/var/data' }, { volume: 'logs', path: '/var/log' }]);
  t.deepEqual(implicit, [{ name: 'web-data', kind: 'empty', mode: '0755', uid: 0, gid: 0 }]);
});

test('an implicit volume\'s name never takes a name the pod has', (t) => {
  t.is(implicitVolumeName('web', 'data', new Set()), 'web-data');
  t.is(implicitVolumeName('web', 'data', new Set(['web-data', 'web-data-2'])), 'web-data-3');
  const implicit: Volume[] = [];
  resolveMounts('web', image, app([{ name: 'data', path: '/d' }]), [], [{ name: 'web-data', kind: 'empty', mode: '0755', uid: 0, gid: 0 }], implicit);
  t.deepEqual(implicit.map((v) => v.name), ['web-data-2']);
});

test('a mount of an unknown volume is still an error; a given mount satisfies the mount point', (t) => {
  const err = t.throws(() => resolveMounts('web', image, app([]), [{ volume: 'nowhere', path: '/x' }], []), { instanceOf: RktError });
  t.is(err?.message, 'app web: mount of unknown volume "nowhere"');
  const implicit: Volume[] = [];
  const v: Volume = { name: 'mine', kind: 'empty', mode: '0755', uid: 0, gid: 0 };
  t.deepEqual(resolveMounts('web', image, app([{ name: 'data', path: '/d' }]), [{ volume: 'mine', path: '/d' }], [v], implicit), [{ volume: 'mine', path: '/d' }]);
  t.deepEqual(implicit, []);
});

test('the warning names the mount point, the app and the volume, and says where its content comes from', (t) => {
  t.is(implicitVolumeWarning('web', { name: 'data', path: '/d' }, 'web-data', false),
    'warning: no volume given for mount point "data" (/d) of app web: made the empty volume "web-data"; it is removed with the pod (give --volume to keep the data)');
  t.regex(implicitVolumeWarning('web', { name: 'data', path: '/d' }, 'web-data', true), /, holding a copy of what the image has at \/d \(an OCI image's volume\);/);
});

test('copyImageDir copies the image\'s directory (modes kept) and never leaves the image\'s root through a symlink', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rkt-implicit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'rootfs');
  mkdirSync(path.join(root, 'srv/data/sub'), { recursive: true });
  writeFileSync(path.join(root, 'srv/data/seed'), 'seed\n');
  chmodSync(path.join(root, 'srv/data'), 0o750);
  mkdirSync(path.join(root, 'etc'));
  writeFileSync(path.join(root, 'etc/only-in-image'), '');
  symlinkSync('../../../../../../etc', path.join(root, 'escape'));
  symlinkSync('/srv/data', path.join(root, 'abs'));
  const to = path.join(dir, 'vol');
  mkdirSync(to);
  await copyImageDir({ tree: root }, '/abs', to);
  t.is(readFileSync(path.join(to, 'seed'), 'utf8'), 'seed\n');
  t.is(statSync(to).mode & 0o7777, 0o750);
  const esc = path.join(dir, 'vol2');
  mkdirSync(esc);
  await copyImageDir({ tree: root }, '/escape', esc);
  t.deepEqual((await import('node:fs')).readdirSync(esc), ['only-in-image'], "the image's /etc, never the host's");
  const none = path.join(dir, 'vol3');
  mkdirSync(none);
  await copyImageDir({ tree: root }, '/srv/data/seed', none);
  await copyImageDir({ tree: root }, '/missing', none);
  t.deepEqual((await import('node:fs')).readdirSync(none), [], 'a file or nothing at the path: the volume stays empty');
});
