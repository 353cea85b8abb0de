/**
 * OCI layers in the store, against a real registry (Debian's docker-registry on 127.0.0.1, plain http, filled by
 * `skopeo copy` from layouts this file builds): diff_ids checked (a config that lies about a layer, or lists
 * another number of them, is refused and leaves nothing), a second image sharing 4 of its 5 layers costs only
 * the new layer's files (inodes counted), renderings on demand (`image render`, `image verify`), and an `image
 * rm` run exactly while a fetch that reuses one of the removed image's layers is about to commit.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, promises as fsp, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { busyboxLayer, layerTar, listTree, OCI_TOOLS_MISSING, startRegistry, writeImage, writeLayout, type TestRegistry } from '../../lib/oci.js';
import { podEnv } from '../../lib/pods.js';
import { functionalSkipReason, RKT, runCmd, tempDir } from '../../lib/rkt.js';

const skip = functionalSkipReason() ?? (existsSync(RKT) ? undefined : `the CLI is not built (${RKT})`) ?? OCI_TOOLS_MISSING;
const t0 = skip === undefined ? test.serial : test.serial.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);
const INSECURE = '--insecure-options=image,http';

let work = '';
let cleanup: () => void = () => undefined;
let reg: TestRegistry;
let layout = '';
/** Layer digests by image ref, bottom first. */
const layersOf = new Map<string, string[]>();
/** Entries (files and directories, the root included) of the layer only `five-b` has. */
let newLayerEntries = 0;

test.before(async () => {
  if (skip !== undefined) return;
  const tmp = tempDir('rkt-oci-layers-');
  work = tmp.dir;
  cleanup = tmp.cleanup;
  layout = path.join(work, 'layout');
  const base = busyboxLayer(work);
  const small = (n: number) => layerTar(work, [{ path: `l${n}/file`, content: `layer ${n}\n` }, { path: `l${n}/other`, content: `other ${n}\n` }]);
  const [l2, l3, l4, l5] = [small(2), small(3), small(4), small(5)];
  const newer = layerTar(work, [{ path: 'b/one', content: 'one\n' }, { path: 'b/two', content: 'two\n' }, { path: 'b/sub/three', content: 'three\n' }]);
  // b/, b/one, b/two, b/sub/, b/sub/three and the layer's own root.
  newLayerEntries = 6;
  const config = { Env: ['PATH=/bin'], Entrypoint: ['/bin/sh', '-c'], Cmd: ['cat /l2/file /b/one'] };
  const images: Record<string, ReturnType<typeof writeImage>> = {
    'five-a': writeImage(layout, { layers: [{ tar: base }, { tar: l2 }, { tar: l3 }, { tar: l4 }, { tar: l5 }], config }),
    'five-b': writeImage(layout, { layers: [{ tar: base }, { tar: l2 }, { tar: l3 }, { tar: l4 }, { tar: newer }], config }),
    // The config says layer 1's diff_id is layer 2's.
    liar: writeImage(layout, { layers: [{ tar: base }, { tar: l2 }, { tar: l3 }], diffIds: (d) => [d[0] ?? '', d[2] ?? '', d[2] ?? ''] }),
    // One diff_id too many.
    extra: writeImage(layout, { layers: [{ tar: base }, { tar: l2 }], diffIds: (d) => [...d, d[1] ?? ''] }),
    // The same compressed blob as five-a's layer 1, with another diff_id for it.
    'liar-shared': writeImage(layout, { layers: [{ tar: base }, { tar: l2 }], diffIds: (d) => [d[0] ?? '', d[0] ?? ''] }),
  };
  for (const [ref, img] of Object.entries(images)) layersOf.set(ref, img.layerDigests);
  writeLayout(layout, images);
  reg = await startRegistry(work, {});
  for (const ref of Object.keys(images)) reg.push(layout, ref, `test/${ref}:v`);
});

test.after.always(async () => {
  await reg?.stop();
  cleanup();
});

/** Every file (not directory) under `dir`, relative, sorted; none if it does not exist. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return execFileSync('find', ['.', '-not', '-type', 'd'], { cwd: dir }).toString().split('\n').filter((s) => s !== '').sort();
}

/** The distinct inodes under `dir` (hard links counted once). */
function inodes(dir: string): Set<string> {
  return new Set(execFileSync('find', [dir, '-printf', '%i\\n']).toString().split('\n').filter((s) => s !== ''));
}

const ref = (name: string) => `docker://${reg.host}/test/${name}:v`;

t0(title('a config whose diff_id for a layer is not the layer\'s is refused, naming the layer and both digests; nothing is left'), async (t) => {
  const e = await podEnv(t);
  const res = await e.r([INSECURE, 'fetch', ref('liar')]);
  t.is(res.exitCode, 254, res.stderr);
  const layers = layersOf.get('liar') ?? [];
  t.regex(res.stderr, new RegExp(`layer ${layers[1]}: the image config's rootfs.diff_ids\\[1\\] is sha256:[0-9a-f]{64}, but the layer's uncompressed content is sha256:[0-9a-f]{64}`));
  t.regex(res.stderr, /rebuild or push it again/);
  const list = await e.r(['image', 'list', '--no-legend']);
  t.is(list.stdout.trim(), '');
  t.deepEqual(filesUnder(path.join(e.data, 'cas/oci')), [], 'no layer tree or blob stored');
  t.deepEqual(filesUnder(path.join(e.data, 'cas/tmp')), [], 'nothing staged left behind');
});

t0(title('a config listing another number of diff_ids than the manifest has layers is refused'), async (t) => {
  const e = await podEnv(t);
  const res = await e.r([INSECURE, 'fetch', ref('extra')]);
  t.is(res.exitCode, 254, res.stderr);
  t.regex(res.stderr, /the image config lists 3 diff_ids for the manifest's 2 layers/);
  t.deepEqual(filesUnder(path.join(e.data, 'cas/oci')), []);
  const list = await e.r(['image', 'list', '--no-legend']);
  t.is(list.stdout.trim(), '');
});

t0(title('a stored layer keeps the diff_id it was checked with: a second image naming its blob with another diff_id is refused'), async (t) => {
  const e = await podEnv(t);
  const a = await e.r([INSECURE, 'fetch', '--full', ref('five-a')]);
  t.is(a.exitCode, 0, a.stderr);
  const layer = (layersOf.get('five-a') ?? [])[1] ?? '';
  const info = JSON.parse(readFileSync(path.join(e.data, 'cas/oci/layers', layer.replace(':', '-'), 'layer.json'), 'utf8')) as { diffId: string };
  t.regex(info.diffId, /^sha256:[0-9a-f]{64}$/);
  const before = filesUnder(path.join(e.data, 'cas/oci'));
  const b = await e.r([INSECURE, 'fetch', ref('liar-shared')]);
  t.is(b.exitCode, 254, b.stderr);
  t.regex(b.stderr, new RegExp(`layer ${layer} \\(stored, checked when it was fetched\\): the image config's rootfs.diff_ids\\[1\\] is sha256:[0-9a-f]{64}, but the layer's uncompressed content is ${info.diffId}`));
  t.deepEqual(filesUnder(path.join(e.data, 'cas/oci')), before, 'nothing more stored');
  const list = await e.r(['image', 'list', '--no-legend', '--fields=id']);
  t.is(list.stdout.trim().split('\n').length, 1);
});

t0(title('a second image sharing 4 of its 5 layers costs only the new layer: its fetch creates that layer\'s inodes and its records'), async (t) => {
  const e = await podEnv(t);
  const a = await e.r([INSECURE, 'fetch', '--full', ref('five-a')]);
  t.is(a.exitCode, 0, a.stderr);
  const cas = path.join(e.data, 'cas');
  const before = inodes(cas);
  const b = await e.r([INSECURE, '--debug', 'fetch', '--full', ref('five-b')]);
  t.is(b.exitCode, 0, b.stderr);
  t.is(b.stderr.match(/downloading layer/g)?.length, 1, b.stderr);
  const added = [...inodes(cas)].filter((i) => !before.has(i)).length;
  // The layer: its tree's entries, its directory, layer.json, its blob. The image: config and manifest blobs,
  // trees/<id>/ with manifest and oci-layers.json, blobs/<id>, images/<id>.json.
  t.is(added, newLayerEntries + 3 + 2 + 3 + 2, `inodes the second fetch made (${added})`);
  // No rendered rootfs: the image's tree is its manifest and layer list.
  t.deepEqual(readdirSync(path.join(cas, 'trees', b.stdout.trim())).sort(), ['manifest', 'oci-layers.json']);
  const run = await e.run(['--net=host', b.stdout.trim()]);
  t.is(run.exitCode, 0, run.stderr);
  t.is(run.stdout.replace(/\r/g, '').trim(), 'layer 2\none');
});

t0(title('image render and --no-overlay render the layers when asked; image verify checks each layer and repairs a tampered one'), async (t) => {
  const e = await podEnv(t);
  const a = await e.r([INSECURE, 'fetch', '--full', ref('five-b')]);
  t.is(a.exitCode, 0, a.stderr);
  const id = a.stdout.trim();
  const out = e.file('rendered');
  const render = await e.r(['image', 'render', id, out]);
  t.is(render.exitCode, 0, render.stderr);
  const tree = listTree(out);
  t.true(tree.includes('./manifest'));
  t.true(tree.includes('./rootfs/b/sub/three'));
  t.true(tree.includes('./rootfs/l4/file'));
  t.false(tree.includes('./rootfs/l5/file'));
  t.deepEqual(filesUnder(path.join(e.data, 'cas/tmp')), [], 'the rendering is removed after the copy');
  const copied = await e.run(['--net=host', '--no-overlay', id]);
  t.is(copied.exitCode, 0, copied.stderr);
  t.is(copied.stdout.replace(/\r/g, '').trim(), 'layer 2\none');
  const ok = await e.r(['image', 'verify', id]);
  t.is(ok.exitCode, 0, ok.stderr);
  t.is(ok.stdout.trim(), `${id}: ok`);
  const layer = (layersOf.get('five-b') ?? [])[4] ?? '';
  const victim = path.join(e.data, 'cas/oci/layers', layer.replace(':', '-'), 'tree/b/one');
  writeFileSync(victim, 'tampered\n');
  const bad = await e.r(['image', 'verify', id]);
  t.is(bad.exitCode, 1, bad.stderr);
  t.is(bad.stdout.trim(), `${id}: tampered (1 differences), repaired`);
  t.regex(bad.stderr, new RegExp(`layer ${layer}: changed b/one`));
  t.is(readFileSync(victim, 'utf8'), 'one\n');
  const again = await e.r(['image', 'verify', id]);
  t.is(again.stdout.trim(), `${id}: ok`);
});

t0(title('a user who may only read the store renders an OCI image by copies (no hard links into the store, nothing written to it)'), async (t) => {
  const e = await podEnv(t);
  const a = await e.r([INSECURE, 'fetch', '--full', ref('five-b')]);
  t.is(a.exitCode, 0, a.stderr);
  // nobody may read the store (its directories 0755) but write nowhere in it.
  execFileSync('chmod', ['0755', e.dir]);
  const outDir = e.file('nobody-out');
  execFileSync('mkdir', ['-m', '0777', outDir]);
  const out = path.join(outDir, 'tree');
  const before = filesUnder(path.join(e.data, 'cas'));
  const res = await runCmd('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, RKT, `--dir=${e.data}`, 'image', 'render', '--rootfs-only', a.stdout.trim(), out]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(readFileSync(path.join(out, 'b/sub/three'), 'utf8'), 'three\n');
  t.is(readFileSync(path.join(out, 'l4/file'), 'utf8'), 'layer 4\n');
  t.true(existsSync(path.join(out, 'bin/busybox')));
  t.false(existsSync(path.join(out, 'l5')));
  t.deepEqual(filesUnder(path.join(e.data, 'cas')), before, 'the store is as it was');
});

t0(title('image rm of the last image with a layer, run while a fetch that reuses that layer is about to commit: the fetch stores it again and its image runs'), async (t) => {
  const e = await podEnv(t);
  const a = await e.r([INSECURE, 'fetch', '--full', ref('five-a')]);
  t.is(a.exitCode, 0, a.stderr);
  const shared = (layersOf.get('five-a') ?? [])[0] ?? '';
  // One shared layer has lost its blob (its tree is stored): the fetch holds a new copy of the blob beside the
  // stored tree, and must fetch the layer whole again once the rm takes the tree too.
  const blobless = (layersOf.get('five-a') ?? [])[1] ?? '';
  rmSync(path.join(e.data, 'cas/oci/blobs', blobless.replace(':', '-')));
  const fifo = e.file('pause');
  execFileSync('mkfifo', [fifo]);
  // RKT_TEST_PAUSE_AT (Documentation/hacking.md): the fetch stops after deciding to reuse the stored layers,
  // before its commit, until the FIFO is written.
  const child = spawn(process.execPath, [RKT, `--dir=${e.data}`, INSECURE, '--debug', 'fetch', '--full', ref('five-b')], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RKT_TEST_PAUSE_AT: 'oci-before-commit', RKT_TEST_PAUSE_FIFO: fifo },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  const paused = new Promise<void>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      if (/RKT_TEST_PAUSE_AT=oci-before-commit: .*: waiting for /.test(stderr)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`rkt fetch exited (${code}) before the pause point: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await paused;
  t.regex(stderr, new RegExp(`layer ${shared} already stored`));
  t.regex(stderr, new RegExp(`downloading layer ${blobless}`));
  const rm = await e.r(['image', 'rm', a.stdout.trim()]);
  t.is(rm.exitCode, 0, rm.stderr);
  t.false(existsSync(path.join(e.data, 'cas/oci/layers', shared.replace(':', '-'))), 'the shared layer went with the last image that had it');
  await fsp.writeFile(fifo, 'go\n');
  t.is(await exited, 0, stderr);
  t.regex(stderr, /stored layer\(s\) were removed meanwhile: fetching them again/);
  const id = stdout.trim();
  for (const d of [shared, blobless]) {
    t.true(existsSync(path.join(e.data, 'cas/oci/layers', d.replace(':', '-'), 'layer.json')), d);
    t.true(existsSync(path.join(e.data, 'cas/oci/blobs', d.replace(':', '-'))), d);
  }
  const verify = await e.r(['image', 'verify', id]);
  t.is(verify.stdout.trim(), `${id}: ok`, verify.stderr);
  const run = await e.run(['--net=host', id]);
  t.is(run.exitCode, 0, run.stderr);
  t.is(run.stdout.replace(/\r/g, '').trim(), 'layer 2\none');
});

t0(title('rkt export of an exited pod of an OCI image: the ACI holds its layers as the app saw them, with what the app wrote'), async (t) => {
  const e = await podEnv(t);
  const a = await e.r([INSECURE, 'fetch', '--full', ref('five-b')]);
  t.is(a.exitCode, 0, a.stderr);
  const uuidFile = e.file('uuid');
  const run = await e.run(['--net=host', `--uuid-file-save=${uuidFile}`, a.stdout.trim(), '--exec=/bin/sh', '--', '-c', 'echo by-app > /made; rm /l3/file']);
  t.is(run.exitCode, 0, run.stderr);
  const out = e.file('exported.aci');
  const exp = await e.r(['export', readFileSync(uuidFile, 'utf8').trim(), out]);
  t.is(exp.exitCode, 0, exp.stderr);
  const names = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).split('\n');
  for (const n of ['manifest', 'rootfs/bin/busybox', 'rootfs/l2/file', 'rootfs/b/sub/three', 'rootfs/made']) t.true(names.includes(n), n);
  t.false(names.includes('rootfs/l3/file'), 'a file the app removed is not in the export');
  t.is(execFileSync('tar', ['-xOf', out, 'rootfs/made'], { encoding: 'utf8' }), 'by-app\n');
});
