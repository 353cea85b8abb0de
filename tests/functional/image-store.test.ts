import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, statSync, lstatSync, readlinkSync, symlinkSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { REPO, rkt, runCmd, tempDir, functionalSkipReason } from '../lib/rkt.js';
import { manifestJson, writeTar } from '../lib/tar.js';

const skip = functionalSkipReason();
const t0 = skip === undefined ? test : test.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);

const INSECURE = '--insecure-options=image';

function setup(t: import('ava').ExecutionContext): { dir: string; data: string; r: (args: string[]) => ReturnType<typeof rkt> } {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const data = path.join(dir, 'data');
  return { dir, data, r: (args) => rkt([`--dir=${data}`, ...args]) };
}

/** Build an ACI from a manifest and a function that fills rootfs/. */
function buildImage(dir: string, name: string, fill: (rootfs: string) => void, opts: { compression?: string; manifest?: Record<string, unknown> } = {}): string {
  const img = path.join(dir, `src-${name.replace(/\W/g, '_')}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(path.join(img, 'rootfs'), { recursive: true });
  writeFileSync(path.join(img, 'manifest'), manifestJson(name, opts.manifest ?? {}));
  fill(path.join(img, 'rootfs'));
  const out = `${img}.aci`;
  execFileSync(path.join(REPO, 'hack/aci'), ['build', `--compression=${opts.compression ?? 'none'}`, img, out]);
  return out;
}

for (const c of ['none', 'gzip', 'bzip2', 'xz']) {
  t0(title(`fetch of a ${c} ACI file prints the short Image ID; --full the whole; it equals sha512sum of the tar`), async (t) => {
    const { dir, r } = setup(t);
    const aci = buildImage(dir, 'example.com/app', (root) => writeFileSync(path.join(root, 'hello'), 'hi'), { compression: c });
    const res = await r([INSECURE, 'fetch', aci]);
    t.is(res.exitCode, 0, res.stderr);
    t.regex(res.stdout, /^sha512-[0-9a-f]{32}\n$/);
    const full = await r([INSECURE, 'fetch', '--full', aci]);
    const dec = { none: 'cat', gzip: 'gzip -dc', bzip2: 'bzip2 -dc', xz: 'xz -dc' }[c];
    const sum = execFileSync('sh', ['-c', `${dec} '${aci}' | sha512sum`]).toString().split(' ')[0];
    t.is(full.stdout.trim(), `sha512-${sum}`);
    t.true(full.stdout.startsWith(res.stdout.trim()));
  });
}

t0(title('image list, cat-manifest, export (same Image ID), render, extract, rm'), async (t) => {
  const { dir, r } = setup(t);
  const aci = buildImage(dir, 'example.com/app', (root) => writeFileSync(path.join(root, 'hello'), 'hi'), { compression: 'gzip',
    manifest: { labels: [{ name: 'version', value: '1.0' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }] } });
  const id = (await r([INSECURE, 'fetch', '--full', aci])).stdout.trim();
  const list = await r(['image', 'list']);
  t.is(list.exitCode, 0);
  t.regex(list.stdout, /^ID\s+NAME\s+SIZE\s+IMPORT TIME\s+LAST USED\n/);
  t.regex(list.stdout, new RegExp(`${id.slice(0, 39)}\\s+example\\.com/app:1\\.0\\s+\\S+\\s+\\d+ (second|minute)s? ago`));
  const nolegend = await r(['image', 'list', '--no-legend', '--fields=id,name,latest', '--full']);
  t.is(nolegend.stdout, `${id}\texample.com/app:1.0\tfalse\n`);
  const json = JSON.parse((await r(['image', 'list', '--format=json'])).stdout) as { id: string; name: string }[];
  t.deepEqual(json.map((i) => [i.id, i.name]), [[id, 'example.com/app:1.0']]);
  t.is((await r(['image', 'list', '--fields=bogus'])).exitCode, 2);

  const cat = await r(['image', 'cat-manifest', 'example.com/app:1.0']);
  t.is(cat.exitCode, 0);
  t.is((JSON.parse(cat.stdout) as { name: string }).name, 'example.com/app');
  t.is((await r(['image', 'cat-manifest', id.slice(0, 20)])).exitCode, 0, 'a 12+ hex prefix names the image');

  const out = path.join(dir, 'out.aci');
  t.is((await r(['image', 'export', id, out])).exitCode, 0);
  t.is(`sha512-${execFileSync('sha512sum', [out]).toString().split(' ')[0]}`, id);
  const again = await r(['image', 'export', id, out]);
  t.is(again.exitCode, 254);
  t.regex(again.stderr, /already exists\nrkt: use --overwrite/);

  const target = path.join(dir, 'rendered');
  t.is((await r(['image', 'render', id, target])).exitCode, 0);
  t.is(readFileSync(path.join(target, 'rootfs/hello'), 'utf8'), 'hi');
  t.true(existsSync(path.join(target, 'manifest')));
  const only = path.join(dir, 'only');
  t.is((await r(['image', 'extract', '--rootfs-only', id, only])).exitCode, 0);
  t.deepEqual(readdirSync(only), ['hello']);

  const rm = await r(['image', 'rm', id, 'example.com/nothere']);
  t.is(rm.exitCode, 1, 'exit 1 when some removals failed');
  t.regex(rm.stderr, /successfully removed image sha512-/);
  t.regex(rm.stderr, /rkt: no image "example.com\/nothere" in the store/);
  t.is((await r(['image', 'list', '--no-legend'])).stdout, '');
});

t0(title('unknown and ambiguous image names give clear errors'), async (t) => {
  const { r } = setup(t);
  const res = await r(['image', 'cat-manifest', 'example.com/none']);
  t.is(res.exitCode, 254);
  t.is(res.stderr, 'rkt: no image "example.com/none" in the store\nrkt: fetch it first: rkt fetch example.com/none\n');
});

t0(title('root filesystems keep setuid bits, owners, devices, FIFOs, xattrs, hard links and absolute symlinks'), async (t) => {
  const { dir, data, r } = setup(t);
  const aci = buildImage(dir, 'example.com/fs', (root) => {
    mkdirSync(path.join(root, 'bin'));
    writeFileSync(path.join(root, 'bin/suid'), 'x');
    execFileSync('chown', ['1234:5678', path.join(root, 'bin/suid')]);
    chmodSync(path.join(root, 'bin/suid'), 0o4755);
    execFileSync('mknod', [path.join(root, 'null'), 'c', '1', '3']);
    execFileSync('mkfifo', [path.join(root, 'fifo')]);
    symlinkSync('/etc/abs-target', path.join(root, 'abs'));
    execFileSync('ln', [path.join(root, 'bin/suid'), path.join(root, 'hard')]);
    execFileSync('setfattr', ['-n', 'user.rkt', '-v', 'kept', path.join(root, 'bin/suid')]);
  });
  const id = (await r([INSECURE, 'fetch', '--full', aci])).stdout.trim();
  const root = path.join(data, 'cas/trees', id, 'rootfs');
  const st = statSync(path.join(root, 'bin/suid'));
  t.is(st.mode & 0o7777, 0o4755);
  t.is(st.uid, 1234);
  t.is(st.gid, 5678);
  t.true(lstatSync(path.join(root, 'null')).isCharacterDevice());
  t.true(lstatSync(path.join(root, 'fifo')).isFIFO());
  t.is(readlinkSync(path.join(root, 'abs')), '/etc/abs-target');
  t.is(statSync(path.join(root, 'hard')).ino, st.ino);
  t.regex(execFileSync('getfattr', ['-n', 'user.rkt', path.join(root, 'bin/suid')]).toString(), /user.rkt="kept"/);
});

const escapes: [string, Parameters<typeof writeTar>[1], RegExp][] = [
  ['a ".." path', [{ path: 'manifest', body: manifestJson('example.com/evil') }, { path: 'rootfs/../../escaped', body: 'x' }], /has a "\.\." component/],
  ['an absolute path', [{ path: 'manifest', body: manifestJson('example.com/evil') }, { path: '/tmp/escaped', body: 'x' }], /has an absolute path/],
  ['a hard link to outside', [{ path: 'manifest', body: manifestJson('example.com/evil') }, { path: 'rootfs/pw', type: 'hardlink', linkname: '/etc/passwd' }], /has an absolute path/],
];
for (const [what, entries, re] of escapes) {
  t0(title(`fetch refuses ${what} and leaves nothing behind`), async (t) => {
    const { dir, data, r } = setup(t);
    const f = path.join(dir, 'evil.aci');
    writeTar(f, entries);
    const res = await r([INSECURE, 'fetch', f]);
    t.is(res.exitCode, 254);
    t.regex(res.stderr, re);
    t.notRegex(res.stderr, /\n\s+at /);
    t.deepEqual(readdirSync(path.join(data, 'cas/tmp')), []);
    t.is((await r(['image', 'list', '--no-legend'])).stdout, '');
  });
}

t0(title('fetch refuses a write through a planted symlink and writes nothing outside'), async (t) => {
  const { dir, data, r } = setup(t);
  const outside = path.join(dir, 'outside');
  mkdirSync(outside);
  const f = path.join(dir, 'evil.aci');
  writeTar(f, [{ path: 'manifest', body: manifestJson('example.com/evil') }, { path: 'rootfs/', type: 'dir' },
    { path: 'rootfs/link', type: 'symlink', linkname: outside }, { path: 'rootfs/link/pwned', body: 'pwned' }]);
  const res = await r([INSECURE, 'fetch', f]);
  t.is(res.exitCode, 254);
  t.regex(res.stderr, /goes through the symlink "rootfs\/link"/);
  t.deepEqual(readdirSync(outside), []);
  t.deepEqual(readdirSync(path.join(data, 'cas/tmp')), []);
});

t0(title('two fetches of the same image at once end with one good image'), async (t) => {
  const { dir, r } = setup(t);
  const aci = buildImage(dir, 'example.com/big', (root) => writeFileSync(path.join(root, 'blob'), Buffer.alloc(20 << 20, 7)), { compression: 'gzip' });
  const [a, b] = await Promise.all([r([INSECURE, 'fetch', aci]), r([INSECURE, 'fetch', aci])]);
  t.is(a.exitCode, 0, a.stderr);
  t.is(b.exitCode, 0, b.stderr);
  t.is(a.stdout, b.stdout);
  t.is((await r(['image', 'list', '--no-legend'])).stdout.trim().split('\n').length, 1);
  const v = await rkt([`--dir=${path.join(dir, 'data')}`, 'image', 'verify', a.stdout.trim()]);
  t.is(v.exitCode, 0, v.stdout + v.stderr);
});

t0(title('a fetch killed with SIGKILL after its blob and tree are in place, before the record: no image listed; gc removes the leftovers; a refetch succeeds'), async (t) => {
  const { dir, data, r } = setup(t);
  const aci = buildImage(dir, 'example.com/app', (root) => writeFileSync(path.join(root, 'hello'), 'hi'), { compression: 'gzip' });
  // RKT_TEST_CRASH_AT (Documentation/hacking.md) makes rkt SIGKILL itself at that exact point of the import.
  const crashed = await rkt([`--dir=${data}`, INSECURE, 'fetch', aci], { env: { ...process.env, RKT_TEST_CRASH_AT: 'store-before-record' } });
  t.is(crashed.exitCode, 128 + 9, `rkt was not killed: ${crashed.stderr}`);
  t.regex(crashed.stderr, /^rkt: RKT_TEST_CRASH_AT=store-before-record: killing myself before the record of sha512-[0-9a-f]{128}$/m);
  t.is(crashed.stdout, '', 'no Image ID printed');
  const id = /record of (sha512-[0-9a-f]{128})/.exec(crashed.stderr)?.[1] ?? '';
  // The kill landed where it should: the blob and tree were renamed into place, no record was written.
  t.deepEqual(readdirSync(path.join(data, 'cas/blobs')), [id]);
  t.deepEqual(readdirSync(path.join(data, 'cas/trees')), [id]);
  t.false(existsSync(path.join(data, 'cas/images', `${id}.json`)));

  // What a user sees: no image, and nothing that uses one finds it.
  const list = await r(['image', 'list', '--no-legend']);
  t.is(list.exitCode, 0, list.stderr);
  t.is(list.stdout, '');
  t.not((await r(['image', 'cat-manifest', id])).exitCode, 0, 'an image without a record does not exist');
  const gc = await r(['image', 'gc']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.regex(gc.stderr, new RegExp(`^removed leftover \\S+/cas/trees/${id}$`, 'm'));
  t.regex(gc.stderr, new RegExp(`^removed leftover \\S+/cas/blobs/${id}$`, 'm'));
  for (const d of ['tmp', 'blobs', 'trees']) t.deepEqual(readdirSync(path.join(data, 'cas', d)), [], `cas/${d} is empty after gc`);

  const again = await r([INSECURE, 'fetch', '--full', aci]);
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.stdout, `${id}\n`);
  t.is((await r(['image', 'list', '--no-legend'])).stdout.trim().split('\n').length, 1);
  const v = await r(['image', 'verify', id]);
  t.is(v.exitCode, 0, v.stdout + v.stderr);
  t.deepEqual(readdirSync(path.join(data, 'cas/tmp')), [], 'no temporary leftovers');
});

t0(title('a fetch that crashed before the record leaves nothing in the way: a refetch over its leftovers publishes the image whole'), async (t) => {
  const { dir, data, r } = setup(t);
  const aci = buildImage(dir, 'example.com/app', (root) => writeFileSync(path.join(root, 'hello'), 'hi'));
  const crashed = await rkt([`--dir=${data}`, INSECURE, 'fetch', aci], { env: { ...process.env, RKT_TEST_CRASH_AT: 'store-before-record' } });
  t.is(crashed.exitCode, 128 + 9, crashed.stderr);
  // Without a gc in between: the fetch finds the orphaned blob and tree of the same ID and publishes.
  const again = await r([INSECURE, 'fetch', '--full', aci]);
  t.is(again.exitCode, 0, again.stderr);
  const id = again.stdout.trim();
  t.is((await r(['image', 'verify', id])).exitCode, 0);
  t.is(readFileSync(path.join(data, 'cas/trees', id, 'rootfs/hello'), 'utf8'), 'hi');
  const gc = await r(['image', 'gc']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.is(gc.stderr, '', 'nothing to collect: the image is whole and recorded');
  t.deepEqual(readdirSync(path.join(data, 'cas/tmp')), []);
});

t0(title('image verify finds and repairs a tampered tree'), async (t) => {
  const { dir, data, r } = setup(t);
  const aci = buildImage(dir, 'example.com/app', (root) => writeFileSync(path.join(root, 'hello'), 'hi'));
  const id = (await r([INSECURE, 'fetch', '--full', aci])).stdout.trim();
  writeFileSync(path.join(data, 'cas/trees', id, 'rootfs/hello'), 'tampered');
  writeFileSync(path.join(data, 'cas/trees', id, 'rootfs/extra'), 'planted');
  const v = await r(['image', 'verify', id]);
  t.is(v.exitCode, 1);
  t.regex(v.stdout, /tampered \(2 differences\), repaired/);
  t.regex(v.stderr, /changed rootfs\/hello/);
  t.regex(v.stderr, /extra rootfs\/extra/);
  t.is(readFileSync(path.join(data, 'cas/trees', id, 'rootfs/hello'), 'utf8'), 'hi');
  t.false(existsSync(path.join(data, 'cas/trees', id, 'rootfs/extra')));
  t.is((await r(['image', 'verify', id])).exitCode, 0);
});

t0(title('image gc honours the grace period'), async (t) => {
  const { dir, r } = setup(t);
  const aci = buildImage(dir, 'example.com/app', (root) => writeFileSync(path.join(root, 'hello'), 'hi'));
  await r([INSECURE, 'fetch', aci]);
  await r(['image', 'gc']);
  t.is((await r(['image', 'list', '--no-legend'])).stdout.trim().split('\n').length, 1, 'kept within 24h');
  const gc = await r(['image', 'gc', '--grace-period=0s']);
  t.regex(gc.stderr, /removed image sha512-\w+ \(example.com\/app\)/);
  t.is((await r(['image', 'list', '--no-legend'])).stdout, '');
  t.is((await r(['image', 'gc', '--grace-period=bogus'])).exitCode, 2);
});

t0(title('dependencies are fetched and rendered: upper layers win, a lower symlink is replaced, pathWhitelist applies'), async (t) => {
  const { dir, r } = setup(t);
  const base = buildImage(dir, 'example.com/base', (root) => {
    mkdirSync(path.join(root, 'etc'));
    writeFileSync(path.join(root, 'etc/base'), 'base');
    writeFileSync(path.join(root, 'etc/shared'), 'from-base');
    symlinkSync('/etc', path.join(root, 'data'));
    writeFileSync(path.join(root, 'dropped'), 'x');
  });
  const baseId = (await r([INSECURE, 'fetch', '--full', base])).stdout.trim();
  const app = buildImage(dir, 'example.com/app', (root) => {
    mkdirSync(path.join(root, 'etc'));
    writeFileSync(path.join(root, 'etc/shared'), 'from-app');
    mkdirSync(path.join(root, 'data'));
    writeFileSync(path.join(root, 'data/file'), 'app-data');
  }, { manifest: { dependencies: [{ imageName: 'example.com/base', imageID: baseId }], pathWhitelist: ['/etc/base', '/etc/shared', '/data/file'] } });
  const res = await r([INSECURE, 'fetch', '--full', app]);
  t.is(res.exitCode, 0, res.stderr);
  const target = path.join(dir, 'out');
  t.is((await r(['image', 'render', '--rootfs-only', res.stdout.trim(), target])).exitCode, 0);
  t.is(readFileSync(path.join(target, 'etc/base'), 'utf8'), 'base');
  t.is(readFileSync(path.join(target, 'etc/shared'), 'utf8'), 'from-app');
  t.true(lstatSync(path.join(target, 'data')).isDirectory(), 'the lower symlink was replaced, not followed');
  t.is(readFileSync(path.join(target, 'data/file'), 'utf8'), 'app-data');
  t.false(existsSync(path.join(target, 'dropped')), 'pathWhitelist removed it');
  const own = path.join(dir, 'own');
  t.is((await r(['image', 'extract', '--rootfs-only', res.stdout.trim(), own])).exitCode, 0);
  t.false(existsSync(path.join(own, 'etc/base')), 'extract ignores dependencies');
});

t0(title('a dependency that cannot be found fails the fetch and stores nothing'), async (t) => {
  const { dir, r } = setup(t);
  const app = buildImage(dir, 'example.com/app', () => undefined, { manifest: { dependencies: [{ imageName: 'example.com/missing', imageID: `sha512-${'a'.repeat(128)}` }] } });
  const res = await r([INSECURE, '--insecure-options=http', 'fetch', '--pull-policy=new', app]);
  t.is(res.exitCode, 254);
  t.is((await r(['image', 'list', '--no-legend'])).stdout, '');
});

t0(title('fetch of a file without a signature names the fix'), async (t) => {
  const { dir, r } = setup(t);
  const aci = buildImage(dir, 'example.com/app', () => undefined);
  const res = await r(['fetch', aci]);
  t.is(res.exitCode, 254);
  t.regex(res.stderr, /^rkt: signature verification failed for example.com\/app: no signature found for .*\.aci\nrkt: .*--insecure-options=image/);
});

t0(title('fetch of a missing file'), async (t) => {
  const { r } = setup(t);
  const res = await r([INSECURE, 'fetch', '/nonexistent/x.aci']);
  t.is(res.exitCode, 254);
  t.is(res.stderr, 'rkt: /nonexistent/x.aci: no such file\n');
});

t0(title('a bad --pull-policy is a usage error'), async (t) => {
  const { r } = setup(t);
  t.is((await r(['fetch', '--pull-policy=sometimes', 'x.aci'])).exitCode, 2);
});
void runCmd;

// ---------------------------------------------------------------------------------------------------------
// Headers GNU tar would read otherwise than rkt's header scanner (src/image/tar-scan.ts): each is refused before
// GNU tar sees it, and nothing is stored. tests/unit/image/tar-scan.test.ts has each case in detail.

/** One ustar header block: `raw` bytes are laid over its fields before the checksum is computed. */
function rawHeader(name: string, size: number, o: { type?: string; linkname?: string; raw?: readonly (readonly [number, Buffer])[] } = {}): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write('14524360400\0', 136, 'latin1');
  h.write(o.type ?? '0', 156, 'latin1');
  if (o.linkname !== undefined) h.write(o.linkname, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 'latin1');
  for (const [at, bytes] of o.raw ?? []) bytes.copy(h, at);
  h.write('        ', 148, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

const pad512 = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
const rawEntry = (name: string, body: string | Buffer = '', o: Parameters<typeof rawHeader>[2] = {}): Buffer =>
  Buffer.concat([rawHeader(name, Buffer.from(body).length, o), pad512(Buffer.from(body))]);
/** A pax header ('x', or 'g' for a global one) holding `pairs` as records. */
const paxEntry = (pairs: Record<string, string>, type = 'x'): Buffer => rawEntry('PaxHeaders/x', Buffer.concat(Object.entries(pairs).map(([k, v]) => {
  const rest = Buffer.byteLength(` ${k}=${v}\n`);
  let len = rest + 1;
  while (String(len).length + rest !== len) len++;
  return Buffer.from(`${len} ${k}=${v}\n`);
})), { type });
const longNameEntry = (name: string): Buffer => rawEntry('././@LongLink', `${name}\0`, { type: 'L' });
/** The valid start of an ACI (manifest, rootfs/), then `parts`, then the end-of-archive blocks. */
const aciWith = (...parts: Buffer[]): Buffer => Buffer.concat([
  rawEntry('manifest', manifestJson('example.com/evil')), rawEntry('rootfs/', '', { type: '5' }), ...parts, Buffer.alloc(1024),
]);
const hiddenEntries = (): Buffer => Buffer.concat([rawEntry('manifest', manifestJson('example.com/hidden')), rawEntry('outside-rootfs', 'x')]);

const differentials: [string, Buffer, RegExp][] = [
  ['a regular file named with a trailing "/"', aciWith(rawEntry('rootfs/d/', hiddenEntries())),
    /tar entry "rootfs\/d\/" is a regular file whose name ends in "\/"/],
  ['a regular file given a trailing "/" by a pax path', aciWith(paxEntry({ path: 'rootfs/d/' }), rawEntry('rootfs/plain', hiddenEntries())),
    /tar entry "rootfs\/d\/" is a regular file whose name ends in "\/"/],
  ['a regular file given a trailing "/" by a GNU long name', aciWith(longNameEntry('rootfs/d/'), rawEntry('rootfs/plain', hiddenEntries())),
    /tar entry "rootfs\/d\/" is a regular file whose name ends in "\/"/],
  ['a pax GNU.sparse.name', aciWith(paxEntry({ 'GNU.sparse.name': 'manifest' }), rawEntry('rootfs/innocent', manifestJson('example.com/hidden'))),
    /tar entry "rootfs\/innocent" has the pax key "GNU\.sparse\.name"/],
  ['a global pax header setting size', aciWith(rawEntry('rootfs/evil', manifestJson('example.com/hidden')), paxEntry({ size: '0' }, 'g'),
    rawEntry('rootfs/f', rawEntry('manifest', '', { type: '1', linkname: 'rootfs/evil' }))), /global pax header "PaxHeaders\/x" sets "size"/],
  ['a global pax header setting GNU.sparse.name', aciWith(paxEntry({ 'GNU.sparse.name': 'manifest' }, 'g'), rawEntry('rootfs/f', manifestJson('example.com/hidden'))),
    /global pax header "PaxHeaders\/x" sets "GNU\.sparse\.name"/],
  ['a global pax header setting path', aciWith(paxEntry({ path: 'manifest' }, 'g'), rawEntry('rootfs/f', manifestJson('example.com/hidden'))),
    /global pax header "PaxHeaders\/x" sets "path"/],
  ['a space between the digits of a size', aciWith(rawHeader('rootfs/f', 0, { raw: [[124, Buffer.from('0000 0002000')]] }), rawEntry('outside-rootfs', 'boo')),
    /bad size "0000 0002000" in tar header/],
  ['a NUL byte in a pax path', aciWith(paxEntry({ path: 'rootfs/l\0x' }), rawEntry('rootfs/lx', '', { type: '2', linkname: '/etc' }), rawEntry('rootfs/l/passwd', 'x')),
    /tar entry "rootfs\/lx" has a pax path holding a NUL byte/],
  ['input that stops inside an entry\'s padding', aciWith(rawEntry('rootfs/a', '0123456789')).subarray(0, 3 * 512 + 512 + 12), /truncated input \(needed 500 more bytes\)/],
];
for (const [what, bytes, re] of differentials) {
  t0(title(`fetch refuses ${what} (GNU tar would read it otherwise) and stores nothing`), async (t) => {
    const { dir, data, r } = setup(t);
    const f = path.join(dir, 'evil.aci');
    writeFileSync(f, bytes);
    const res = await r([INSECURE, 'fetch', f]);
    t.is(res.exitCode, 254, res.stderr);
    t.regex(res.stderr, re);
    t.notRegex(res.stderr, /\n\s+at /);
    t.is(res.stdout, '');
    t.deepEqual(readdirSync(path.join(data, 'cas/tmp')), []);
    t.is((await r(['image', 'list', '--no-legend'])).stdout, '');
  });
}
