import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, fstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RktError } from '../../../src/common/errors.js';
import { loadNativeAddon } from '../../../src/common/native.js';
import { fakePackage } from '../../lib/fake-package.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const ADDON = path.join(REPO, 'build', 'rkt-native.node');

test('a missing native addon is an EBUILD error naming it and the fix', (t) => {
  const { pkg, module } = fakePackage(t);
  const err = t.throws(() => loadNativeAddon(module), { instanceOf: RktError });
  t.is(err?.code, 'EBUILD');
  t.is(err?.message, `cannot load rkt's native addon ${path.join(pkg, 'build', 'rkt-native.node')}: it is missing`);
  t.is(err?.hint, `build it: npm run build in ${pkg}`);
});

test('a file that is not an addon is an EBUILD error saying what the loader said', (t) => {
  const { pkg, module } = fakePackage(t);
  mkdirSync(path.join(pkg, 'build'));
  writeFileSync(path.join(pkg, 'build', 'rkt-native.node'), 'not an ELF file\n');
  const err = t.throws(() => loadNativeAddon(module), { instanceOf: RktError });
  t.is(err?.code, 'EBUILD');
  t.regex(err?.message ?? '', /^cannot load rkt's native addon .*rkt-native\.node: .+/);
});

test("the build's flock takes an exclusive lock, refuses a second description, and names a bad descriptor", (t) => {
  const { pkg, module } = fakePackage(t);
  mkdirSync(path.join(pkg, 'build'));
  copyFileSync(ADDON, path.join(pkg, 'build', 'rkt-native.node'));
  const { flock } = loadNativeAddon(module);
  const a = openSync(pkg, 'r');
  const b = openSync(pkg, 'r');
  t.teardown(() => { closeSync(a); closeSync(b); });
  t.true(flock(a, true));
  t.true(flock(a, true), 'again through the same description');
  t.false(flock(b, true));
  t.false(flock(b, false), 'a shared lock conflicts with it too');
  t.throws(() => flock(1 << 20, true), { code: 'EBADF' });
});

test('execve of a missing program throws ENOENT and leaves the descriptor it was to keep close-on-exec', (t) => {
  const { execve } = loadNativeAddon(path.join(REPO, 'src'));
  const fd = openSync(REPO, 'r');
  t.teardown(() => closeSync(fd));
  t.throws(() => execve('/no/such/program', ['/no/such/program'], [], [fd]), { code: 'ENOENT' });
  // Still close-on-exec: a child spawned now does not get it.
  const seen = execFileSync('/bin/sh', ['-c', `[ -e /proc/self/fd/${fd} ] && echo open || echo closed`], { encoding: 'utf8' });
  t.is(seen, 'closed\n');
  t.truthy(fstatSync(fd));
  t.throws(() => execve('/bin/true', [], [], []), { instanceOf: TypeError }, 'an empty argv is refused');
});

test('execve: the process becomes the program, with exactly the environment given, the kept descriptor, SIGPIPE at its default and no signal blocked', (t) => {
  // In a node of its own (it is replaced): the program reports what it got.
  const script = `
    const fs = require('fs');
    const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(ADDON)});
    const keep = fs.openSync(${JSON.stringify(REPO)}, 'r');
    process.on('SIGTERM', () => {});
    m.exports.execve('/bin/sh', ['sh', '-c', 'echo "pid=$$ x=$X"; [ -e /proc/self/fd/' + keep + ' ] && echo kept; grep -E "^Sig(Ign|Blk)" /proc/self/status'], ['X=1'], [keep]);
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const out = r.stdout;
  const lines = out.split('\n');
  t.is(lines[0], `pid=${r.pid} x=1`, 'the same process, with the environment given');
  t.is(lines[1], 'kept');
  // sh ignores nothing by itself here; SIGPIPE (13) is bit 12 of SigIgn.
  const ign = BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)$/m.exec(out)?.[1] ?? 'ffff'}`);
  t.is(ign & (1n << 12n), 0n, 'SIGPIPE is not ignored');
  t.regex(out, /^SigBlk:\s+0+$/m);
});

test('spawn: the child gets exactly the descriptors given (-1: /dev/null), in the cwd given, with default signals; waitExit gives its status once the relay pipe is at end of file', async (t) => {
  const { pipe, spawn, waitExit } = loadNativeAddon(path.join(REPO, 'src'));
  const [outR, outW] = pipe();
  const [relayR, relayW] = pipe();
  const extra = openSync(REPO, 'r');   // not passed: the child must not have it
  t.teardown(() => { for (const fd of [outR, relayR, extra]) { try { closeSync(fd); } catch { /* closed */ } } });
  // fd 0 → /dev/null, fd 1 → our pipe, fds 3 and 4 → two pipes of ours (whatever their numbers here).
  const [aR, aW] = pipe();
  const pid = spawn('/bin/sh', ['sh', '-c', 'pwd; readlink /proc/self/fd/0; ls /proc/self/fd | sort -n | tr "\\n" " "; echo; grep -E "^Sig(Ign|Blk)" /proc/self/status; exit 7'],
    [-1, outW, 2, aW, relayW], '/tmp');
  closeSync(outW); closeSync(relayW); closeSync(aW); closeSync(aR);
  const status = await waitExit(pid, relayR, 5000);
  t.deepEqual(status, { code: 7, signal: null });
  const out = readFileSync(`/proc/self/fd/${outR}`, 'utf8');
  const lines = out.split('\n');
  t.is(lines[0], '/tmp');
  t.is(lines[1], '/dev/null');
  // 0–4 (ls's own directory descriptor is the next one, 5), not the descriptor `extra` of ours.
  t.is(lines[2], '0 1 2 3 4 5 ');
  t.regex(out, /^SigBlk:\s+0+$/m);
  t.is(BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)$/m.exec(out)?.[1] ?? 'ffff'}`) & (1n << 12n), 0n, 'SIGPIPE is not ignored');
});

test('spawn of a missing program throws ENOENT; waitExit of a child killed by a signal gives the signal', async (t) => {
  const { spawn, waitExit } = loadNativeAddon(path.join(REPO, 'src'));
  t.throws(() => spawn('/no/such/program', ['x'], [-1, 1, 2], '/'), { code: 'ENOENT' });
  const pid = spawn('/bin/sh', ['sh', '-c', 'kill -TERM $$'], [-1, 1, 2], '/');
  t.deepEqual(await waitExit(pid, -1, 0), { code: null, signal: 15 });
});
