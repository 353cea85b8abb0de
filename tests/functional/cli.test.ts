import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { REPO, rkt, runCmd, tempDir } from '../lib/rkt.js';

// These run the built CLI and tools as a user would; they need no root.

test('rkt --bogus: one line and where to look on stderr, exit 2, nothing on stdout', async (t) => {
  const r = await rkt(['--bogus']);
  t.is(r.exitCode, 2);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^rkt: unknown flag "--bogus"$/m);
  t.regex(r.stderr, /^see 'rkt --help'$/m);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
});

test('rkt version', async (t) => {
  const r = await rkt(['version']);
  t.is(r.exitCode, 0);
  t.regex(r.stdout, /^rkt Version: 1\.30\.\d+\nappc Version: 0\.8\.11\nNode Version: v\d+\.\d+\.\d+\nFeatures: .+\n$/);
  t.is(r.stderr, '');
});

test('rkt help lists commands and exits 0', async (t) => {
  const r = await rkt(['help']);
  t.is(r.exitCode, 0);
  t.regex(r.stdout, /rkt version/);
});

test('rkt with an unknown command exits 2', async (t) => {
  const r = await rkt(['frobnicate']);
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /^rkt: unknown command "frobnicate"$/m);
});

test('hack/mk-busybox-aci builds an image that hack/aci validates', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const out = path.join(dir, 'busybox.aci');
  const built = await runCmd(path.join(REPO, 'hack/mk-busybox-aci'), [out, 'example.com/busybox', 'gzip']);
  t.is(built.exitCode, 0, built.stderr);
  t.regex(built.stdout, /^sha512-[0-9a-f]{128}\n$/);
  const v = await runCmd(path.join(REPO, 'hack/aci'), ['validate', out]);
  t.is(v.exitCode, 0, v.stderr);
  t.regex(v.stdout, /"name": "example.com\/busybox"/);
  t.true(v.stdout.endsWith(`Image ID: ${built.stdout.trim()}\n`));
  const sum = execFileSync('sh', ['-c', `gzip -dc '${out}' | sha512sum`]).toString().split(' ')[0];
  t.is(built.stdout.trim(), `sha512-${sum}`);
});

test('hack/aci validate: a bad manifest is one line, exit 254, no stack', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const img = path.join(dir, 'img');
  execFileSync('mkdir', ['-p', path.join(img, 'rootfs')]);
  writeFileSync(path.join(img, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/x', app: { exec: ['rel/path'], user: '0', group: '0' } }));
  const r = await runCmd(path.join(REPO, 'hack/aci'), ['build', img, path.join(dir, 'x.aci')]);
  t.is(r.exitCode, 254);
  t.regex(r.stderr, /^aci: invalid image manifest: app\.exec\[0\]: "rel\/path"/);
  t.notRegex(r.stderr, /\n\s+at /);
  t.false(existsSync(path.join(dir, 'x.aci')));
});

test('hack/aci validate: a non-tar file is a clear error', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const f = path.join(dir, 'junk.aci');
  writeFileSync(f, readFileSync('/etc/os-release'));
  const r = await runCmd(path.join(REPO, 'hack/aci'), ['validate', f]);
  t.is(r.exitCode, 254);
  t.regex(r.stderr, /^aci: .*junk\.aci: not a valid image/m);
  t.notRegex(r.stderr, /\n\s+at /);
});
