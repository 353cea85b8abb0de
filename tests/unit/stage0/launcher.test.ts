import test from 'ava';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { launcherPath } from '../../../src/stage0/run.js';
import { fakePackage } from '../../lib/fake-package.js';

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
