import test from 'ava';
import { closeSync, copyFileSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RktError } from '../../../src/common/errors.js';
import { loadFlockAddon } from '../../../src/pod/lock.js';
import { fakePackage } from '../../lib/fake-package.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('a missing flock(2) addon is an EBUILD error naming it and the fix', (t) => {
  const { pkg, module } = fakePackage(t);
  const err = t.throws(() => loadFlockAddon(module), { instanceOf: RktError });
  t.is(err?.code, 'EBUILD');
  t.is(err?.message, `cannot load rkt's flock(2) addon ${path.join(pkg, 'build', 'rkt-flock.node')}: it is missing`);
  t.is(err?.hint, `build it: npm run build in ${pkg}`);
});

test('a file that is not an addon is an EBUILD error saying what the loader said', (t) => {
  const { pkg, module } = fakePackage(t);
  mkdirSync(path.join(pkg, 'build'));
  writeFileSync(path.join(pkg, 'build', 'rkt-flock.node'), 'not an ELF file\n');
  const err = t.throws(() => loadFlockAddon(module), { instanceOf: RktError });
  t.is(err?.code, 'EBUILD');
  t.regex(err?.message ?? '', /^cannot load rkt's flock\(2\) addon .*rkt-flock\.node: .+/);
});

test("the build's addon takes an exclusive lock, refuses a second description, and names a bad descriptor", (t) => {
  const { pkg, module } = fakePackage(t);
  mkdirSync(path.join(pkg, 'build'));
  copyFileSync(path.join(REPO, 'build', 'rkt-flock.node'), path.join(pkg, 'build', 'rkt-flock.node'));
  const flock = loadFlockAddon(module);
  const a = openSync(pkg, 'r');
  const b = openSync(pkg, 'r');
  t.teardown(() => { closeSync(a); closeSync(b); });
  t.true(flock(a, true));
  t.true(flock(a, true), 'again through the same description');
  t.false(flock(b, true));
  t.false(flock(b, false), 'a shared lock conflicts with it too');
  t.throws(() => flock(1 << 20, true), { code: 'EBADF' });
});
