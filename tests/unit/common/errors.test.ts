import test from 'ava';
import { formatError, RktError, UsageError } from '../../../src/common/errors.js';

test('an RktError prints one line, with its hint, and no stack', (t) => {
  const err = new RktError('EX', 'failed to lock pod 3f2a: already locked', { hint: 'is it running?' });
  t.deepEqual(formatError(err, false), ['rkt: failed to lock pod 3f2a: already locked', 'rkt: is it running?']);
  t.is(err.exitCode, 254);
});

test('--debug adds the cause chain', (t) => {
  const root = new Error('EACCES: permission denied');
  const mid = new RktError('EMID', 'cannot open store', { cause: root });
  const top = new RktError('ETOP', 'cannot fetch image', { cause: mid });
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
