import test from 'ava';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { launcherPath } from '../../../src/stage0/run.js';

function fakePackage(t: { teardown: (f: () => void) => void }): { pkg: string; module: string } {
  const pkg = mkdtempSync(path.join(os.tmpdir(), 'rkt-pkg-'));
  t.teardown(() => rmSync(pkg, { recursive: true, force: true }));
  writeFileSync(path.join(pkg, 'package.json'), '{"name": "rkt"}\n');
  const module = path.join(pkg, 'dist', 'bin', 'chunks');
  mkdirSync(module, { recursive: true });
  return { pkg, module };
}

test('the launcher is build/rkt-launch of the package the running module belongs to', async (t) => {
  const { pkg, module } = fakePackage(t);
  mkdirSync(path.join(pkg, 'build'));
  writeFileSync(path.join(pkg, 'build', 'rkt-launch'), '');
  chmodSync(path.join(pkg, 'build', 'rkt-launch'), 0o755);
  t.is(await launcherPath(module), path.join(pkg, 'build', 'rkt-launch'));
});

test('a missing launcher is an ELAUNCH error naming it and the fix', async (t) => {
  const { pkg, module } = fakePackage(t);
  const err = await t.throwsAsync(launcherPath(module), { instanceOf: RktError });
  t.is(err?.code, 'ELAUNCH');
  t.is(err?.message, `cannot start the pod: rkt's launcher ${path.join(pkg, 'build', 'rkt-launch')} is missing`);
  t.is(err?.hint, `build it: npm run build in ${pkg}`);
});
