import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspectAciFile, checkAciEntryPath } from '../../../src/image/aci.js';
import { buildAci } from '../../../src/image/aci-build.js';
import { detectCompression } from '../../../src/image/compression.js';
import { RktError } from '../../../src/common/errors.js';
import { manifestJson, writeTar, type RawEntry } from '../../lib/tar.js';

function imageDir(manifest = manifestJson()): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rkt-aci-'));
  writeFileSync(path.join(dir, 'manifest'), manifest);
  mkdirSync(path.join(dir, 'rootfs/bin'), { recursive: true });
  mkdirSync(path.join(dir, 'rootfs/etc'), { recursive: true });
  writeFileSync(path.join(dir, 'rootfs/etc/hello'), 'hello\n'.repeat(5000));
  symlinkSync('/etc/hello', path.join(dir, 'rootfs/bin/abs-link'));
  return dir;
}

const decoders = { none: ['cat'], gzip: ['gzip', '-dc'], bzip2: ['bzip2', '-dc'], xz: ['xz', '-dc'] } as const;

for (const compression of ['none', 'gzip', 'bzip2', 'xz'] as const) {
  test(`Image ID of a ${compression} ACI equals sha512sum of the uncompressed tar`, async (t) => {
    const dir = imageDir();
    const out = path.join(dir, `img-${compression}.aci`);
    const built = await buildAci(dir, out, compression);
    const [cmd, ...args] = decoders[compression];
    const plain = execFileSync(cmd, [...args, out], { maxBuffer: 1 << 28 });
    const expected = execFileSync('sha512sum', [], { input: plain }).toString().split(' ')[0];
    t.is(built.imageId, `sha512-${expected}`);
    const read = await inspectAciFile(out);
    t.is(read.imageId, built.imageId);
    t.is(read.compression, compression);
    t.is(read.size, plain.length);
    t.is(read.manifest.name, 'example.com/test');
    t.is(detectCompression(readFileSync(out).subarray(0, 6)), compression);
  });
}

test('building the same tree twice gives the same Image ID', async (t) => {
  const dir = imageDir();
  const a = await buildAci(dir, path.join(dir, 'a.aci'));
  const b = await buildAci(dir, path.join(dir, 'b.aci'));
  t.is(a.imageId, b.imageId);
});

test('build refuses an invalid manifest and leaves no output', async (t) => {
  const dir = imageDir(JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'Bad Name' }));
  const out = path.join(dir, 'x.aci');
  const err = await t.throwsAsync(buildAci(dir, out), { instanceOf: RktError });
  t.regex(err.message, /^invalid image manifest: name: /);
  t.false(existsSync(out));
  t.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), []);
});

function tmpFile(name: string): string {
  return path.join(mkdtempSync(path.join(tmpdir(), 'rkt-aci-')), name);
}

async function rejects(t: ExecutionContext, file: string, re: RegExp): Promise<void> {
  const err = await t.throwsAsync(inspectAciFile(file), { instanceOf: RktError });
  t.regex(err?.message ?? '', re);
}

test('a truncated ACI is rejected with a clear error', async (t) => {
  const dir = imageDir();
  const out = path.join(dir, 'full.aci');
  await buildAci(dir, out);
  const cut = tmpFile('cut.aci');
  writeFileSync(cut, readFileSync(out).subarray(0, 15000));
  await rejects(t, cut, /cut\.aci: not a valid image: truncated input \(needed \d+ more bytes\)/);
});

for (const c of ['gzip', 'xz', 'bzip2'] as const) {
  test(`a truncated ${c} ACI is rejected`, async (t) => {
    const dir = imageDir();
    const out = path.join(dir, 'full.aci');
    await buildAci(dir, out, c);
    const whole = readFileSync(out);
    const cut = tmpFile(`cut-${c}.aci`);
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    await rejects(t, cut, new RegExp(`cut-${c}\\.aci: (bad ${c} data|not a valid image)`));
  });
}

test('a file that is not a tar is rejected', async (t) => {
  const f = tmpFile('text.aci');
  writeFileSync(f, 'this is not an image\n'.repeat(100));
  await rejects(t, f, /text\.aci: not a valid image: unrecognized archive format/);
});

test('an empty file is rejected', async (t) => {
  const f = tmpFile('empty.aci');
  writeFileSync(f, '');
  await rejects(t, f, /empty\.aci: not a valid image/);
});

test('gzip magic over garbage is a decompression error, not a crash', async (t) => {
  const f = tmpFile('bad.aci');
  writeFileSync(f, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0]), Buffer.alloc(200, 7)]));
  await rejects(t, f, /bad\.aci: bad gzip data/);
});

test('xz magic over garbage is a decompression error', async (t) => {
  const f = tmpFile('bad.aci');
  writeFileSync(f, Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(200, 7)]));
  await rejects(t, f, /bad\.aci: bad xz data/);
});

test('a missing file names the path', async (t) => {
  await rejects(t, '/nonexistent/x.aci', /^\/nonexistent\/x\.aci: no such file$/);
});

const layoutCases: readonly [string, readonly RawEntry[], RegExp][] = [
  ['an entry outside rootfs/', [{ path: 'manifest', body: manifestJson() }, { path: 'etc/passwd', body: 'x' }], /entry "etc\/passwd" is outside rootfs\//],
  ['an absolute path', [{ path: 'manifest', body: manifestJson() }, { path: '/rootfs/etc/x', body: 'x' }], /entry "\/rootfs\/etc\/x" has an absolute path/],
  ['a ".." component', [{ path: 'manifest', body: manifestJson() }, { path: 'rootfs/../../etc/x', body: 'x' }], /entry "rootfs\/\.\.\/\.\.\/etc\/x" has a "\.\." component/],
  ['a duplicate entry', [{ path: 'manifest', body: manifestJson() }, { path: 'rootfs/a', body: 'x' }, { path: './rootfs/a', body: 'y' }], /duplicate entry "\.\/rootfs\/a"/],
  ['a duplicate manifest', [{ path: 'manifest', body: manifestJson() }, { path: 'manifest', body: manifestJson('example.com/other') }], /duplicate entry "manifest"/],
  ['no manifest', [{ path: 'rootfs/', type: 'dir' }, { path: 'rootfs/a', body: 'x' }], /no "manifest" entry/],
  ['a manifest that is a symlink', [{ path: 'manifest', type: 'symlink', linkname: '/etc/passwd' }], /"manifest" is a symlink, not a regular file/],
  ['a manifest directory with children', [{ path: 'manifest/x', body: 'x' }], /entry "manifest\/x" is outside rootfs\//],
  ['a write through a planted symlink', [{ path: 'manifest', body: manifestJson() }, { path: 'rootfs/', type: 'dir' },
    { path: 'rootfs/evil', type: 'symlink', linkname: '/etc' }, { path: 'rootfs/evil/passwd', body: 'pwned' }],
  /entry "rootfs\/evil\/passwd" goes through the symlink "rootfs\/evil" planted by an earlier entry/],
  ['a write through a planted relative symlink', [{ path: 'manifest', body: manifestJson() },
    { path: 'rootfs/up', type: 'symlink', linkname: '../../..' }, { path: 'rootfs/up/x', type: 'dir' }],
  /entry "rootfs\/up\/x" goes through the symlink "rootfs\/up"/],
  ['a hard link to outside the image', [{ path: 'manifest', body: manifestJson() }, { path: 'rootfs/shadow', type: 'hardlink', linkname: '/etc/shadow' }],
    /hard link "rootfs\/shadow" -> "\/etc\/shadow" has an absolute path/],
  ['a hard link climbing out', [{ path: 'manifest', body: manifestJson() }, { path: 'rootfs/x', type: 'hardlink', linkname: 'rootfs/../../etc/shadow' }],
    /"rootfs\/\.\.\/\.\.\/etc\/shadow" has a "\.\." component/],
  ['a hard link to the manifest', [{ path: 'manifest', body: manifestJson() }, { path: 'rootfs/m', type: 'hardlink', linkname: 'manifest' }],
    /hard link "rootfs\/m" points outside rootfs\//],
  ['a hard link through a planted symlink', [{ path: 'manifest', body: manifestJson() }, { path: 'rootfs/l', type: 'symlink', linkname: '/' },
    { path: 'rootfs/x', type: 'hardlink', linkname: 'rootfs/l/etc/shadow' }], /hard link target of "rootfs\/x": "rootfs\/l\/etc\/shadow" goes through the symlink/],
  ['rootfs that is a symlink', [{ path: 'manifest', body: manifestJson() }, { path: 'rootfs', type: 'symlink', linkname: '/' }],
    /"rootfs" is a symlink, not a directory/],
];
for (const [what, entries, re] of layoutCases) {
  test(`layout: ${what} is rejected`, async (t) => {
    const f = tmpFile('evil.aci');
    writeTar(f, entries);
    await rejects(t, f, re);
  });
}

test('an invalid manifest inside an ACI is reported with the field', async (t) => {
  const f = tmpFile('badmanifest.aci');
  writeTar(f, [{ path: 'manifest', body: manifestJson('example.com/x', { app: { exec: ['bin/sh'], user: '0', group: '0' } }) }]);
  await rejects(t, f, /badmanifest\.aci: invalid image manifest: app\.exec\[0\]: "bin\/sh"/);
});

test('a manifest that is not JSON is reported', async (t) => {
  const f = tmpFile('notjson.aci');
  writeTar(f, [{ path: 'manifest', body: '{ nope' }]);
  await rejects(t, f, /notjson\.aci: invalid image manifest: /);
});

test('long names (GNU and pax formats) are read', async (t) => {
  for (const format of ['gnu', 'pax'] as const) {
    const dir = imageDir();
    const deep = path.join(dir, 'rootfs', 'a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60));
    mkdirSync(deep, { recursive: true });
    writeFileSync(path.join(deep, 'file-with-a-long-name-'.repeat(4)), 'x');
    symlinkSync('/'.concat('t'.repeat(150)), path.join(deep, 'long-link'));
    const out = path.join(dir, `${format}.tar`);
    execFileSync('tar', ['-C', dir, `--format=${format}`, '-cf', out, 'manifest', 'rootfs']);
    const listed = execFileSync('tar', ['-tf', out]).toString().trim().split('\n').map((p) => p.replace(/\/$/, ''));
    const seen: string[] = [];
    const info = await inspectAciFile(out, { onEntry: (p, h) => { seen.push(p); if (p.endsWith('long-link')) t.is(h.linkpath.length, 151); } });
    t.deepEqual(seen, listed);
    t.is(info.entries, listed.length);
  }
});

test('checkAciEntryPath normalises ./ and trailing slashes', (t) => {
  t.is(checkAciEntryPath('./rootfs/bin/', 'x'), 'rootfs/bin');
  t.is(checkAciEntryPath('rootfs', 'x'), 'rootfs');
  t.is(checkAciEntryPath('./manifest', 'x'), 'manifest');
  t.throws(() => checkAciEntryPath('rootfs/a/../../b', 'x'), { message: /has a "\.\." component/ });
});
