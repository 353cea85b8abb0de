/**
 * Fetching images from an https URL into a store in a temporary directory (src/fetch/url.ts, download.ts,
 * partial.ts), against a site on 127.0.0.1 started here: the cache record under the pull policies (max-age,
 * ETag and 304), a download broken off and resumed with Range, a truncated body refused. Signatures are not
 * checked here (--insecure-options=image): tests/functional/fetch-remote.test.ts covers them.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { RktError } from '../../../src/common/errors.js';
import type { GlobalOptions } from '../../../src/common/options.js';
import { fetchImage, type PullPolicy } from '../../../src/fetch/fetch.js';
import { listRecords, readRemote } from '../../../src/store/records.js';
import { Store } from '../../../src/store/store.js';
import { buildImage, startSite, type BuiltImage, type Site } from '../../lib/fetch-fixtures.js';
import { makeTestCa } from '../../lib/https.js';
import { REPO } from '../../lib/rkt.js';

/** Why the tools these tests need (openssl for the certificates, GNU tar for the store) cannot run, if so. */
function missingTool(): string | undefined {
  for (const [tool, arg] of [['openssl', 'version'], ['tar', '--version']] as const) {
    try {
      execFileSync(tool, [arg], { stdio: 'ignore' });
    } catch (err) {
      return `${tool} cannot be run (${(err as Error).message})`;
    }
  }
  return undefined;
}
const skip = missingTool();
const t0 = skip === undefined ? test.serial : test.serial.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);

let dir = '';
let site: Site;
let small: BuiltImage;
let big: BuiltImage;

test.before(async () => {
  if (skip !== undefined) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'rkt-url-fetch-test-'));
  const ca = makeTestCa(path.join(dir, 'ca'));
  process.env['SSL_CERT_FILE'] = ca.caCert;
  site = await startSite({ cert: ca.serverCert, key: ca.serverKey }, {});
  small = await buildImage(dir, 'example.com/small');
  big = await buildImage(dir, 'example.com/big', { randomBytes: 512 << 10 });
});

test.after.always(async () => {
  await site?.close();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

let stores = 0;
/** A fresh data directory with its store, and the options a fetch into it takes. */
function freshStore(): { data: string; store: Store; globals: GlobalOptions } {
  const data = path.join(dir, `data-${++stores}`);
  const globals: GlobalOptions = {
    dir: data, systemConfig: path.join(dir, 'none'), localConfig: path.join(dir, 'none'), userConfig: undefined,
    insecure: new Set(['image']), trustKeysFromHttps: false, debug: false,
  };
  return { data, store: new Store(data), globals };
}

/** The requests the site answered for `p`. */
const asked = (p: string) => site.log.filter((a) => a.path === p);

const fetchAs = (s: ReturnType<typeof freshStore>, pullPolicy: PullPolicy, url: string) =>
  fetchImage({ store: s.store, globals: s.globals, pullPolicy }, url);

t0(title('max-age: under update a download younger than the max-age is used without asking; under new any is'), async (t) => {
  site.set('/fresh.aci', { body: readFileSync(small.file), cacheControl: 'public, max-age=3600' });
  site.set('/plain.aci', { body: readFileSync(small.file) });
  const s = freshStore();
  const url = `${site.url}/fresh.aci`;
  t.is((await fetchAs(s, 'update', url)).id, small.id);
  t.is((await readRemote(s.store.layout, url))?.maxAge, 3600);
  t.is((await fetchAs(s, 'update', url)).id, small.id);
  t.is(asked('/fresh.aci').length, 1, 'the second fetch asked nothing');

  const other = `${site.url}/plain.aci`;
  t.is((await fetchAs(s, 'new', other)).id, small.id);
  t.is((await fetchAs(s, 'new', other)).id, small.id);
  t.is(asked('/plain.aci').length, 1, 'new: the store answers');
  t.is((await fetchAs(s, 'update', other)).id, small.id);
  t.is(asked('/plain.aci').length, 2, 'update without a max-age: asked again');
});

t0(title('ETag: under update the server is asked with If-None-Match, and its 304 keeps the stored image'), async (t) => {
  site.set('/etag.aci', { body: readFileSync(small.file), etag: '"small-1"' });
  const s = freshStore();
  const url = `${site.url}/etag.aci`;
  const first = await fetchAs(s, 'update', url);
  const second = await fetchAs(s, 'update', url);
  t.is(second.id, first.id);
  const [a, b] = asked('/etag.aci');
  t.is(a?.headers['if-none-match'], undefined);
  t.is(a?.status, 200);
  t.is(b?.headers['if-none-match'], '"small-1"');
  t.is(b?.status, 304);
  t.is(b?.sent, 0);
  t.deepEqual((await listRecords(s.store.layout)).map((r) => r.id), [small.id]);
  t.deepEqual(partials(s.data), []);

  // A new ETag: the image is downloaded again.
  site.set('/etag.aci', { body: readFileSync(big.file), etag: '"big-1"' });
  t.is((await fetchAs(s, 'update', url)).id, big.id);
  t.is(asked('/etag.aci').at(-1)?.status, 200);
});

/** Partial downloads left in the store's tmp directory. */
function partials(data: string): string[] {
  try {
    return readdirSync(path.join(data, 'cas', 'tmp')).filter((n) => n.startsWith('download-'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Run one fetch in a child process, as a separate rkt command would; resolves with its stderr and status. */
function fetchInChild(data: string, url: string): Promise<{ code: number | null; stderr: string }> {
  const script = `
    import { fetchImage } from ${JSON.stringify(pathToFileURL(path.join(REPO, 'src/fetch/fetch.ts')).href)};
    import { Store } from ${JSON.stringify(pathToFileURL(path.join(REPO, 'src/store/store.ts')).href)};
    const [data, url] = process.argv.slice(1);
    const globals = { dir: data, systemConfig: '/nonexistent', localConfig: '/nonexistent', userConfig: undefined,
      insecure: new Set(['image']), trustKeysFromHttps: false, debug: false };
    try {
      await fetchImage({ store: new Store(data), globals, pullPolicy: 'update' }, url);
    } catch (err) {
      process.stderr.write(err.message + '\\n' + (err.hint ?? '') + '\\n');
      process.exitCode = 254;
    }`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, data, url], { cwd: REPO, env: process.env },
      (err, _stdout, stderr) => resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stderr }));
  });
}

t0(title('a download broken off is resumed by the next fetch with Range and If-Range, from where it stopped'), async (t) => {
  const body = readFileSync(big.file);
  const cutAt = 200 << 10;
  site.set('/big.aci', { body, etag: '"big-1"', ranges: true, cut: { afterBytes: cutAt, times: 1 } });
  const s = freshStore();
  const url = `${site.url}/big.aci`;
  const broken = await fetchInChild(s.data, url);
  t.is(broken.code, 254, broken.stderr);
  t.regex(broken.stderr, /run the same command again to resume the download/);
  t.is(partials(s.data).length, 2, 'the partial and its record are left');

  const rec = await fetchAs(s, 'update', url);
  t.is(rec.id, big.id);
  const [first, second] = asked('/big.aci');
  t.is(first?.sent, cutAt);
  const from = Number(/^bytes=(\d+)-$/.exec(second?.headers.range ?? '')?.[1]);
  t.true(from > 0 && from <= cutAt, `resumed from ${second?.headers.range}`);
  t.is(second?.headers['if-range'], '"big-1"');
  t.is(second?.status, 206);
  t.is(second?.sent, body.length - from, 'only the rest was sent');
  t.deepEqual(partials(s.data), [], 'a finished download leaves no partial');
});

t0(title('a resume is not attempted when the image changed meanwhile (If-Range fails): it is downloaded whole'), async (t) => {
  site.set('/changing.aci', { body: readFileSync(big.file), etag: '"big-1"', ranges: true, cut: { afterBytes: 100 << 10, times: 1 } });
  const s = freshStore();
  const url = `${site.url}/changing.aci`;
  t.is((await fetchInChild(s.data, url)).code, 254);
  site.set('/changing.aci', { body: readFileSync(small.file), etag: '"small-1"', ranges: true });
  t.is((await fetchAs(s, 'update', url)).id, small.id);
  const last = asked('/changing.aci').at(-1);
  t.is(last?.headers['if-range'], '"big-1"');
  t.is(last?.status, 200, 'the server sent the whole new image');
});

async function refused(t: ExecutionContext, p: Promise<unknown>): Promise<RktError> {
  const err = await t.throwsAsync(p, { instanceOf: RktError });
  return err as RktError;
}

t0(title('a truncated body is refused: the fetch fails, no image is stored'), async (t) => {
  // No validator: the bytes cannot be resumed, so no resume hint either.
  site.set('/cut.aci', { body: readFileSync(big.file), cut: { afterBytes: 64 << 10, times: 1000 } });
  const s = freshStore();
  const err = await refused(t, fetchAs(s, 'update', `${site.url}/cut.aci`));
  t.is(err.code, 'EHTTP');
  t.regex(err.message, new RegExp(`cannot fetch ${site.url}/cut.aci: `));
  t.is(err.hint, undefined);
  t.deepEqual(await listRecords(s.store.layout), []);
  t.is(await readRemote(s.store.layout, `${site.url}/cut.aci`), undefined);
});
