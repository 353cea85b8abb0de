/** Atomic small-file writes (src/common/fs-atomic.ts) and the random names they use (src/common/random.ts). */
import test, { type ExecutionContext } from 'ava';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../../../src/common/fs-atomic.js';
import { randomBytes, randomHex } from '../../../src/common/random.js';

function scratch(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rkt-atomic-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('writeFileAtomic replaces a file whole, with the mode given whatever the umask, and leaves no temporary', async (t) => {
  const dir = scratch(t);
  const file = path.join(dir, 'f');
  writeFileSync(file, 'old content, longer than the new\n');
  await writeFileAtomic(file, 'new\n', 0o640);
  t.is(readFileSync(file, 'utf8'), 'new\n');
  t.is(statSync(file).mode & 0o777, 0o640);
  writeFileAtomicSync(file, new Uint8Array([0x61, 0x0a]), 0o644, false);
  t.is(readFileSync(file, 'utf8'), 'a\n');
  t.deepEqual(readdirSync(dir), ['f']);
});

test('a write that cannot be renamed into place throws and leaves the target and no temporary behind', (t) => {
  const dir = scratch(t);
  const target = path.join(dir, 'target');
  mkdirSync(target);
  writeFileSync(path.join(target, 'inside'), 'kept\n');
  const err = t.throws(() => writeFileAtomicSync(target, 'x\n'));
  t.is((err as NodeJS.ErrnoException | undefined)?.code, 'EISDIR');
  t.deepEqual(readdirSync(dir), ['target']);
  t.is(readFileSync(path.join(target, 'inside'), 'utf8'), 'kept\n');
});

test('a write into a missing directory throws ENOENT and creates nothing', async (t) => {
  const dir = scratch(t);
  const err = await t.throwsAsync(writeFileAtomic(path.join(dir, 'no', 'f'), 'x\n'));
  t.is((err as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
  t.deepEqual(readdirSync(dir), []);
});

test('randomBytes hands out fresh bytes on every call, small or beyond its read-ahead', (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const hex = randomHex(8);
    t.regex(hex, /^[0-9a-f]{16}$/);
    seen.add(hex);
  }
  t.is(seen.size, 200);
  const big = randomBytes(1000);
  t.is(big.length, 1000);
  t.not(big.toString('hex'), Buffer.alloc(1000).toString('hex'));
});
