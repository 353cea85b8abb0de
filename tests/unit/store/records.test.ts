/**
 * Image records on disk (src/store/records.ts): where they are written, what reading gives back, touch, listing
 * order, and that a corrupt or foreign file in the store is an ESTORE error naming it, never a silent skip.
 * Everything runs on a fresh temporary data directory; no root needed.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, promises as fs, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { StoreLayout } from '../../../src/store/layout.js';
import {
  listRecords, readRecord, readRemote, touchRecord, writeRecord, writeRemote, type ImageRecord,
} from '../../../src/store/records.js';

/** A fresh data directory, removed after the test. */
async function dataDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'rkt-records-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A well-formed Image ID made of one repeated hex digit. */
const imageId = (digit: string): string => `sha512-${digit.repeat(128)}`;

function record(id: string, over: Partial<ImageRecord> = {}): ImageRecord {
  return {
    id, name: 'example.com/app', labels: [{ name: 'version', value: '1.0' }, { name: 'os', value: 'linux' }],
    importTime: '2026-11-01T10:00:00.000Z', lastUsed: '2026-11-01T10:00:00.000Z',
    blobSize: 100, size: 2048, treeSize: 4096, compression: 'gzip', latest: false, dependencies: [],
    ...over,
  };
}

/** The ESTORE error a read threw, checked for code and exact message. */
async function storeError(t: ExecutionContext, p: Promise<unknown>, message: string): Promise<RktError> {
  const err = await t.throwsAsync(p, { instanceOf: RktError });
  t.is(err?.code, 'ESTORE');
  t.is(err?.message, message);
  t.is(err?.exitCode, 254);
  return err as RktError;
}

test('writeRecord writes cas/images/<id>.json (mode 0644, JSON) and readRecord gives the same record back', async (t) => {
  const data = await dataDir(t);
  const layout = new StoreLayout(data);
  const rec = record(imageId('a'), {
    remote: { url: 'https://example.com/app.aci', etag: '"x"', maxAge: 60, downloadTime: '2026-11-01T09:59:00.000Z' },
    dependencies: [imageId('b')],
  });
  await writeRecord(layout, rec);
  const file = path.join(data, 'cas', 'images', `${rec.id}.json`);
  t.is(layout.record(rec.id), file);
  t.is((await fs.stat(file)).mode & 0o777, 0o644);
  t.deepEqual(JSON.parse(await fs.readFile(file, 'utf8')), rec);
  t.deepEqual(await readRecord(layout, rec.id), rec);
  // Atomic writes leave no temporary beside the record.
  t.deepEqual(await fs.readdir(path.join(data, 'cas', 'images')), [`${rec.id}.json`]);
});

test('writeRecord replaces an existing record', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  await writeRecord(layout, record(imageId('a')));
  await writeRecord(layout, record(imageId('a'), { latest: true, name: 'example.com/other' }));
  const got = await readRecord(layout, imageId('a'));
  t.is(got?.name, 'example.com/other');
  t.true(got?.latest);
});

test('readRecord of an image the store does not have is undefined, also before the store exists', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  t.is(await readRecord(layout, imageId('a')), undefined);
  await writeRecord(layout, record(imageId('b')));
  t.is(await readRecord(layout, imageId('a')), undefined);
});

/** An image's blob and tree, as an import leaves them beside its record. */
async function addBlobAndTree(layout: StoreLayout, id: string): Promise<void> {
  await fs.mkdir(path.join(layout.tree(id), 'rootfs'), { recursive: true });
  await fs.mkdir(path.dirname(layout.blob(id)), { recursive: true });
  await fs.writeFile(layout.blob(id), 'blob');
}

test('touchRecord sets lastUsed to now and keeps every other field', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  const rec = record(imageId('a'));
  await writeRecord(layout, rec);
  await addBlobAndTree(layout, rec.id);
  const text = await fs.readFile(layout.record(rec.id), 'utf8');
  const before = Date.now();
  t.true(await touchRecord(layout, rec));
  const after = Date.now();
  const got = await readRecord(layout, rec.id);
  if (got === undefined) return t.fail('record gone after touch');
  const used = Date.parse(got.lastUsed);
  t.true(used >= before && used <= after, `lastUsed ${got.lastUsed}`);
  t.deepEqual({ ...got, lastUsed: rec.lastUsed }, rec);
  t.deepEqual((await listRecords(layout)).map((r) => r.lastUsed), [got.lastUsed]);
  // The touch is the record file's mtime: its text is not rewritten.
  t.is(await fs.readFile(layout.record(rec.id), 'utf8'), text);
});

test('a record written with an older lastUsed reads back with it; a rewrite after a touch keeps the later time', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  const rec = record(imageId('a'), { lastUsed: '2026-11-20T08:00:00.000Z' });
  await writeRecord(layout, rec);
  t.is((await readRecord(layout, rec.id))?.lastUsed, '2026-11-20T08:00:00.000Z');
  await addBlobAndTree(layout, rec.id);
  t.true(await touchRecord(layout, rec));
  const touched = (await readRecord(layout, rec.id))?.lastUsed ?? '';
  t.true(touched > rec.lastUsed, touched);
  const later = new Date(Date.parse(touched) + 60_000).toISOString();
  await writeRecord(layout, { ...rec, lastUsed: later });
  t.is((await readRecord(layout, rec.id))?.lastUsed, later);
});

for (const missing of ['blob', 'tree'] as const) {
  test(`touching an image whose ${missing} is gone changes nothing`, async (t) => {
    const layout = new StoreLayout(await dataDir(t));
    const rec = record(imageId('a'));
    await writeRecord(layout, rec);
    await addBlobAndTree(layout, rec.id);
    await fs.rm(missing === 'blob' ? layout.blob(rec.id) : layout.tree(rec.id), { recursive: true });
    t.false(await touchRecord(layout, rec));
    t.deepEqual(await readRecord(layout, rec.id), rec);
  });
}

test('listRecords: none before the store exists; every record, oldest import first; temporaries and other files ignored', async (t) => {
  const data = await dataDir(t);
  const layout = new StoreLayout(data);
  t.deepEqual(await listRecords(layout), []);
  await writeRecord(layout, record(imageId('c'), { importTime: '2026-11-03T00:00:00.000Z' }));
  await writeRecord(layout, record(imageId('a'), { importTime: '2026-11-02T00:00:00.000Z' }));
  await writeRecord(layout, record(imageId('b'), { importTime: '2026-11-01T00:00:00.000Z' }));
  const images = path.join(data, 'cas', 'images');
  // What an interrupted atomic write leaves, and files that are not records: none is read.
  await fs.writeFile(path.join(images, `.${imageId('d')}.json.tmp-1-abcd`), '{ torn');
  await fs.writeFile(path.join(images, `.${imageId('e')}.json`), '{ hidden');
  await fs.writeFile(path.join(images, 'README'), 'not a record');
  t.deepEqual((await listRecords(layout)).map((r) => r.id), [imageId('b'), imageId('a'), imageId('c')]);
});

test('a record that is not JSON is ESTORE "store file … is corrupt", with the fix as hint', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  await writeRecord(layout, record(imageId('a')));
  const file = layout.record(imageId('a'));
  await fs.writeFile(file, '{"id": "sha512-');
  const err = await t.throwsAsync(readRecord(layout, imageId('a')), { instanceOf: RktError });
  t.is(err?.code, 'ESTORE');
  t.true(err?.message.startsWith(`store file ${file} is corrupt: `), err?.message);
  t.is(err?.hint, 'remove it (the image is then fetched again) or run "rkt image gc"');
  t.true(err?.cause instanceof SyntaxError);
  // Listing the store does not skip it silently either.
  const listErr = await t.throwsAsync(listRecords(layout), { instanceOf: RktError });
  t.is(listErr?.code, 'ESTORE');
});

test('an empty record file is corrupt, not a missing image', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  await writeRecord(layout, record(imageId('a')));
  await fs.writeFile(layout.record(imageId('a')), '');
  const err = await t.throwsAsync(readRecord(layout, imageId('a')), { instanceOf: RktError });
  t.is(err?.code, 'ESTORE');
  t.regex(err?.message ?? '', /is corrupt: /);
});

for (const [what, value] of [
  ['null', null],
  ['an array', [1, 2]],
  ['a string', 'sha512-aaaa'],
  ['an object without a name', { id: imageId('a'), labels: [], importTime: 'x', dependencies: [] }],
  ['an object whose labels are not a list', { ...record(imageId('a')), labels: { os: 'linux' } }],
  ['an object without dependencies', { ...record(imageId('a')), dependencies: undefined }],
] as const) {
  test(`JSON that is ${what} is ESTORE "not an image record"`, async (t) => {
    const layout = new StoreLayout(await dataDir(t));
    await writeRecord(layout, record(imageId('a')));
    await fs.writeFile(layout.record(imageId('a')), JSON.stringify(value));
    await storeError(t, readRecord(layout, imageId('a')), `store file ${layout.record(imageId('a'))} is corrupt: not an image record for ${imageId('a')}`);
  });
}

test('a record filed under another image ID is corrupt', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  await writeRecord(layout, record(imageId('a')));
  await fs.copyFile(layout.record(imageId('a')), layout.record(imageId('b')));
  await storeError(t, readRecord(layout, imageId('b')), `store file ${layout.record(imageId('b'))} is corrupt: not an image record for ${imageId('b')}`);
  await t.throwsAsync(listRecords(layout), { instanceOf: RktError, message: /not an image record for sha512-b{128}$/ });
});

test('a record path that cannot be read is ESTORE "cannot read", with the errno', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  await fs.mkdir(layout.record(imageId('a')), { recursive: true });
  await storeError(t, readRecord(layout, imageId('a')), `cannot read ${layout.record(imageId('a'))}: EISDIR: illegal operation on a directory, read`);
});

test('an images path that is not a directory makes listRecords fail with ESTORE "cannot list images"', async (t) => {
  const data = await dataDir(t);
  const layout = new StoreLayout(data);
  await fs.mkdir(layout.root);
  await fs.writeFile(layout.images, 'not a directory');
  const err = await t.throwsAsync(listRecords(layout), { instanceOf: RktError });
  t.is(err?.code, 'ESTORE');
  t.true(err?.message.startsWith(`cannot list images in ${layout.images}: ENOTDIR`), err?.message);
});

test('a remote URL entry is written under the sha256 of the URL and read back; another URL reads nothing', async (t) => {
  const data = await dataDir(t);
  const layout = new StoreLayout(data);
  const url = 'https://example.com/app-1.0.aci';
  t.is(await readRemote(layout, url), undefined);
  const remote = { url, imageId: imageId('a'), etag: '"v1"', maxAge: 300, downloadTime: '2026-11-01T10:00:00.000Z' };
  await writeRemote(layout, remote);
  t.deepEqual(await fs.readdir(path.join(data, 'cas', 'remotes')), [`${createHash('sha256').update(url).digest('hex')}.json`]);
  t.deepEqual(await readRemote(layout, url), remote);
  t.is(await readRemote(layout, 'https://example.com/app-2.0.aci'), undefined);
});

test('a remote entry that names another URL (a hash collision or a moved file) is not used', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  const url = 'https://example.com/app.aci';
  await writeRemote(layout, { url: 'https://example.com/other.aci', imageId: imageId('a'), downloadTime: '2026-11-01T10:00:00.000Z' });
  await fs.rename(layout.remote('https://example.com/other.aci'), layout.remote(url));
  t.is(await readRemote(layout, url), undefined);
});

test('a remote entry that is not JSON is ESTORE "corrupt"', async (t) => {
  const layout = new StoreLayout(await dataDir(t));
  const url = 'https://example.com/app.aci';
  await writeRemote(layout, { url, imageId: imageId('a'), downloadTime: '2026-11-01T10:00:00.000Z' });
  await fs.writeFile(layout.remote(url), 'nope');
  const err = await t.throwsAsync(readRemote(layout, url), { instanceOf: RktError });
  t.is(err?.code, 'ESTORE');
  t.true(err?.message.startsWith(`store file ${layout.remote(url)} is corrupt: `), err?.message);
});

/** Why a setgid directory cannot be made under the temporary directory, if it cannot. */
function setgidSkipReason(): string | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), 'rkt-records-setgid-'));
  try {
    chmodSync(dir, 0o2775);
    return (statSync(dir).mode & 0o2000) === 0 ? `the filesystem of ${tmpdir()} does not keep the setgid bit on a directory` : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const setgidSkip = setgidSkipReason();
(setgidSkip === undefined ? test : test.skip)(`in a store set up for a group (setgid data directory), the images directory is created 2775${setgidSkip === undefined ? '' : ` (skipped: ${setgidSkip})`}`, async (t) => {
  const data = await dataDir(t);
  await fs.chmod(data, 0o2775);
  const layout = new StoreLayout(data);
  await writeRecord(layout, record(imageId('a')));
  t.is((await fs.stat(layout.root)).mode & 0o7777, 0o2775);
  t.is((await fs.stat(layout.images)).mode & 0o7777, 0o2775);
});

test('in a store not set up for a group, the images directory keeps the umask', async (t) => {
  const data = await dataDir(t);
  await fs.chmod(data, 0o755);
  const layout = new StoreLayout(data);
  await writeRecord(layout, record(imageId('a')));
  t.is((await fs.stat(layout.images)).mode & 0o2000, 0);
});

// An image removed between its resolution and the touch (`rkt image rm` or `rkt image gc` while `rkt prepare` or
// `rkt run` starts) must not get its record back (it was rewritten unconditionally): it would be listed by `rkt
// image list` without blob or tree, failing every use. Checked with the blob and tree still there (removeImage
// removes the record first) and with everything gone.
for (const rest of ['still there', 'gone too'] as const) {
  test(`touching an image that was removed meanwhile does not bring its record back (blob and tree ${rest})`, async (t) => {
    const layout = new StoreLayout(await dataDir(t));
    const rec = record(imageId('a'));
    await writeRecord(layout, rec);
    await addBlobAndTree(layout, rec.id);
    await fs.rm(layout.record(rec.id)); // what removeImage does first
    if (rest === 'gone too') for (const p of [layout.blob(rec.id), layout.tree(rec.id)]) await fs.rm(p, { recursive: true });
    t.false(await touchRecord(layout, rec));
    t.is(await readRecord(layout, rec.id), undefined);
    t.deepEqual(await listRecords(layout), []);
    t.deepEqual(await fs.readdir(layout.images), []);
  });
}
