import test from 'ava';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { exitText, runProgram, startFilter, stderrTail, succeeded } from '../../../src/common/exec.js';

test('runProgram returns the status and both outputs, whatever the status', async (t) => {
  const e = await runProgram('sh', ['-c', 'echo out; echo one >&2; echo two >&2; exit 3']);
  t.is(e.code, 3);
  t.false(succeeded(e));
  t.is(e.stdout, 'out\n');
  t.is(exitText(e), 'exited with status 3');
  t.is(stderrTail(e, 1, 'none'), 'two');
  t.is(stderrTail(e, 5, 'none'), 'one; two');
});

test('runProgram runs in cwd with exactly the given environment', async (t) => {
  const e = await runProgram('/bin/sh', ['-c', 'pwd; echo "$RKT_X:${HOME:-unset}"'], { cwd: '/tmp', env: { RKT_X: 'y', PATH: '/usr/bin:/bin' } });
  t.true(succeeded(e));
  t.is(e.stdout, '/tmp\ny:unset\n');
});

test('runProgram feeds its input to the program\'s stdin', async (t) => {
  const e = await runProgram('sh', ['-c', 'read line; echo "got $line"'], { input: 'hello\n' });
  t.true(succeeded(e));
  t.is(e.stdout, 'got hello\n');
});

test('runProgram reports a signal as the end, not a status', async (t) => {
  const e = await runProgram('sh', ['-c', 'kill -TERM $$']);
  t.is(e.code, undefined);
  t.is(e.signal, 'SIGTERM');
  t.is(exitText(e), 'killed by SIGTERM');
});

test('a program that cannot be run rejects with Node\'s error code', async (t) => {
  const err = await t.throwsAsync(runProgram('rkt-no-such-program', []));
  t.is((err as NodeJS.ErrnoException).code, 'ENOENT');
});

test('startFilter streams stdin to stdout and captures stderr', async (t) => {
  const f = await startFilter('sh', ['-c', 'tr a-z A-Z; echo done >&2']);
  const chunks: Buffer[] = [];
  const read = pipeline(f.stdout, new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } }));
  f.stdin.end('hello\n');
  await read;
  const e = await f.done;
  t.true(succeeded(e));
  t.is(Buffer.concat(chunks).toString(), 'HELLO\n');
  t.is(e.stderr, 'done\n');
});

test('startFilter\'s done resolves with notRun for a missing program, and may be awaited late', async (t) => {
  const f = await startFilter('rkt-no-such-program', []);
  f.stdin.end();
  f.stdout.resume();
  await new Promise((resolve) => setImmediate(resolve));
  const e = await f.done;
  t.is((e.notRun as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
  t.regex(exitText(e), /^could not be run: /);
});

test('a killed filter ends with its signal', async (t) => {
  const f = await startFilter('sleep', ['30']);
  f.stdout.resume();
  f.kill();
  const e = await f.done;
  t.is(e.signal, 'SIGTERM');
});
