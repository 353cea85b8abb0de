/**
 * OCI images end to end against a real registry: Debian's docker-registry on 127.0.0.1 (a throwaway CA; once
 * open, once with htpasswd auth, once plain http), filled by `skopeo copy` from OCI layouts this file builds
 * (a busybox base, a whiteout, an opaque dir, a symlink and a hard link, a file override, a zstd layer, a
 * manifest list of two platforms). rkt fetches with its CLI into a temporary --dir; pods run under nspawn.
 */
import test from 'ava';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { makeTestCa, type TestCa } from '../../lib/https.js';
import { busyboxLayer, layerTar, OCI_TOOLS_MISSING, startRegistry, writeImage, writeIndex, writeLayout, type TestRegistry } from '../../lib/oci.js';
import { podEnv } from '../../lib/pods.js';
import { tarBytes, type RawEntry } from '../../lib/tar.js';
import { functionalSkipReason, RKT, tempDir } from '../../lib/rkt.js';

const skip = functionalSkipReason() ?? (existsSync(RKT) ? undefined : `the CLI is not built (${RKT})`) ?? OCI_TOOLS_MISSING;
const t0 = skip === undefined ? test.serial : test.serial.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);
const INSECURE = '--insecure-options=image';

let work = '';
let cleanup: () => void = () => undefined;
let ca: TestCa;
let reg: TestRegistry;
let authReg: TestRegistry;
let plainReg: TestRegistry;
let layout = '';
let env: NodeJS.ProcessEnv = {};
/** Layer digests of app:v1, bottom first. */
let appLayers: string[] = [];
let v2Layers: string[] = [];

test.before(async () => {
  if (skip !== undefined) return;
  const tmp = tempDir('rkt-oci-');
  work = tmp.dir;
  cleanup = tmp.cleanup;
  ca = makeTestCa(path.join(work, 'ca'));
  env = { ...process.env, NODE_EXTRA_CA_CERTS: ca.caCert };
  layout = path.join(work, 'layout');
  const base = busyboxLayer(work);
  const l2 = layerTar(work, [
    { path: 'etc/removed', content: 'present in layer 2\n' },
    { path: 'opq/old-a', content: 'a\n' },
    { path: 'opq/old-b', content: 'b\n' },
    { path: 'data/override', content: 'layer 2\n' },
    { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1001::/srv:/bin/sh\n' },
    { path: 'etc/group', content: 'root:x:0:\nwebgrp:x:1001:\n' },
    { path: 'srv', dir: true },
  ]);
  const l3 = layerTar(work, [
    { path: 'etc/.wh.removed', content: '' },
    { path: 'opq/.wh..wh..opq', content: '' },
    { path: 'opq/new', content: 'new\n' },
    { path: 'data/override', content: 'layer 3\n' },
    { path: 'data/target', content: 'linked\n' },
    { path: 'data/sym', symlink: 'target' },
    { path: 'data/hard', hardlink: 'data/target' },
  ]);
  const l4 = layerTar(work, [{ path: 'data/zstd', content: 'from a zstd layer\n' }]);
  const config = {
    User: 'web', Env: ['PATH=/bin:/usr/bin', 'GREETING=hello from oci'], Entrypoint: ['/bin/sh', '-c'],
    Cmd: ['echo "$GREETING"; id -u; id -g; pwd'], WorkingDir: '/srv', ExposedPorts: { '80/tcp': {} }, Volumes: { '/var/data': {} },
    Labels: { 'org.opencontainers.image.title': 'rkt test' },
  };
  const v1 = writeImage(layout, { layers: [{ tar: base }, { tar: l2 }, { tar: l3 }, { tar: l4, compression: 'zstd' }], config });
  appLayers = v1.layerDigests;
  const l5 = layerTar(work, [{ path: 'data/v2', content: 'only in v2\n' }]);
  const v2 = writeImage(layout, { layers: [{ tar: base }, { tar: l2 }, { tar: l3 }, { tar: l5 }], config });
  v2Layers = v2.layerDigests;
  const arm = writeImage(layout, { layers: [{ tar: base }], architecture: 'arm64' });
  const s390 = writeImage(layout, { layers: [{ tar: base }], architecture: 's390x' });
  const multi = writeIndex(layout, [{ ...arm, arch: 'arm64' }, { ...v1, arch: 'amd64' }]);
  const noAmd = writeIndex(layout, [{ ...arm, arch: 'arm64' }, { ...s390, arch: 's390x' }]);
  writeLayout(layout, { v1, v2, multi, noamd: noAmd });
  reg = await startRegistry(work, { tls: { cert: ca.serverCert, key: ca.serverKey, ca: ca.caCert } });
  reg.push(layout, 'v1', 'test/app:v1');
  reg.push(layout, 'v2', 'test/app2:v2');
  reg.push(layout, 'multi', 'test/multi:latest', true);
  reg.push(layout, 'noamd', 'test/noamd:latest', true);
  authReg = await startRegistry(work, { tls: { cert: ca.serverCert, key: ca.serverKey, ca: ca.caCert }, users: { alice: 's3cret' } });
  authReg.push(layout, 'v1', 'test/app:v1');
  plainReg = await startRegistry(work, {});
  plainReg.push(layout, 'v1', 'test/app:v1');
});

test.after.always(async () => {
  await reg?.stop();
  await authReg?.stop();
  await plainReg?.stop();
  cleanup();
});

const layerDirs = (data: string) => {
  const d = path.join(data, 'cas/oci/layers');
  return existsSync(d) ? readdirSync(d).sort() : [];
};
const key = (d: string) => d.replace(':', '-');

t0(title('a tag needs --insecure-options=image, and the error says a digest pin would do'), async (t) => {
  const e = await podEnv(t);
  const res = await e.r(['fetch', `docker://${reg.host}/test/app:v1`], { env });
  t.is(res.exitCode, 254, res.stderr);
  t.regex(res.stderr, /carry no appc signature/);
  t.regex(res.stderr, /@sha256:/);
  t.regex(res.stderr, /--insecure-options=image/);
  t.deepEqual(layerDirs(e.data), []);
});

t0(title('fetch from the registry, run: the rootfs is the layers applied in order, the app is the config'), async (t) => {
  const e = await podEnv(t);
  const fetched = await e.r([INSECURE, 'fetch', `docker://${reg.host}/test/app:v1`], { env });
  t.is(fetched.exitCode, 0, fetched.stderr);
  const id = fetched.stdout.trim();
  t.regex(id, /^sha512-[0-9a-f]{32,128}$/);
  t.deepEqual(layerDirs(e.data), appLayers.map(key).sort());
  const cat = await e.r(['image', 'cat-manifest', id]);
  t.is(cat.exitCode, 0, cat.stderr);
  const m = JSON.parse(cat.stdout) as { name: string; app: { exec: string[]; user: string; group: string; ports: { name: string }[] }; annotations: { name: string; value: string }[] };
  t.deepEqual(m.app.exec, ['/bin/sh', '-c', 'echo "$GREETING"; id -u; id -g; pwd']);
  t.is(m.app.user, 'web');
  t.is(m.app.group, 'webgrp');
  t.deepEqual(m.app.ports.map((p) => p.name), ['80-tcp']);
  const ann = new Map(m.annotations.map((a) => [a.name, a.value]));
  t.is(ann.get('coreos.com/rkt/oci/reference'), `docker://${reg.host}/test/app:v1`);
  t.regex(ann.get('coreos.com/rkt/oci/manifest-digest') ?? '', /^sha256:/);
  t.is(ann.get('coreos.com/rkt/oci/registry'), reg.host);
  const list = await e.r(['image', 'list']);
  t.true(list.stdout.includes(`127.0.0.1-${reg.host.split(':')[1]}/test/app`), list.stdout);
  const vol = '--volume=volume-var-data,kind=empty';
  const run = await e.run(['--net=host', vol, id], { env });
  t.is(run.exitCode, 0, run.stderr);
  t.regex(run.stdout, /hello from oci\s+1000\s+1001\s+\/srv/);
  const look = await e.run(['--net=host', vol, id, '--exec=/bin/sh', '--', '-c',
    'ls /opq; cat /data/override /data/sym /data/hard /data/zstd; test -e /etc/removed && echo removed-is-there; stat -c %i /data/target /data/hard | uniq | wc -l'], { env });
  t.is(look.exitCode, 0, look.stderr);
  t.is(look.stdout.replace(/\r/g, '').trim(), ['new', 'layer 3', 'linked', 'linked', 'from a zstd layer', '1'].join('\n'));
});

t0(title('two images sharing three layers store them once; image rm of one keeps the shared layers'), async (t) => {
  const e = await podEnv(t);
  const a = await e.r([INSECURE, 'fetch', `docker://${reg.host}/test/app:v1`], { env });
  const b = await e.r([INSECURE, '--debug', 'fetch', `docker://${reg.host}/test/app2:v2`], { env });
  t.is(a.exitCode, 0, a.stderr);
  t.is(b.exitCode, 0, b.stderr);
  t.is(b.stderr.match(/downloading layer/g)?.length, 1, b.stderr);
  t.is(layerDirs(e.data).length, 5);
  const rm = await e.r(['image', 'rm', a.stdout.trim()]);
  t.is(rm.exitCode, 0, rm.stderr);
  t.deepEqual(layerDirs(e.data), v2Layers.map(key).sort());
  const rm2 = await e.r(['image', 'rm', b.stdout.trim()]);
  t.is(rm2.exitCode, 0, rm2.stderr);
  t.deepEqual(layerDirs(e.data), []);
});

t0(title('--pull-policy=update after the tag moved fetches only the new layer'), async (t) => {
  const e = await podEnv(t);
  const repo = `moving${Date.now() % 100000}`;
  reg.push(layout, 'v1', `test/${repo}:t`);
  const a = await e.r([INSECURE, 'fetch', `docker://${reg.host}/test/${repo}:t`], { env });
  t.is(a.exitCode, 0, a.stderr);
  const same = await e.r([INSECURE, 'fetch', `docker://${reg.host}/test/${repo}:t`], { env });
  t.is(same.stdout, a.stdout, 'new: the store answers');
  reg.push(layout, 'v2', `test/${repo}:t`);
  const b = await e.r([INSECURE, '--debug', 'fetch', '--pull-policy=update', `docker://${reg.host}/test/${repo}:t`], { env });
  t.is(b.exitCode, 0, b.stderr);
  t.not(b.stdout, a.stdout);
  t.is(b.stderr.match(/downloading layer/g)?.length, 1, b.stderr);
  t.true(b.stderr.includes(v2Layers[3] ?? 'none'), b.stderr);
});

t0(title('a manifest list gives its linux/amd64 image; one without it lists what it offers'), async (t) => {
  const e = await podEnv(t);
  const ok = await e.r([INSECURE, 'fetch', `docker://${reg.host}/test/multi`], { env });
  t.is(ok.exitCode, 0, ok.stderr);
  const bad = await e.r([INSECURE, 'fetch', `docker://${reg.host}/test/noamd`], { env });
  t.is(bad.exitCode, 254);
  t.regex(bad.stderr, /no image for linux\/amd64; it offers: linux\/arm64, linux\/s390x/);
});

t0(title('an unknown tag, and a plain-http registry without --insecure-options=http'), async (t) => {
  const e = await podEnv(t);
  const unknown = await e.r([INSECURE, 'fetch', `docker://${reg.host}/test/app:nope`], { env });
  t.is(unknown.exitCode, 254);
  t.regex(unknown.stderr, /tag "nope" not found in test\/app: MANIFEST_UNKNOWN/);
  const plain = await e.r([INSECURE, 'fetch', `docker://${plainReg.host}/test/app:v1`], { env });
  t.is(plain.exitCode, 254);
  t.regex(plain.stderr, /--insecure-options=http|TLS/);
  const allowed = await e.r(['--insecure-options=image,http', 'fetch', `docker://${plainReg.host}/test/app:v1`], { env });
  t.is(allowed.exitCode, 0, allowed.stderr);
});

t0(title('htpasswd auth: none and wrong credentials give the registry\'s message and the auth.d hint; right ones work'), async (t) => {
  const e = await podEnv(t);
  const conf = e.file('conf');
  mkdirSync(path.join(conf, 'auth.d'), { recursive: true });
  const none = await e.r([INSECURE, `--local-config=${conf}`, 'fetch', `docker://${authReg.host}/test/app:v1`], { env });
  t.is(none.exitCode, 254);
  t.regex(none.stderr, /authentication required/);
  t.regex(none.stderr, /dockerAuth/);
  const auth = (password: string) => writeFileSync(path.join(conf, 'auth.d', 'reg.json'), JSON.stringify({
    rktKind: 'dockerAuth', rktVersion: 'v1', registries: [authReg.host], credentials: { user: 'alice', password },
  }));
  auth('wrong');
  const wrong = await e.r([INSECURE, `--local-config=${conf}`, 'fetch', `docker://${authReg.host}/test/app:v1`], { env });
  t.is(wrong.exitCode, 254);
  t.regex(wrong.stderr, /credentials were refused/);
  t.regex(wrong.stderr, /UNAUTHORIZED/);
  auth('s3cret');
  const right = await e.r([INSECURE, `--local-config=${conf}`, 'fetch', `docker://${authReg.host}/test/app:v1`], { env });
  t.is(right.exitCode, 0, right.stderr);
});

t0(title('oci: and oci-archive: from the same layout give the same image'), async (t) => {
  const e = await podEnv(t);
  const dirRes = await e.r([INSECURE, 'fetch', `oci:${layout}:v1`]);
  t.is(dirRes.exitCode, 0, dirRes.stderr);
  const archive = path.join(work, 'layout.tar');
  if (!existsSync(archive)) execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
  const arch = await e.r([INSECURE, 'fetch', `oci-archive:${archive}:v1`]);
  t.is(arch.exitCode, 0, arch.stderr);
  t.is(arch.stdout, dirRes.stdout);
  const many = await e.r([INSECURE, 'fetch', `oci:${layout}`]);
  t.is(many.exitCode, 254);
  t.regex(many.stderr, /holds 4 images: name one/);
});

t0(title('a blob whose digest does not match is refused and nothing is listed'), async (t) => {
  const e = await podEnv(t);
  const bad = path.join(work, 'bad-layout');
  const l = layerTar(work, [{ path: 'x', content: 'x\n' }]);
  const img = writeImage(bad, { layers: [{ tar: l }] });
  writeLayout(bad, { v: img });
  const blob = path.join(bad, 'blobs/sha256', (img.layerDigests[0] ?? '').slice(7));
  const bytes = readFileSync(blob);
  bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0xff;
  writeFileSync(blob, bytes);
  const res = await e.r([INSECURE, 'fetch', `oci:${bad}:v`]);
  t.is(res.exitCode, 254);
  t.regex(res.stderr, /does not match its digest/);
  const list = await e.r(['image', 'list', '--no-legend']);
  t.is(list.stdout.trim(), '');
  t.deepEqual(layerDirs(e.data), []);
});

t0(title('a layer the registry serves corrupted is refused by its digest though its extraction fails first; nothing is listed or left'), async (t) => {
  // The blob is extracted while it downloads: damaged near its start, its gzip data fails the extraction at once,
  // yet the download must go on to its end (4 MB, more than any buffer between them) so that the error is the
  // digest's, and nothing of it may stay in cas/tmp.
  const e = await podEnv(t);
  const dir = path.join(work, 'corrupt-layout');
  const img = writeImage(dir, { layers: [{ tar: tarBytes([{ path: 'noise', body: randomBytes(4 << 20) }]) }] });
  writeLayout(dir, { v: img });
  reg.push(dir, 'v', 'test/corrupt:v');
  const hex = (img.layerDigests[0] ?? '').slice('sha256:'.length);
  const stored = path.join(reg.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const bytes = readFileSync(stored);
  for (let i = 16; i < 4096; i++) bytes[i] = (bytes[i] ?? 0) ^ 0x5a;
  writeFileSync(stored, bytes);
  const res = await e.r([INSECURE, 'fetch', `docker://${reg.host}/test/corrupt:v`], { env });
  t.is(res.exitCode, 254, res.stderr);
  t.regex(res.stderr, new RegExp(`blob sha256:${hex}: content does not match its digest`));
  const list = await e.r(['image', 'list', '--no-legend']);
  t.is(list.stdout.trim(), '');
  t.deepEqual(layerDirs(e.data), []);
  t.deepEqual(readdirSync(path.join(e.data, 'cas/tmp')), []);
});

t0(title('hostile layers are refused: .., absolute names, writes through a symlink, hard links out, devices'), async (t) => {
  const e = await podEnv(t);
  const cases: [string, RawEntry[], RegExp][] = [
    ['dotdot', [{ path: '../evil', body: 'x' }], /has a "\.\." component/],
    ['absolute', [{ path: '/tmp/rkt-oci-evil', body: 'x' }], /has an absolute path/],
    ['symlink', [{ path: 'link', type: 'symlink', linkname: '/tmp' }, { path: 'link/rkt-oci-evil', body: 'x' }], /goes through the symlink "link"/],
    ['hardlink-out', [{ path: 'h', type: 'hardlink', linkname: '../../etc/shadow' }], /has a "\.\." component/],
    ['hardlink-abs', [{ path: 'h', type: 'hardlink', linkname: '/etc/shadow' }], /has an absolute path/],
    ['device', [{ path: 'null', type: 'chardev' }], /device node/],
  ];
  for (const [name, entries, why] of cases) {
    const dir = path.join(work, `hostile-${name}`);
    writeLayout(dir, { v: writeImage(dir, { layers: [{ tar: tarBytes(entries) }] }) });
    const res = await e.r([INSECURE, 'fetch', `oci:${dir}:v`]);
    t.is(res.exitCode, 254, `${name}: ${res.stderr}`);
    t.regex(res.stderr, /bad layer/, name);
    t.regex(res.stderr, why, name);
  }
  t.false(existsSync('/tmp/rkt-oci-evil'));
  t.deepEqual(layerDirs(e.data), []);
  const list = await e.r(['image', 'list', '--no-legend']);
  t.is(list.stdout.trim(), '');
});

t0(title('pinned by digest: fetched without --insecure-options=image; rkt run docker://… and --no-overlay see the same rootfs; export gives an ACI'), async (t) => {
  const e = await podEnv(t);
  const tagged = await e.r([INSECURE, '--debug', 'fetch', `docker://${reg.host}/test/app:v1`], { env });
  t.is(tagged.exitCode, 0, tagged.stderr);
  const cat = await e.r(['image', 'cat-manifest', tagged.stdout.trim()]);
  const digest = (JSON.parse(cat.stdout) as { annotations: { name: string; value: string }[] }).annotations
    .find((a) => a.name === 'coreos.com/rkt/oci/manifest-digest')?.value ?? '';
  const pinned = await e.r(['fetch', `docker://${reg.host}/test/app@${digest}`], { env });
  t.is(pinned.exitCode, 0, pinned.stderr);
  t.is(pinned.stdout, tagged.stdout, 'the same image');
  const script = 'cat /data/override /data/zstd; ls /opq; test -e /etc/removed || echo gone';
  const want = ['layer 3', 'from a zstd layer', 'new', 'gone'].join('\n');
  const direct = await e.r([INSECURE, 'run', '--net=host', '--volume=volume-var-data,kind=empty', `docker://${reg.host}/test/app:v1`, '--exec=/bin/sh', '--', '-c', script], { env });
  t.is(direct.exitCode, 0, direct.stderr);
  t.is(direct.stdout.replace(/\r/g, '').trim(), want);
  const copied = await e.r([INSECURE, 'run', '--no-overlay', '--net=host', '--volume=volume-var-data,kind=empty', tagged.stdout.trim(), '--exec=/bin/sh', '--', '-c', script], { env });
  t.is(copied.exitCode, 0, copied.stderr);
  t.is(copied.stdout.replace(/\r/g, '').trim(), want);
  const out = e.file('app.aci');
  const exp = await e.r(['image', 'export', tagged.stdout.trim(), out]);
  t.is(exp.exitCode, 0, exp.stderr);
  const names = execFileSync('tar', ['-tf', out]).toString().split('\n');
  t.true(names.includes('manifest'));
  t.true(names.includes('rootfs/data/zstd'));
  t.false(names.includes('rootfs/etc/removed'));
});

t0(title('image gc removes unused OCI images with their layers; --pull-policy=never answers from the store only'), async (t) => {
  const e = await podEnv(t);
  const never = await e.r(['fetch', '--pull-policy=never', `docker://${reg.host}/test/app:v1`], { env });
  t.is(never.exitCode, 254);
  t.regex(never.stderr, /--pull-policy=never/);
  const a = await e.r([INSECURE, 'fetch', `docker://${reg.host}/test/app:v1`], { env });
  t.is(a.exitCode, 0, a.stderr);
  const again = await e.r(['fetch', '--pull-policy=never', `docker://${reg.host}/test/app:v1`], { env });
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.stdout, a.stdout);
  t.is(layerDirs(e.data).length, 4);
  const gc = await e.r(['image', 'gc', '--grace-period=0s']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.deepEqual(layerDirs(e.data), []);
  t.deepEqual(readdirSync(path.join(e.data, 'cas/oci/blobs')), []);
});
