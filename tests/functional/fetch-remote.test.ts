/**
 * `rkt fetch` end to end as users run it (the built CLI, a temporary --dir and --local-config) against real HTTPS
 * servers on loopback: a CA made for the test (trusted through NODE_EXTRA_CA_CERTS in rkt's environment), gpg keys
 * and signatures made at test time, trust given by key files in the local config dir. Names (example.com/app) are
 * discovered inside a network namespace where they resolve to a test server (tests/lib/netns.ts).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Answered, buildImage, type BuiltImage, type Resource, Signer, type SigningKey, type Site, startSite, trustKey } from '../lib/fetch-fixtures.js';
import { makeTestCa, type TestCa } from '../lib/https.js';
import { netnsSkipReason, runInNetns, type LoggedRequest, type ServerRoute } from '../lib/netns.js';
import { functionalSkipReason, RKT, rkt, runCmd, tempDir, type Result } from '../lib/rkt.js';
import { until } from '../lib/wait.js';

const skip = functionalSkipReason() ?? (existsSync(RKT) ? undefined : `the CLI is not built (${RKT})`);
const t0 = skip === undefined ? test : test.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);
const netnsSkip = skip ?? netnsSkipReason();
const tn = netnsSkip === undefined ? test : test.skip;
const netnsTitle = (s: string) => (netnsSkip === undefined ? s : `${s} (skipped: ${netnsSkip})`);
const scriptSkip = skip ?? (existsSync('/usr/bin/script') ? undefined : 'needs script(1) from util-linux');

const MiB = 1 << 20;

interface Signed extends BuiltImage {
  readonly bytes: Buffer;
  /** Armored signature by the trusted key. */
  readonly sig: string;
}

let dir = '';
let ca: TestCa;
let otherCa: TestCa;
let signer: Signer | undefined;
let trusted: SigningKey;
let stranger: SigningKey;
/** example.com/app, version 1.0. */
let app: Signed;
/** example.com/app, version 2.0. */
let app2: Signed;
/** example.com/team/app, version 1.0. */
let team: Signed;
/** example.com/big: 8 MiB of random bytes, uncompressed. */
let big: Signed;
let compressed: Record<'gzip' | 'xz' | 'bzip2', Signed>;
let cleanup: () => void = () => undefined;
/** rkt's environment: trusts the test CA, and nothing set by the caller. */
let rktEnv: NodeJS.ProcessEnv = {};

test.before(async () => {
  if (skip !== undefined) return;
  const tmp = tempDir('rkt-fetch-remote-');
  cleanup = tmp.cleanup;
  dir = tmp.dir;
  for (const d of ['ca', 'other-ca', 'images']) mkdirSync(path.join(dir, d));
  ca = makeTestCa(path.join(dir, 'ca'));
  otherCa = makeTestCa(path.join(dir, 'other-ca'));
  signer = new Signer(dir);
  trusted = signer.makeKey('Trusted Signer <trusted@example.com>');
  stranger = signer.makeKey('Stranger <stranger@example.com>');
  const s = signer;
  const signed = async (name: string, opts: Parameters<typeof buildImage>[2]): Promise<Signed> => {
    const img = await buildImage(path.join(dir, 'images'), name, opts);
    return { ...img, bytes: readFileSync(img.file), sig: s.sign(img.file, trusted) };
  };
  app = await signed('example.com/app', { labels: { version: '1.0' } });
  app2 = await signed('example.com/app', { labels: { version: '2.0' } });
  team = await signed('example.com/team/app', { labels: { version: '1.0' } });
  big = await signed('example.com/big', { labels: { version: '1.0' }, randomBytes: 8 * MiB });
  compressed = {
    gzip: await signed('example.com/app-gzip', { compression: 'gzip' }),
    xz: await signed('example.com/app-xz', { compression: 'xz' }),
    bzip2: await signed('example.com/app-bzip2', { compression: 'bzip2' }),
  };
  rktEnv = { ...process.env, NODE_EXTRA_CA_CERTS: ca.caCert };
  delete rktEnv['SSL_CERT_FILE'];
});

test.after.always(() => {
  signer?.close();
  cleanup();
});

interface Case {
  readonly data: string;
  readonly local: string;
  /** The built rkt with this case's --dir and config dirs. */
  run(args: readonly string[]): Promise<Result>;
  /** Global flags of this case, for commands run elsewhere (a netns). */
  readonly flags: readonly string[];
  /** Image IDs with a record in the store. */
  stored(): string[];
  /** What is left in the store's tmp dir. */
  leftovers(): string[];
}

let cases = 0;
/** A fresh data dir and local config dir; the trusted key is trusted for `trustPrefix` unless it is null. */
function setup(trustPrefix: string | null = 'example.com'): Case {
  const root = path.join(dir, `case-${++cases}`);
  const data = path.join(root, 'data');
  const local = path.join(root, 'local');
  mkdirSync(local, { recursive: true });
  if (trustPrefix !== null) trustKey(local, trustPrefix, trusted);
  const flags = [`--dir=${data}`, `--local-config=${local}`, `--system-config=${path.join(root, 'no-system-config')}`];
  const list = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  return {
    data, local, flags,
    run: (args) => rkt([...flags, ...args], { env: rktEnv, timeoutMs: 90_000 }),
    stored: () => list(path.join(data, 'cas/images')).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length)),
    leftovers: () => list(path.join(data, 'cas/tmp')),
  };
}

/** A site serving `image` and its signature at /app.aci(.asc), with `extra` applied to the image resource. */
function serve(image: Signed, extra: Omit<Resource, 'body'> = {}, tls: TestCa = ca): Promise<Site> {
  return startSite({ cert: tls.serverCert, key: tls.serverKey }, {
    '/app.aci': { body: image.bytes, ...extra },
    '/app.aci.asc': { body: image.sig },
  });
}

/** Start a site for the test and close it at the end. */
async function site(t: ExecutionContext, ...args: Parameters<typeof serve>): Promise<Site> {
  const s = await serve(...args);
  t.teardown(() => s.close());
  return s;
}

const show = (r: Result) => `exit ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const paths = (s: Site) => s.log.map((a) => `${a.path} ${a.status}`);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Assert a failure as the user sees it: exit 254, exactly `stderr`, nothing on stdout, nothing stored. */
function refused(t: ExecutionContext, c: Case, r: Result, stderr: string | RegExp): void {
  t.is(r.exitCode, 254, show(r));
  if (typeof stderr === 'string') t.is(r.stderr, stderr);
  else t.regex(r.stderr, stderr);
  t.is(r.stdout, '');
  t.deepEqual(c.stored(), [], 'nothing stored');
  t.deepEqual(c.leftovers().filter((n) => !n.startsWith('download-')), [], 'no staging leftovers');
}

// ---------------------------------------------------------------------------------------------------------------
// Signatures

t0(title('a signed image over https: prints its Image ID, stores it, says nothing on stderr off a terminal'), async (t) => {
  const c = setup('example.com/app');
  const s = await site(t, app);
  const r = await c.run(['fetch', `${s.url}/app.aci`]);
  t.is(r.exitCode, 0, show(r));
  t.is(r.stdout, `${app.shortId}\n`);
  t.is(r.stderr, '');
  t.deepEqual(c.stored(), [app.id]);
  t.deepEqual(c.leftovers(), [], 'the download is removed once imported');
  t.deepEqual(paths(s), ['/app.aci 200', '/app.aci.asc 200']);
  const list = await c.run(['image', 'list', '--no-legend', '--full', '--fields=id,name']);
  t.is(list.stdout, `${app.id}\texample.com/app:1.0\n`);
  t.is(sha256(readFileSync(path.join(c.data, 'cas/blobs', app.id))), sha256(app.bytes), 'the blob is the image as served');
});

t0(title('without a trusted key: "no trusted key for prefix", exit 254, nothing stored'), async (t) => {
  const c = setup(null);
  const s = await site(t, app);
  const r = await c.run(['fetch', `${s.url}/app.aci`]);
  refused(t, c, r, "rkt: signature verification failed for example.com/app: no trusted key for prefix example.com/app (use 'rkt trust --prefix example.com/app' or --insecure-options=image)\n");
  t.deepEqual(c.leftovers(), []);
});

t0(title('a tampered image (the signature is of other bytes) is rejected, nothing stored'), async (t) => {
  const c = setup();
  const s = await site(t, { ...app2, sig: app.sig });
  const r = await c.run(['fetch', `${s.url}/app.aci`]);
  refused(t, c, r, 'rkt: signature verification failed for example.com/app: bad signature (the image does not match it)\n');
  t.deepEqual(c.leftovers(), [], 'refused bytes are not kept for a resume');
});

t0(title('an image signed by a key not trusted for its name is rejected'), async (t) => {
  const c = setup();
  trustKey(c.local, 'example.org', stranger); // trusted, but for another prefix
  const s = await site(t, { ...app, sig: signer?.sign(app.file, stranger) ?? '' });
  const r = await c.run(['fetch', `${s.url}/app.aci`]);
  refused(t, c, r, `rkt: signature verification failed for example.com/app: signed by an untrusted key ${stranger.keyId}\n`);
});

t0(title('no signature served (404): rejected with the fix; --insecure-options=image skips the check and asks for none'), async (t) => {
  const c = setup(null);
  const s = await site(t, app);
  s.set('/app.aci.asc', undefined);
  const url = `${s.url}/app.aci`;
  const r = await c.run(['fetch', url]);
  refused(t, c, r, `rkt: signature verification failed for example.com/app: no signature found for ${url}\n`
    + 'rkt: provide the .asc signature beside the image, or skip the check with --insecure-options=image\n');
  const before = s.log.length;
  const insecure = await c.run(['--insecure-options=image', 'fetch', url]);
  t.is(insecure.exitCode, 0, show(insecure));
  t.is(insecure.stdout, `${app.shortId}\n`);
  t.deepEqual(paths(s).slice(before), ['/app.aci 200'], 'no signature is asked for');
  t.deepEqual(c.stored(), [app.id]);
});

// ---------------------------------------------------------------------------------------------------------------
// Discovery by name, in a netns where example.com and friends are the test server

const TEMPLATE = 'https://storage.example.com/images/{os}/{arch}/{name}-{version}.{ext}';
const page = (prefix: string, template: string) =>
  `<!DOCTYPE html><html><head><meta name="ac-discovery" content="${prefix} ${template}"></head><body></body></html>`;

/** Put `image` and its signature at `file` under the static root (`ROOT/HOST/PATH`). */
function publish(root: string, file: string, image: Signed): void {
  mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  writeFileSync(path.join(root, file), image.bytes);
  writeFileSync(path.join(root, `${file}.asc`), image.sig);
}

// Runs each rkt command line in turn inside the namespace and prints the results as JSON.
const DRIVER = `
import { spawnSync } from 'node:child_process';
const out = [];
for (const args of JSON.parse(process.argv[2])) {
  const r = spawnSync(process.execPath, [${JSON.stringify(RKT)}, ...args], { encoding: 'utf8', timeout: 60000 });
  out.push({ exitCode: r.status ?? -1, stdout: r.stdout, stderr: r.stderr });
}
process.stdout.write(JSON.stringify(out));
`;

/** Run the rkt command lines inside a netns whose server has `routes` and the static `root`. */
async function discoveryRun(commands: readonly (readonly string[])[], routes: readonly ServerRoute[], root: string): Promise<{ results: Result[]; requests: string[] }> {
  const driver = path.join(dir, 'netns-driver.mjs');
  if (!existsSync(driver)) writeFileSync(driver, DRIVER);
  const run = await runInNetns({
    command: [process.execPath, driver, JSON.stringify(commands)],
    server: { cert: ca.serverCert, key: ca.serverKey, root, routes },
    env: rktEnv,
    // Each command is bounded at 60 s inside (its result then shows which one hung): the whole run only after.
    timeoutMs: commands.length * 60_000 + 30_000,
  });
  if (run.exitCode !== 0) throw new Error(`driver failed (${run.exitCode}): ${run.stderr}\n${run.serverLog}`);
  const requests = run.requests.map((r: LoggedRequest) => `${r.scheme} ${r.host}${r.url}`);
  return { results: JSON.parse(run.stdout) as Result[], requests };
}

const storage = (name: string, version: string, ext = 'aci') => `storage.example.com/images/linux/amd64/${name}-${version}.${ext}`;

tn(netnsTitle('by name: the ac-discovery template ({name},{version},{os},{arch},{ext}) gives the image and its signature; the pull policies use the store'), async (t) => {
  const c = setup();
  const root = path.join(c.data, '..', 'www');
  publish(root, storage('example.com/app', '1.0'), app);
  const { results, requests } = await discoveryRun([
    [...c.flags, 'fetch', 'example.com/app:1.0'],
    [...c.flags, 'fetch', '--pull-policy=new', 'example.com/app:1.0'],
    [...c.flags, 'fetch', '--pull-policy=never', 'example.com/app,version=1.0'],
    [...c.flags, 'fetch', '--pull-policy=never', 'example.com/app:2.0'],
  ], [{ host: 'example.com', path: '/app', query: { 'ac-discovery': '1' }, body: page('example.com/app', TEMPLATE) }], root);
  const [fetched, fromStoreNew, fromStoreNever, missing] = results;
  t.is(fetched?.exitCode, 0, JSON.stringify(fetched));
  t.is(fetched?.stdout, `${app.shortId}\n`);
  t.is(fetched?.stderr, '');
  t.is(fromStoreNew?.stdout, `${app.shortId}\n`);
  t.is(fromStoreNever?.stdout, `${app.shortId}\n`);
  t.is(missing?.exitCode, 254);
  t.is(missing?.stderr, 'rkt: no image "example.com/app:2.0" in the store and --pull-policy=never\nrkt: fetch it first: rkt fetch example.com/app:2.0\n');
  t.deepEqual(requests, [
    'https example.com/app?ac-discovery=1',
    `https ${storage('example.com/app', '1.0')}`,
    `https ${storage('example.com/app', '1.0', 'aci.asc')}`,
  ], 'new and never ask nothing');
  t.deepEqual(c.stored(), [app.id]);
});

tn(netnsTitle('by name: an image whose labels or name differ from the request is refused, naming the mismatch'), async (t) => {
  const c = setup();
  const root = path.join(c.data, '..', 'www');
  publish(root, storage('example.com/app', '1.0'), app2); // serves version 2.0 for 1.0
  publish(root, storage('example.com/impostor', '1.0'), app); // serves example.com/app
  const routes: ServerRoute[] = [{ host: 'example.com', path: '/*', query: { 'ac-discovery': '1' }, body: page('example.com', TEMPLATE) }];
  const { results } = await discoveryRun([
    [...c.flags, 'fetch', 'example.com/app:1.0'],
    [...c.flags, 'fetch', 'example.com/impostor:1.0'],
  ], routes, root);
  const [version, name] = results;
  t.is(version?.exitCode, 254);
  t.is(version?.stderr, `rkt: image fetched from https://${storage('example.com/app', '1.0')} is not example.com/app: label version is "2.0", want "1.0"\n`);
  t.is(name?.exitCode, 254);
  t.is(name?.stderr, `rkt: image fetched from https://${storage('example.com/impostor', '1.0')} is not example.com/impostor: its name is "example.com/app"\n`);
  t.deepEqual(c.stored(), []);
  t.deepEqual(c.leftovers(), []);
});

tn(netnsTitle('by name: discovery walks up the path (example.com/team/app found on example.com\'s page)'), async (t) => {
  const c = setup();
  const root = path.join(c.data, '..', 'www');
  publish(root, storage('example.com/team/app', '1.0'), team);
  const { results, requests } = await discoveryRun([[...c.flags, 'fetch', 'example.com/team/app:1.0']],
    [{ host: 'example.com', path: '/', query: { 'ac-discovery': '1' }, body: page('example.com', TEMPLATE) }], root);
  t.is(results[0]?.exitCode, 0, JSON.stringify(results[0]));
  t.is(results[0]?.stdout, `${team.shortId}\n`);
  t.deepEqual(requests, [
    'https example.com/team/app?ac-discovery=1',
    'https example.com/team?ac-discovery=1',
    'https example.com/?ac-discovery=1',
    `https ${storage('example.com/team/app', '1.0')}`,
    `https ${storage('example.com/team/app', '1.0', 'aci.asc')}`,
  ]);
});

tn(netnsTitle('by name: plain http discovery and images only with --insecure-options=http'), async (t) => {
  const c = setup('example.com');
  const root = path.join(c.data, '..', 'www');
  publish(root, 'example.org/images/example.com/app-1.0.aci', app);
  // example.com/app's page is served over http only, with an http template.
  const routes: ServerRoute[] = [{
    host: 'example.com', path: '/app', scheme: 'http', query: { 'ac-discovery': '1' },
    body: page('example.com/app', 'http://example.org/images/{name}-{version}.{ext}'),
  }];
  const { results, requests } = await discoveryRun([
    [...c.flags, 'fetch', 'example.com/app:1.0'],
    [...c.flags, '--insecure-options=http', 'fetch', 'example.com/app:1.0'],
  ], routes, root);
  const [secure, insecure] = results;
  t.is(secure?.exitCode, 254);
  t.regex(secure?.stderr ?? '', /^rkt: discovery failed for example\.com\/app: no ac-discovery meta tag with a matching template at https:\/\/example\.com\/app\?ac-discovery=1 /);
  t.is(insecure?.exitCode, 0, JSON.stringify(insecure));
  t.is(insecure?.stdout, `${app.shortId}\n`);
  t.deepEqual(requests, [
    'https example.com/app?ac-discovery=1', 'https example.com/?ac-discovery=1',
    'https example.com/app?ac-discovery=1', 'http example.com/app?ac-discovery=1',
    'http example.org/images/example.com/app-1.0.aci', 'http example.org/images/example.com/app-1.0.aci.asc',
  ], 'no plain http request without the option');
});

// ---------------------------------------------------------------------------------------------------------------
// Caching and pull policies

t0(title('ETag: stored, sent as If-None-Match; a 304 reuses the image (same ID, no body, no signature)'), async (t) => {
  const c = setup();
  const s = await site(t, app, { etag: '"v1"' });
  const url = `${s.url}/app.aci`;
  const first = await c.run(['fetch', url]);
  t.is(first.exitCode, 0, show(first));
  const second = await c.run(['fetch', url]);
  t.is(second.exitCode, 0, show(second));
  t.is(second.stdout, first.stdout);
  t.deepEqual(paths(s), ['/app.aci 200', '/app.aci.asc 200', '/app.aci 304']);
  t.is(s.log[2]?.headers['if-none-match'], '"v1"');
  t.is(s.log[2]?.sent, 0, 'no body transferred');
  t.deepEqual(c.stored(), [app.id]);
});

t0(title('Cache-Control max-age: a second fetch within it makes no request at all'), async (t) => {
  const c = setup();
  const s = await site(t, app, { cacheControl: 'public, max-age=3600' });
  const url = `${s.url}/app.aci`;
  const first = await c.run(['fetch', url]);
  t.is(first.exitCode, 0, show(first));
  t.is(s.log.length, 2);
  const second = await c.run(['fetch', url]);
  t.is(second.exitCode, 0, show(second));
  t.is(second.stdout, `${app.shortId}\n`);
  t.is(s.log.length, 2, 'no request');
});

t0(title('--pull-policy=new reuses a stored image without a request; update asks again'), async (t) => {
  const c = setup();
  const s = await site(t, app);
  const url = `${s.url}/app.aci`;
  t.is((await c.run(['fetch', url])).exitCode, 0);
  const reused = await c.run(['fetch', '--pull-policy=new', url]);
  t.is(reused.exitCode, 0, show(reused));
  t.is(reused.stdout, `${app.shortId}\n`);
  t.is(s.log.length, 2, 'no request under new');
  s.set('/app.aci', { body: app2.bytes });
  s.set('/app.aci.asc', { body: app2.sig });
  const updated = await c.run(['fetch', url]);
  t.is(updated.stdout, `${app2.shortId}\n`, 'update fetches what the URL serves now');
  t.deepEqual(c.stored().sort(), [app.id, app2.id].sort());
});

t0(title('--pull-policy=never: with nothing stored an error and no request; with the image stored, the image'), async (t) => {
  const c = setup();
  const s = await site(t, app);
  const url = `${s.url}/app.aci`;
  const r = await c.run(['fetch', '--pull-policy=never', url]);
  refused(t, c, r, `rkt: no image from ${url} in the store and --pull-policy=never\n`);
  t.is(s.log.length, 0);
  t.is((await c.run(['fetch', url])).exitCode, 0);
  const again = await c.run(['fetch', '--pull-policy=never', url]);
  t.is(again.stdout, `${app.shortId}\n`);
  t.is(s.log.length, 2);
});

// ---------------------------------------------------------------------------------------------------------------
// Signatures not ready yet (HTTP 202)

t0(title('a signature answered 202 twice, then 200: fetched after retrying'), async (t) => {
  const c = setup();
  const s = await site(t, app);
  s.set('/app.aci.asc', { body: app.sig, accepted: 2 });
  const r = await c.run(['fetch', `${s.url}/app.aci`]);
  t.is(r.exitCode, 0, show(r));
  t.is(r.stdout, `${app.shortId}\n`);
  t.deepEqual(paths(s), ['/app.aci 200', '/app.aci.asc 202', '/app.aci.asc 202', '/app.aci.asc 200']);
});

t0(title('a signature always answered 202: a bounded number of tries, then a clear error'), async (t) => {
  const c = setup();
  const s = await site(t, app);
  s.set('/app.aci.asc', { body: app.sig, accepted: 1000 });
  const url = `${s.url}/app.aci`;
  const r = await c.run(['fetch', url]);
  refused(t, c, r, `rkt: signature ${url}.asc still not ready after 5 attempts (the server answered HTTP 202 each time)\n`
    + 'rkt: try again later, or skip the signature check with --insecure-options=image\n');
  t.is(s.log.filter((a) => a.path === '/app.aci.asc').length, 5);
});

// ---------------------------------------------------------------------------------------------------------------
// Redirects and TLS

t0(title('redirects of the image and of its signature are followed'), async (t) => {
  const c = setup();
  const s = await site(t, app);
  s.set('/old/app.aci', { body: '', status: 301, redirect: '/app.aci' });
  s.set('/old/app.aci.asc', { body: '', redirect: `${s.url}/app.aci.asc` });
  const r = await c.run(['fetch', `${s.url}/old/app.aci`]);
  t.is(r.exitCode, 0, show(r));
  t.is(r.stdout, `${app.shortId}\n`);
  t.deepEqual(paths(s), ['/old/app.aci 301', '/app.aci 200', '/old/app.aci.asc 302', '/app.aci.asc 200']);
});

t0(title('a server certificate from another CA: an error naming --insecure-options=tls; with it, fetched (signature still checked)'), async (t) => {
  const c = setup();
  const s = await site(t, app, {}, otherCa);
  const url = `${s.url}/app.aci`;
  const r = await c.run(['fetch', url]);
  refused(t, c, r, new RegExp(`^rkt: TLS error fetching ${url.replace(/\./g, '\\.')}: .+ \\(use --insecure-options=tls to skip certificate checks\\)\n$`));
  const insecure = await c.run(['--insecure-options=tls', 'fetch', url]);
  t.is(insecure.exitCode, 0, show(insecure));
  t.is(insecure.stdout, `${app.shortId}\n`);
  const untrusted = setup(null);
  const refusedSig = await untrusted.run(['--insecure-options=tls', 'fetch', url]);
  t.is(refusedSig.exitCode, 254, 'tls does not switch off the signature check');
});

// ---------------------------------------------------------------------------------------------------------------
// Concurrency, crashes and resumed downloads

t0(title('two fetches of one URL at once: each downloads on its own, both print the ID, one image is stored, nothing left over'), async (t) => {
  const c = setup();
  // ETag and ranges on: a fetch that took over the other's download in flight would ask for a range.
  const s = await site(t, big, { delayMs: 300, etag: '"big-1"', ranges: true });
  const url = `${s.url}/app.aci`;
  const [a, b] = await Promise.all([c.run(['fetch', url]), c.run(['fetch', url])]);
  t.deepEqual(s.log.filter((r) => r.path === '/app.aci').map((r) => `${r.status} ${r.sent} ${String(r.headers.range)}`),
    Array<string>(2).fill(`200 ${big.bytes.length} undefined`), 'each downloaded the whole image into its own file');
  t.is(a?.exitCode, 0, a && show(a));
  t.is(b?.exitCode, 0, b && show(b));
  t.is(a?.stdout, `${big.shortId}\n`);
  t.is(b?.stdout, a?.stdout);
  t.deepEqual(c.stored(), [big.id]);
  t.deepEqual(c.leftovers(), []);
  const list = await c.run(['image', 'list', '--no-legend', '--fields=name']);
  t.is(list.stdout, 'example.com/big:1.0\n');
});

/** N of the `Range: bytes=N-` a request carried, or -1. */
function resumedFrom(a: Answered | undefined): number {
  return Number(/^bytes=(\d+)-$/.exec(a?.headers.range ?? '')?.[1] ?? -1);
}

t0(title('kill -9 during a slow download: no image listed; a retry resumes where it stopped and succeeds'), async (t) => {
  const c = setup();
  const s = await site(t, big, { etag: '"big-1"', ranges: true, drip: { afterBytes: 2 * MiB, chunk: 32 << 10, everyMs: 100 } });
  const url = `${s.url}/app.aci`;
  const child = spawn(process.execPath, [RKT, ...c.flags, 'fetch', url], { env: rktEnv, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const partSize = () => {
    const part = c.leftovers().find((n) => n.endsWith('.part'));
    return part === undefined ? 0 : statSync(path.join(c.data, 'cas/tmp', part)).size;
  };
  try {
    await until('the download has reached 2 MiB', 60_000, () => partSize() >= 2 * MiB, 50);
  } finally {
    child.kill('SIGKILL');
    await exited; // reaped: its partial is now abandoned
  }
  const list = await c.run(['image', 'list', '--no-legend']);
  t.is(list.exitCode, 0, show(list));
  t.is(list.stdout, '');
  t.deepEqual(c.stored(), []);

  s.set('/app.aci', { body: big.bytes, etag: '"big-1"', ranges: true });
  const retry = await c.run(['fetch', url]);
  t.is(retry.exitCode, 0, show(retry));
  t.is(retry.stdout, `${big.shortId}\n`);
  const resumed = s.log.filter((a) => a.path === '/app.aci')[1];
  const from = resumedFrom(resumed);
  t.true(from >= 2 * MiB, `resumed from ${from}`);
  t.is(resumed?.headers['if-range'], '"big-1"');
  t.is(resumed?.status, 206);
  t.is(resumed?.sent, big.bytes.length - from);
  t.deepEqual(c.leftovers(), []);
  t.is(sha256(readFileSync(path.join(c.data, 'cas/blobs', big.id))), sha256(big.bytes));
});

t0(title('a connection cut half way: the error says a retry resumes; the retry sends Range + If-Range and gets the rest'), async (t) => {
  const c = setup();
  const half = Math.floor(big.bytes.length / 2);
  const s = await site(t, big, { etag: '"big-1"', ranges: true, cut: { afterBytes: half, times: 1 } });
  const url = `${s.url}/app.aci`;
  const first = await c.run(['fetch', url]);
  refused(t, c, first, new RegExp(`^rkt: cannot fetch ${url.replace(/\./g, '\\.')}: .+\nrkt: run the same command again to resume the download\n$`));
  t.deepEqual(c.leftovers().map((n) => path.extname(n)).sort(), ['.json', '.part'], 'the partial download and its record are kept');
  const second = await c.run(['fetch', url]);
  t.is(second.exitCode, 0, show(second));
  t.is(second.stdout, `${big.shortId}\n`);
  t.is(second.stderr, '');
  const requests = s.log.filter((a) => a.path === '/app.aci');
  t.is(requests.length, 2);
  t.is(requests[0]?.headers.range, undefined);
  const from = resumedFrom(requests[1]);
  t.true(from > 0 && from <= half, `resumed from ${from}`);
  t.is(requests[1]?.headers['if-range'], '"big-1"');
  t.is(requests[1]?.status, 206);
  t.is(requests[1]?.sent, big.bytes.length - from);
  t.deepEqual(c.leftovers(), [], 'the partial is removed after success');
  t.is(sha256(readFileSync(path.join(c.data, 'cas/blobs', big.id))), sha256(big.bytes));
});

t0(title('a resumed download whose image changed meanwhile (If-Range no longer matches) starts over'), async (t) => {
  const c = setup();
  const s = await site(t, app, { etag: '"a-1"', ranges: true, cut: { afterBytes: 4096, times: 1 } });
  const url = `${s.url}/app.aci`;
  t.is((await c.run(['fetch', url])).exitCode, 254);
  s.set('/app.aci', { body: app2.bytes, etag: '"a-2"', ranges: true });
  s.set('/app.aci.asc', { body: app2.sig });
  const r = await c.run(['fetch', url]);
  t.is(r.exitCode, 0, show(r));
  t.is(r.stdout, `${app2.shortId}\n`);
  const last = s.log.filter((a) => a.path === '/app.aci')[1];
  t.true(resumedFrom(last) > 0 && resumedFrom(last) <= 4096, String(last?.headers.range));
  t.is(last?.headers['if-range'], '"a-1"');
  t.is(last?.status, 200);
  t.deepEqual(c.stored(), [app2.id]);
  t.deepEqual(c.leftovers(), []);
});

t0(title('without an ETag, a download is resumed on its Last-Modified date'), async (t) => {
  const c = setup();
  const date = 'Tue, 01 Oct 2024 10:00:00 GMT';
  const s = await site(t, app, { lastModified: date, ranges: true, cut: { afterBytes: 4096, times: 1 } });
  const url = `${s.url}/app.aci`;
  t.is((await c.run(['fetch', url])).exitCode, 254);
  const r = await c.run(['fetch', url]);
  t.is(r.exitCode, 0, show(r));
  t.is(r.stdout, `${app.shortId}\n`);
  const last = s.log.filter((a) => a.path === '/app.aci')[1];
  t.true(resumedFrom(last) > 0 && resumedFrom(last) <= 4096, String(last?.headers.range));
  t.is(last?.headers['if-range'], date);
  t.is(last?.status, 206);
});

// ---------------------------------------------------------------------------------------------------------------
// Compressions, progress

t0(title('gzip, xz and bzip2 images over https: each stored under the ID of its uncompressed tar'), async (t) => {
  const c = setup();
  const s = await site(t, app);
  for (const [kind, image] of Object.entries(compressed)) {
    s.set(`/${kind}.aci`, { body: image.bytes });
    s.set(`/${kind}.aci.asc`, { body: image.sig });
    const r = await c.run(['fetch', '--full', `${s.url}/${kind}.aci`]);
    t.is(r.exitCode, 0, `${kind}: ${show(r)}`);
    t.is(r.stdout, `${image.id}\n`, kind);
    const record = JSON.parse(readFileSync(path.join(c.data, 'cas/images', `${image.id}.json`), 'utf8')) as { compression: string };
    t.is(record.compression, kind);
  }
  t.is(c.stored().length, 3);
});

(scriptSkip === undefined ? test : test.skip)(`on a terminal, progress is shown on stderr${scriptSkip === undefined ? '' : ` (skipped: ${scriptSkip})`}`, async (t) => {
  const c = setup();
  const s = await site(t, big, { drip: { afterBytes: MiB, chunk: 256 << 10, everyMs: 100 } });
  const url = `${s.url}/app.aci`;
  const quote = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, RKT, ...c.flags, 'fetch', url].map(quote).join(' ');
  const r = await runCmd('script', ['--quiet', '--return', '--command', cmd, '/dev/null'], { env: rktEnv, timeoutMs: 60_000 });
  t.is(r.exitCode, 0, show(r));
  const transcript = r.stdout.replace(/\r/g, '');
  t.true(transcript.includes(`Downloading ${url}\n`), transcript);
  t.regex(transcript, new RegExp(`${url.replace(/\./g, '\\.')}: [\\d.]+ (KiB|MiB) of 8\\.0 MiB\n`));
  t.true(transcript.endsWith(`${big.shortId}\n`), transcript);
});
