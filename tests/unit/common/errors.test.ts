import test from 'ava';
import { constants } from 'node:os';
import { ERROR_CODES, ExitCode, formatError, isErrno, RktError, UsageError } from '../../../src/common/errors.js';

test('an RktError prints one line, with its hint, and no stack', (t) => {
  const err = new RktError('EPODLOCKED', 'failed to lock pod 3f2a: already locked', { hint: 'is it running?' });
  t.deepEqual(formatError(err, false), ['rkt: failed to lock pod 3f2a: already locked', 'rkt: is it running?']);
  t.is(err.exitCode, 254);
});

test('--debug adds the cause chain', (t) => {
  const root = new Error('EACCES: permission denied');
  const mid = new RktError('ESTORE', 'cannot open store', { cause: root });
  const top = new RktError('EFETCH', 'cannot fetch image', { cause: mid });
  const lines = formatError(top, true);
  t.is(lines[0], 'rkt: cannot fetch image');
  t.is(lines[1], '  caused by: cannot open store');
  t.regex(lines[2] ?? '', /caused by: Error: EACCES: permission denied/);
  t.deepEqual(formatError(top, false), ['rkt: cannot fetch image']);
});

test('a usage error exits 2', (t) => {
  t.is(new UsageError('bad').exitCode, 2);
});

test('a non-rkt error is a bug and shows its stack', (t) => {
  const lines = formatError(new TypeError('x is undefined'), false);
  t.regex(lines[0] ?? '', /^rkt: internal error \(this is a bug\): TypeError: x is undefined\n\s+at /);
});

test('the table of error codes: E and capitals, no Node errno name, exit 1, 2 or 254, a one-line meaning each', (t) => {
  const errnos = new Set(Object.keys(constants.errno));
  const codes = Object.keys(ERROR_CODES);
  t.true(codes.length > 0);
  t.deepEqual(codes, [...codes].sort(), 'kept in alphabetical order');
  for (const [code, { exit, meaning }] of Object.entries(ERROR_CODES)) {
    t.regex(code, /^E[A-Z0-9]+$/, code);
    t.false(errnos.has(code), `${code} is a Node errno name: isErrno callers would mistake one for the other`);
    t.true(([ExitCode.partial, ExitCode.usage, ExitCode.failure] as number[]).includes(exit), `${code} exits ${exit}`);
    t.true(meaning.length > 0 && !meaning.includes('\n') && meaning.length <= 120, `${code}: "${meaning}"`);
  }
});

test("an RktError exits with its code's status unless told otherwise", (t) => {
  t.is(new RktError('EUSAGE', 'no image given').exitCode, 2);
  t.is(new RktError('ENOIMAGE', 'no image "x"').exitCode, 254);
  t.is(new RktError('ENOIMAGE', 'no image "x"', { exitCode: 1 }).exitCode, 1);
});

test('isErrno matches Node system errors only', (t) => {
  const sys = Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
  t.true(isErrno(sys, 'ENOENT'));
  t.false(isErrno(sys, 'EEXIST'));
  t.false(isErrno(new RktError('ENOFILE', 'x: no such file'), 'ENOFILE'));
});
