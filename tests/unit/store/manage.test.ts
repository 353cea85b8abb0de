/**
 * Image garbage collection (gcImages in src/store/manage.ts) on a temporary store: what goes (images unused for
 * the grace period, leftovers of dead fetches, files no record owns) and what stays (images in use and what they
 * depend on, recent images, the work of live fetches). Images are made by writing their record, blob, tree and
 * layer straight into the store layout; the clock is the `now` argument, so nothing waits.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { gcImages, imagesToKeep } from '../../../src/store/manage.js';
import { listRecords, readRecord, writeRecord, writeRemote, type ImageRecord } from '../../../src/store/records.js';
import { Store } from '../../../src/store/store.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** The clock every test runs gc at. */
const NOW = Date.parse('2026-12-01T12:00:00.000Z');

const imageId = (digit: string): string => `sha512-${digit.repeat(128)}`;

async function newStore(t: ExecutionContext): Promise<Store> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'rkt-gc-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return new Store(dir);
}

/**
 * Put an image in the store as a publish leaves it: blob, tree (with a file), a layer if it has dependencies,
 * a remote cache entry, and its record written last. `lastUsedAgo` is how long before NOW it was last used.
 */
async function addImage(store: Store, digit: string, lastUsedAgo: number, dependencies: readonly string[] = []): Promise<ImageRecord> {
  const l = store.layout;
  const id = imageId(digit);
  await fs.mkdir(l.blobs, { recursive: true });
  await fs.writeFile(l.blob(id), `blob of ${digit}`);
  await fs.mkdir(path.join(l.tree(id), 'rootfs'), { recursive: true });
  await fs.writeFile(path.join(l.tree(id), 'rootfs', 'file'), digit);
  if (dependencies.length > 0) {
    await fs.mkdir(path.join(l.layer(id), 'rootfs'), { recursive: true });
  }
  const url = `https://example.com/${digit}.aci`;
  await writeRemote(l, { url, imageId: id, downloadTime: new Date(NOW - lastUsedAgo).toISOString() });
  const when = new Date(NOW - lastUsedAgo).toISOString();
  const rec: ImageRecord = {
    id, name: `example.com/${digit}`, labels: [], importTime: when, lastUsed: when, blobSize: 10, size: 1024, treeSize: 1,
    compression: 'none', latest: false, dependencies, remote: { url, downloadTime: when },
  };
  await writeRecord(l, rec);
  return rec;
}

/** Which of an image's files are still in the store. */
function filesOf(store: Store, id: string): string[] {
  const l = store.layout;
  const remote = l.remote(`https://example.com/${id.slice('sha512-'.length, 'sha512-'.length + 1)}.aci`);
  return ([['record', l.record(id)], ['blob', l.blob(id)], ['tree', l.tree(id)], ['layer', l.layer(id)], ['remote', remote]] as const)
    .filter(([, p]) => existsSync(p)).map(([what]) => what);
}

const ids = (recs: readonly ImageRecord[]): string[] => recs.map((r) => r.id).sort();

/** A pid no process has: pids are below /proc/sys/kernel/pid_max. */
function deadPid(): number {
  return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim());
}

test('an image unused for longer than the grace period is removed with its blob, tree, layer and remote entry', async (t) => {
  const store = await newStore(t);
  await addImage(store, 'a', 2 * DAY, [imageId('b')]);
  await addImage(store, 'b', HOUR);
  const res = await gcImages(store, DAY, new Set(), NOW);
  t.deepEqual(ids(res.removed), [imageId('a')]);
  t.is(res.removed[0]?.name, 'example.com/a');
  t.deepEqual(filesOf(store, imageId('a')), []);
  t.deepEqual(res.leftovers, [], 'the image\'s own files are not reported as leftovers');
  t.deepEqual(filesOf(store, imageId('b')), ['record', 'blob', 'tree', 'remote']);
  t.deepEqual(ids(await listRecords(store.layout)), [imageId('b')]);
});

test('an image used within the grace period stays; one used exactly a grace period ago goes', async (t) => {
  const store = await newStore(t);
  await addImage(store, 'a', DAY - 1);
  await addImage(store, 'b', DAY);
  const res = await gcImages(store, DAY, new Set(), NOW);
  t.deepEqual(ids(res.removed), [imageId('b')]);
  t.truthy(await readRecord(store.layout, imageId('a')));
});

test('an image a pod needs stays however old, and so do its dependencies', async (t) => {
  const store = await newStore(t);
  await addImage(store, 'b', 30 * DAY);
  await addImage(store, 'c', 30 * DAY);
  await addImage(store, 'a', 30 * DAY, [imageId('b'), imageId('c')]);
  await addImage(store, 'd', 30 * DAY);
  const res = await gcImages(store, DAY, new Set([imageId('a')]), NOW);
  t.deepEqual(ids(res.removed), [imageId('d')]);
  t.deepEqual(filesOf(store, imageId('a')), ['record', 'blob', 'tree', 'layer', 'remote']);
  t.deepEqual(filesOf(store, imageId('b')), ['record', 'blob', 'tree', 'remote']);
  t.deepEqual(filesOf(store, imageId('c')), ['record', 'blob', 'tree', 'remote']);
});

test('a grace period of zero removes every image no pod needs', async (t) => {
  const store = await newStore(t);
  await addImage(store, 'a', 0);
  await addImage(store, 'b', 0);
  const res = await gcImages(store, 0, new Set([imageId('b')]), NOW);
  t.deepEqual(ids(res.removed), [imageId('a')]);
});

// gc kept only the direct dependencies of images in use: a dependency of a dependency (a -> b -> c, a in use) was
// removed once old, leaving b's record naming an image the store no longer had (`rkt image verify b` then
// re-rendered b from c's missing tree and failed with an internal error).
test('an image a pod needs keeps its dependencies of dependencies too', async (t) => {
  const store = await newStore(t);
  await addImage(store, 'c', 30 * DAY);
  await addImage(store, 'b', 30 * DAY, [imageId('c')]);
  await addImage(store, 'a', 30 * DAY, [imageId('b')]);
  const res = await gcImages(store, DAY, new Set([imageId('a')]), NOW);
  t.deepEqual(ids(res.removed), []);
  t.deepEqual(filesOf(store, imageId('c')), ['record', 'blob', 'tree', 'remote']);
});

// An image kept because it was used within the grace period keeps the images it depends on (it did not: its
// record then named a dependency the store no longer had, and an image gc kept was no longer whole).
test('an image kept for its grace period keeps the images it depends on', async (t) => {
  const store = await newStore(t);
  await addImage(store, 'b', 30 * DAY);
  const a = await addImage(store, 'a', HOUR, [imageId('b')]);
  const res = await gcImages(store, DAY, new Set(), NOW);
  t.deepEqual(ids(res.removed), []);
  for (const dep of a.dependencies) t.truthy(await readRecord(store.layout, dep), `dependency ${dep} of a kept image`);
});

test('imagesToKeep: the whole dependency closure of images in use and of images within their grace period; a cycle or a missing dependency ends it', (t) => {
  const at = (ago: number): string => new Date(NOW - ago).toISOString();
  const rec = (digit: string, ago: number, deps: string[] = []): ImageRecord => ({
    id: imageId(digit), name: `example.com/${digit}`, labels: [], importTime: at(ago), lastUsed: at(ago), blobSize: 1, size: 1, treeSize: 1,
    compression: 'none', latest: false, dependencies: deps.map(imageId),
  });
  const records = [
    rec('a', 30 * DAY, ['b']), rec('b', 30 * DAY, ['c']), rec('c', 30 * DAY, ['d']), rec('d', 30 * DAY),
    rec('e', HOUR, ['f']), rec('f', 30 * DAY, ['e', '9']),
    rec('1', 30 * DAY, ['2']), rec('2', 30 * DAY),
  ];
  const keep = imagesToKeep(records, DAY, new Set([imageId('a')]), NOW);
  t.deepEqual([...keep].sort(), ['9', 'a', 'b', 'c', 'd', 'e', 'f'].map(imageId).sort());
  t.deepEqual([...imagesToKeep(records, 0, new Set(), NOW)], []);
});

test('staging directories: a live fetch\'s stays, a dead one\'s goes; stray files in tmp/ go', async (t) => {
  const store = await newStore(t);
  const tmp = store.layout.tmp;
  await fs.mkdir(tmp, { recursive: true });
  const live = path.join(tmp, `import-${process.pid}-0a1b2c3d4e5f`);
  const dead = path.join(tmp, `import-${deadPid()}-0a1b2c3d4e5f`);
  const stray = path.join(tmp, 'something-else');
  for (const d of [live, dead]) {
    await fs.mkdir(path.join(d, 'tree', 'rootfs'), { recursive: true });
    await fs.writeFile(path.join(d, 'blob'), 'partial');
  }
  await fs.writeFile(stray, 'x');
  const res = await gcImages(store, DAY, new Set(), NOW);
  t.deepEqual([...res.leftovers].sort(), [dead, stray].sort());
  t.true(existsSync(path.join(live, 'blob')));
  t.false(existsSync(dead));
  t.false(existsSync(stray));
});

test('partial downloads: a live fetch\'s stays; a dead fetch\'s stays resumable for the grace period, then goes', async (t) => {
  const store = await newStore(t);
  const tmp = store.layout.tmp;
  await fs.mkdir(tmp, { recursive: true });
  const base = `download-${createHash('sha256').update('https://example.com/x.aci').digest('hex')}`;
  const name = (pid: number, kind: string) => path.join(tmp, `${base}.0123456789ab-${pid}-4242.${kind}`);
  const dead = deadPid();
  const files = {
    liveOld: name(process.pid, 'part'),
    deadRecent: name(dead, 'part'), deadRecentMeta: name(dead, 'json'),
    deadOld: path.join(tmp, `${base}.0123456789ab-${dead}-1.part`), deadOldMeta: path.join(tmp, `${base}.0123456789ab-${dead}-1.json`),
  };
  for (const f of Object.values(files)) await fs.writeFile(f, 'bytes');
  const at = (f: string, ago: number) => fs.utimes(f, new Date(NOW - ago), new Date(NOW - ago));
  await at(files.liveOld, 30 * DAY);
  await at(files.deadRecent, HOUR);
  await at(files.deadRecentMeta, HOUR);
  await at(files.deadOld, 2 * DAY);
  await at(files.deadOldMeta, 2 * DAY);
  const res = await gcImages(store, DAY, new Set(), NOW);
  t.deepEqual([...res.leftovers].sort(), [files.deadOld, files.deadOldMeta].sort());
  for (const f of [files.liveOld, files.deadRecent, files.deadRecentMeta]) t.true(existsSync(f), f);
});

test('trees, layers and blobs that no record owns (a crash before the record was written) are removed', async (t) => {
  const store = await newStore(t);
  const l = store.layout;
  const kept = await addImage(store, 'a', 0);
  const orphan = imageId('e');
  await fs.mkdir(path.join(l.tree(orphan), 'rootfs'), { recursive: true });
  await fs.mkdir(path.join(l.layer(orphan), 'rootfs'), { recursive: true });
  await fs.writeFile(l.blob(orphan), 'orphan');
  // Hidden entries are other writers' temporaries (a tree being replaced, an atomic write): left alone.
  const hidden = path.join(l.trees, `.${orphan}.old-1`);
  await fs.mkdir(hidden);
  const res = await gcImages(store, DAY, new Set(), NOW);
  t.deepEqual(res.removed, []);
  t.deepEqual([...res.leftovers].sort(), [l.tree(orphan), l.layer(orphan), l.blob(orphan)].sort());
  t.deepEqual(filesOf(store, kept.id), ['record', 'blob', 'tree', 'remote']);
  t.true(existsSync(hidden));
});

test('gc of a store that does not exist yet removes nothing and creates nothing', async (t) => {
  const store = await newStore(t);
  const res = await gcImages(store, DAY, new Set(), NOW);
  t.deepEqual(res, { removed: [], leftovers: [] });
  t.false(existsSync(store.layout.root));
});

test('gc of a store with a corrupt record stops with ESTORE and removes nothing', async (t) => {
  const store = await newStore(t);
  const l = store.layout;
  await addImage(store, 'a', 30 * DAY);
  await addImage(store, 'b', 30 * DAY);
  await fs.writeFile(l.record(imageId('b')), '{ torn');
  const err = await t.throwsAsync(gcImages(store, DAY, new Set(), NOW), { instanceOf: RktError });
  t.is(err?.code, 'ESTORE');
  t.is(err?.message.startsWith(`store file ${l.record(imageId('b'))} is corrupt: `), true, err?.message);
  // Neither the old image nor the corrupt one's files were taken for garbage.
  t.deepEqual(filesOf(store, imageId('a')), ['record', 'blob', 'tree', 'remote']);
  t.deepEqual(filesOf(store, imageId('b')), ['record', 'blob', 'tree', 'remote']);
});
