import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolvePathInRoot } from '../../../src/stage0/app-setup.js';

test('resolvePathInRoot follows symlinks as the chrooted app would: never above the root, the missing rest kept', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rkt-inroot-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'etc'));
  mkdirSync(path.join(root, 'run'));
  mkdirSync(path.join(root, 'var'));
  symlinkSync('../../../../../../etc', path.join(root, 'data'));
  symlinkSync('/../../srv/x', path.join(root, 'abs'));
  symlinkSync('../run', path.join(root, 'var', 'run'));
  symlinkSync('loop2', path.join(root, 'loop1'));
  symlinkSync('loop1', path.join(root, 'loop2'));
  t.is(await resolvePathInRoot(root, '/data'), '/etc', 'a relative link that climbs stops at the root');
  t.is(await resolvePathInRoot(root, '/data/sub/dir'), '/etc/sub/dir');
  t.is(await resolvePathInRoot(root, '/abs/app'), '/srv/x/app', 'an absolute target is the root\'s');
  t.is(await resolvePathInRoot(root, '/var/run/app.sock'), '/run/app.sock', 'an ordinary /var/run link');
  t.is(await resolvePathInRoot(root, '/new/../../../x'), '/x', 'a missing part is taken lexically, clamped at the root');
  t.is(await resolvePathInRoot(root, '/etc'), '/etc');
  await t.throwsAsync(resolvePathInRoot(root, '/loop1/x'), { message: /too many levels of symbolic links/ });
});
