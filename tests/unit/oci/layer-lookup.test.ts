/**
 * Lookups of paths through a stack of OCI layers (src/store/oci-lowers.ts): what overlayfs would show, with
 * whiteouts, opaque directories and non-directories hiding what lies below them, on real directories.
 */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lookupInLayers, type StackLayer } from '../../../src/store/oci-lowers.js';
import { checkExec, resolveInRoot } from '../../../src/stage0/app-setup.js';
import { validatePodManifest } from '../../../src/image/pod-manifest.js';
import { planPodLayout, type LayoutInput } from '../../../src/stage0/pod-layout.js';

type Spec = Record<string, string | { dir: true } | { symlink: string }>;

function layer(root: string, name: string, files: Spec, hides: { whiteouts?: string[]; opaque?: string[] } = {}): StackLayer {
  const tree = path.join(root, name);
  mkdirSync(tree, { recursive: true });
  for (const [p, what] of Object.entries(files)) {
    const full = path.join(tree, p);
    mkdirSync(path.dirname(full), { recursive: true });
    if (typeof what === 'string') writeFileSync(full, what, { mode: 0o755 });
    else if ('dir' in what) mkdirSync(full, { recursive: true });
    else symlinkSync(what.symlink, full);
  }
  return { tree, whiteouts: new Set(hides.whiteouts ?? []), opaque: new Set(hides.opaque ?? []) };
}

function fixture(t: { teardown(f: () => void): void }): { root: string; stack: StackLayer[] } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rkt-layers-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const l1 = layer(root, 'l1', {
    'etc/passwd': 'low', 'etc/removed': 'x', 'opq/old': 'x', 'opq/sub/deep': 'x', 'becomes-dir': 'file',
    'becomes-file/inner': 'x', 'shared/low': 'l1', 'gone-dir/f': 'x', 'usr/bin/tool': '#!/bin/sh\n',
  });
  const l2 = layer(root, 'l2', {
    'opq/new': 'l2', 'becomes-file': 'now a file', 'becomes-dir/child': 'l2', 'shared/mid': 'l2',
  }, { whiteouts: ['etc/removed'], opaque: ['opq'] });
  const l3 = layer(root, 'l3', { 'etc/passwd': 'top', 'shared/top': 'l3', bin: { symlink: 'usr/bin' } }, { whiteouts: ['gone-dir'] });
  return { root, stack: [l3, l2, l1] };
}

test('the topmost layer that has a path answers; the root is the top layer', async (t) => {
  const { root, stack } = fixture(t);
  t.is(await lookupInLayers(stack, 'etc/passwd'), path.join(root, 'l3/etc/passwd'));
  t.is(await lookupInLayers(stack, 'shared/low'), path.join(root, 'l1/shared/low'));
  t.is(await lookupInLayers(stack, 'shared/mid'), path.join(root, 'l2/shared/mid'));
  t.is(await lookupInLayers(stack, 'shared'), path.join(root, 'l3/shared'), 'a directory: its topmost copy');
  t.is(await lookupInLayers(stack, ''), path.join(root, 'l3'));
  t.is(await lookupInLayers(stack, 'nope/at/all'), undefined);
});

test('a whiteout hides the path and everything under it in lower layers', async (t) => {
  const { stack } = fixture(t);
  t.is(await lookupInLayers(stack, 'etc/removed'), undefined);
  t.is(await lookupInLayers(stack, 'gone-dir'), undefined);
  t.is(await lookupInLayers(stack, 'gone-dir/f'), undefined);
});

test('an opaque directory hides the lower contents of that directory only', async (t) => {
  const { root, stack } = fixture(t);
  t.is(await lookupInLayers(stack, 'opq/old'), undefined);
  t.is(await lookupInLayers(stack, 'opq/sub/deep'), undefined);
  t.is(await lookupInLayers(stack, 'opq/new'), path.join(root, 'l2/opq/new'));
  t.is(await lookupInLayers(stack, 'opq'), path.join(root, 'l2/opq'));
});

test('an opaque root hides every lower layer', async (t) => {
  const { root, stack } = fixture(t);
  const [, l2, l1] = stack;
  if (l2 === undefined || l1 === undefined) throw new Error('fixture');
  const opaqueRoot: StackLayer[] = [{ ...l2, opaque: new Set(['']) }, l1];
  t.is(await lookupInLayers(opaqueRoot, 'shared/low'), undefined);
  t.is(await lookupInLayers(opaqueRoot, 'shared/mid'), path.join(root, 'l2/shared/mid'));
});

test('a non-directory in a layer hides what lower layers have below that path; a directory above a file wins', async (t) => {
  const { root, stack } = fixture(t);
  t.is(await lookupInLayers(stack, 'becomes-file/inner'), undefined);
  t.is(await lookupInLayers(stack, 'becomes-file'), path.join(root, 'l2/becomes-file'));
  t.is(await lookupInLayers(stack, 'becomes-dir/child'), path.join(root, 'l2/becomes-dir/child'));
});

test('resolveInRoot and checkExec follow a symlink of an upper layer into a lower one', async (t) => {
  const { root, stack } = fixture(t);
  const lookup = (rel: string) => lookupInLayers(stack, rel);
  t.is(await resolveInRoot(lookup, '/bin/tool'), path.join(root, 'l1/usr/bin/tool'));
  t.is(await resolveInRoot(lookup, '/etc/removed'), undefined);
  await t.notThrowsAsync(checkExec(lookup, '/bin/tool', 'example.com/app'));
  await t.throwsAsync(checkExec(lookup, '/opq/old', 'example.com/app'), { message: 'exec /opq/old: no such file in image example.com/app' });
});

test('a pod of an OCI image is planned through its layers: exec and user found there, --no-overlay renders the layers', async (t) => {
  const { root, stack } = fixture(t);
  const [l3] = stack;
  if (l3 === undefined) throw new Error('fixture');
  writeFileSync(path.join(l3.tree, 'etc/group'), 'web:x:1001:\n');
  writeFileSync(path.join(l3.tree, 'etc/passwd'), 'web:x:1000:1001::/:/bin/sh\n');
  const IMAGE = 'sha512-' + 'c'.repeat(128);
  const STAGE1 = 'sha512-' + 'd'.repeat(128);
  mkdirSync(path.join(root, 'trees', STAGE1, 'rootfs', 'etc'), { recursive: true });
  mkdirSync(path.join(root, 'pod'));
  const manifest = validatePodManifest({
    acVersion: '0.8.11', acKind: 'PodManifest',
    apps: [{ name: 'app', image: { id: IMAGE, name: 'example.com/oci' }, app: { exec: ['/bin/tool'], user: 'web', group: 'web' } }],
  });
  const lookup = (rel: string) => lookupInLayers(stack, rel);
  const input = (noOverlay: boolean): LayoutInput => ({
    pod: path.join(root, 'pod'), manifest, treeOf: (id) => path.join(root, 'trees', id), stage1Id: STAGE1, hostname: 'h', net: 'host',
    layeredRootOf: async (id) => (id === IMAGE ? { layers: [], stack, lookup, scratch: path.join(root, 'tmp') } : undefined),
    interactive: false, noOverlay, journal: false, insecure: new Set(), cgroupV2: false, options: {},
  });
  const { apps, steps } = await planPodLayout(input(false));
  t.like(apps[0], { uid: 1000, gid: 1001, exec: ['/bin/tool'] });
  t.false(existsSync(path.join(root, 'trees', IMAGE)), 'no rendered tree was needed');
  const copied = await planPodLayout(input(true));
  t.deepEqual(copied.steps.filter((s) => s.op === 'renderLayers').map((s) => ('to' in s ? s.to : '')), [path.join(root, 'pod', 'stage1', 'rootfs', 'opt', 'stage2', 'app', 'rootfs')]);
  t.true(steps.every((s) => s.op !== 'renderLayers'));
});
