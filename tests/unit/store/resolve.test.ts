/**
 * Naming images in the store (src/store/resolve.ts): a full Image ID, a unique prefix of one, a name with
 * labels; an ambiguous prefix and an unknown image are the errors users see. Records are written straight
 * into a temporary store: no images need to be fetched.
 */
import test, { type ExecutionContext } from 'ava';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { StoreLayout } from '../../../src/store/layout.js';
import { writeRecord, type ImageRecord } from '../../../src/store/records.js';
import { findImages, labelsMatch, looksLikeImageId, resolveImage, shortId } from '../../../src/store/resolve.js';

/** Image IDs: A and B share their first 20 hex digits, C differs from the first. */
const A = `sha512-${'0123456789abcdef0123'}${'a'.repeat(108)}`;
const B = `sha512-${'0123456789abcdef0123'}${'b'.repeat(108)}`;
const C = `sha512-${'fedcba9876543210'}${'c'.repeat(112)}`;
const D = `sha512-${'d'.repeat(128)}`;

function record(id: string, name: string, labels: Record<string, string>, importTime: string): ImageRecord {
  return {
    id, name, labels: Object.entries(labels).map(([n, value]) => ({ name: n, value })), importTime, lastUsed: importTime,
    blobSize: 1, size: 1024, treeSize: 0, compression: 'none', latest: false, dependencies: [],
  };
}

/** A store holding A, B (two versions of example.com/app), C (example.com/app 1.0 for arm64) and D (another name). */
async function store(t: ExecutionContext): Promise<StoreLayout> {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'rkt-resolve-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const layout = new StoreLayout(dir);
  await writeRecord(layout, record(A, 'example.com/app', { version: '1.0', os: 'linux', arch: 'amd64' }, '2026-11-01T00:00:00.000Z'));
  await writeRecord(layout, record(B, 'example.com/app', { version: '2.0', os: 'linux', arch: 'amd64' }, '2026-11-03T00:00:00.000Z'));
  await writeRecord(layout, record(C, 'example.com/app', { version: '1.0', os: 'linux', arch: 'arm64' }, '2026-11-02T00:00:00.000Z'));
  await writeRecord(layout, record(D, 'example.com/db', { version: '1.0' }, '2026-11-04T00:00:00.000Z'));
  return layout;
}

async function resolved(layout: StoreLayout, arg: string): Promise<string> {
  return (await resolveImage(layout, arg)).id;
}

async function rejected(t: ExecutionContext, layout: StoreLayout, arg: string): Promise<RktError> {
  const err = await t.throwsAsync(resolveImage(layout, arg), { instanceOf: RktError });
  t.is(err?.exitCode, 254);
  return err as RktError;
}

test('shortId is "sha512-" and the first 32 hex digits, as rkt prints it', (t) => {
  t.is(shortId(A), A.slice(0, 39));
  t.is(shortId(A).length, 'sha512-'.length + 32);
  t.is(shortId('sha512-abc'), 'sha512-abc');
});

test('looksLikeImageId: "sha512-" and 12 to 128 hex digits, either case; anything else is a name', (t) => {
  t.true(looksLikeImageId(A));
  t.true(looksLikeImageId(shortId(A)));
  t.true(looksLikeImageId('sha512-0123456789ab'));
  t.true(looksLikeImageId('sha512-0123456789AB'));
  t.false(looksLikeImageId('sha512-0123456789a'), '11 hex digits');
  t.false(looksLikeImageId(`${A}0`), '129 hex digits');
  t.false(looksLikeImageId('sha256-0123456789abcdef'));
  t.false(looksLikeImageId('sha512-0123456789xy'));
  t.false(looksLikeImageId('example.com/app'));
});

test('labelsMatch: every wanted label must be there with the same value; extra labels do not matter', (t) => {
  const have = [{ name: 'version', value: '1.0' }, { name: 'os', value: 'linux' }];
  t.true(labelsMatch(have, new Map()));
  t.true(labelsMatch(have, new Map([['version', '1.0']])));
  t.true(labelsMatch(have, new Map([['version', '1.0'], ['os', 'linux']])));
  t.false(labelsMatch(have, new Map([['version', '1.1']])));
  t.false(labelsMatch(have, new Map([['arch', 'amd64']])));
  t.false(labelsMatch([], new Map([['os', 'linux']])));
});

test('a full Image ID resolves to its image, in either case', async (t) => {
  const layout = await store(t);
  t.is(await resolved(layout, A), A);
  t.is(await resolved(layout, C), C);
  t.is(await resolved(layout, A.toUpperCase().replace('SHA512-', 'sha512-')), A);
});

test('a unique prefix resolves: the short form rkt prints, a 64-digit one, and as few as 12 hex digits', async (t) => {
  const layout = await store(t);
  t.is(await resolved(layout, shortId(A)), A);
  t.is(await resolved(layout, shortId(B)), B);
  t.is(await resolved(layout, A.slice(0, 'sha512-'.length + 64)), A);
  t.is(await resolved(layout, C.slice(0, 'sha512-'.length + 12)), C);
  t.is(await resolved(layout, 'sha512-0123456789abcdef0123a'), A, 'the first digit after the shared 20');
  t.is(await resolved(layout, 'sha512-FEDCBA987654'), C);
});

test('an ambiguous prefix is EAMBIGUOUS listing every candidate by its short ID, with a hint', async (t) => {
  const layout = await store(t);
  const err = await rejected(t, layout, 'sha512-0123456789abcdef');
  t.is(err.code, 'EAMBIGUOUS');
  t.is(err.message, `image ID prefix "sha512-0123456789abcdef" is ambiguous: it matches ${shortId(A)}, ${shortId(B)}`);
  t.is(err.hint, 'give more hex digits');
  t.deepEqual((await findImages(layout, 'sha512-0123456789abcdef0123')).map((r) => r.id).sort(), [A, B]);
});

test('an unknown Image ID or prefix is ENOIMAGE pointing at "rkt image list"', async (t) => {
  const layout = await store(t);
  for (const arg of [`sha512-${'e'.repeat(128)}`, 'sha512-eeeeeeeeeeee', `${A.slice(0, -1)}f`]) {
    const err = await rejected(t, layout, arg);
    t.is(err.code, 'ENOIMAGE');
    t.is(err.message, `no image "${arg}" in the store`);
    t.is(err.hint, 'see "rkt image list"');
    t.deepEqual(await findImages(layout, arg), []);
  }
});

test('a name resolves to the newest import of that name; labels narrow it', async (t) => {
  const layout = await store(t);
  t.is(await resolved(layout, 'example.com/app'), B, 'B was imported last');
  t.deepEqual((await findImages(layout, 'example.com/app')).map((r) => r.id), [B, C, A], 'newest import first');
  t.is(await resolved(layout, 'example.com/app:1.0'), C, 'C is the newer of the two 1.0 imports');
  t.is(await resolved(layout, 'example.com/app:1.0,arch=amd64'), A);
  t.is(await resolved(layout, 'example.com/app,version=1.0,arch=amd64'), A);
  t.is(await resolved(layout, 'example.com/app,arch=arm64'), C);
  t.is(await resolved(layout, 'example.com/db'), D);
});

test('a name is never taken as a prefix of another name', async (t) => {
  const layout = await store(t);
  const err = await rejected(t, layout, 'example.com/ap');
  t.is(err.code, 'ENOIMAGE');
});

test('an unknown name, or a known name without the labels asked for, is ENOIMAGE with "rkt fetch" as the fix', async (t) => {
  const layout = await store(t);
  for (const arg of ['example.com/nope', 'example.com/app:3.0', 'example.com/app,os=freebsd', 'example.com/db:1.0,arch=arm64']) {
    const err = await rejected(t, layout, arg);
    t.is(err.code, 'ENOIMAGE');
    t.is(err.message, `no image "${arg}" in the store`);
    t.is(err.hint, `fetch it first: rkt fetch ${arg}`);
  }
});

test('an invalid image reference is ENAME naming the bad part, before the store is read', async (t) => {
  const layout = new StoreLayout(path.join(tmpdir(), 'rkt-resolve-no-such-dir'));
  const err = await t.throwsAsync(resolveImage(layout, 'Example.com/App'), { instanceOf: RktError });
  t.is(err?.code, 'ENAME');
  t.is(err?.message, 'invalid image reference "Example.com/App": image name "Example.com/App" is not a valid AC Identifier (lowercase letters and digits joined by -._~/)');
  const dup = await t.throwsAsync(resolveImage(layout, 'example.com/app:1.0,version=2.0'), { instanceOf: RktError });
  t.is(dup?.message, 'invalid image reference "example.com/app:1.0,version=2.0": duplicate label "version"');
});

test('an empty store resolves nothing', async (t) => {
  const dir = await fs.mkdtemp(path.join(tmpdir(), 'rkt-resolve-empty-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const layout = new StoreLayout(dir);
  t.deepEqual(await findImages(layout, 'example.com/app'), []);
  t.deepEqual(await findImages(layout, shortId(A)), []);
  t.is((await rejected(t, layout, A)).code, 'ENOIMAGE');
});

test('a corrupt record stops name and prefix lookups with ESTORE naming its file; a full ID reads only its own record', async (t) => {
  const layout = await store(t);
  await fs.writeFile(layout.record(D), '{ torn');
  for (const arg of ['example.com/app', shortId(A)]) {
    const err = await t.throwsAsync(resolveImage(layout, arg), { instanceOf: RktError });
    t.is(err?.code, 'ESTORE');
    t.true(err?.message.startsWith(`store file ${layout.record(D)} is corrupt: `), err?.message);
  }
  t.is(await resolved(layout, A), A);
});
