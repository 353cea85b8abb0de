/**
 * appc meta discovery against real names: each test runs a client in a network namespace where example.com and
 * friends resolve to a test server on 127.0.0.1:443 (and :80), see tests/lib/netns.ts.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultOsArch } from '../../src/image/labels.js';
import { makeTestCa, type TestCa } from '../lib/https.js';
import { netnsSkipReason, runInNetns, type NetnsResult, type ServerConfig, type ServerRoute } from '../lib/netns.js';
import { failed, ok, REPO, tempDir } from '../lib/rkt.js';

const skip = netnsSkipReason();
const t0 = skip === undefined ? test : test.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);

interface Call {
  readonly fn: 'discover' | 'discoverPubkeys';
  readonly name: string;
  readonly labels?: readonly (readonly [string, string])[];
  readonly opts?: { insecureHttp?: boolean; insecureTls?: boolean };
}
type Outcome =
  | { ok: true; value: { aci: { aci: string; asc: string }[]; keys: string[] } | string[]; trace: string[] }
  | { ok: false; code: string; message: string; trace: string[] };

const DRIVER = `
import { discover, discoverPubkeys } from ${JSON.stringify(pathToFileURL(path.join(REPO, 'src/fetch/discovery.ts')).href)};
const out = [];
for (const c of JSON.parse(process.argv[2])) {
  const trace = [];
  const opts = { ...c.opts, trace: (m) => trace.push(m) };
  try {
    const value = c.fn === 'discover' ? await discover(c.name, new Map(c.labels ?? []), opts) : await discoverPubkeys(c.name, opts);
    out.push({ ok: true, value, trace });
  } catch (e) {
    out.push({ ok: false, code: e.code, message: e.message, trace });
  }
}
process.stdout.write(JSON.stringify(out));
`;

let ca: TestCa;
let driver = '';
let cleanup: () => void = () => undefined;

test.before(() => {
  if (skip !== undefined) return;
  const tmp = tempDir('rkt-discovery-');
  cleanup = tmp.cleanup;
  ca = makeTestCa(tmp.dir);
  driver = path.join(tmp.dir, 'driver.mjs');
  writeFileSync(driver, DRIVER);
});
test.after.always(() => cleanup());

/** Run the calls inside a namespace whose server has `routes`; the client trusts the test CA unless `trustCa` is false. */
async function inNetns(calls: readonly Call[], routes: readonly ServerRoute[], extra: Partial<ServerConfig> = {}, trustCa = true): Promise<{ outcomes: Outcome[]; run: NetnsResult }> {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  if (trustCa) env['NODE_EXTRA_CA_CERTS'] = ca.caCert;
  const run = await runInNetns({
    command: [process.execPath, '--import', 'tsx', driver, JSON.stringify(calls)],
    server: { cert: ca.serverCert, key: ca.serverKey, routes, ...extra },
    env,
    timeoutMs: 60_000,
  });
  if (run.exitCode !== 0) throw new Error(`driver failed (${run.exitCode}): ${run.stderr}\n${run.serverLog}`);
  return { outcomes: JSON.parse(run.stdout) as Outcome[], run };
}


const page = (...tags: [kind: 'ac-discovery' | 'ac-discovery-pubkeys', content: string][]) =>
  `<!DOCTYPE html><html><head>${tags.map(([k, c]) => `<meta name="${k}" content="${c}">`).join('\n')}</head><body></body></html>`;
const TEMPLATE = 'https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}';

t0(title('discover renders the templates of https://NAME?ac-discovery=1 with the labels, defaults and keys'), async (t) => {
  const here = defaultOsArch();
  const routes: ServerRoute[] = [{
    host: 'example.com', path: '/app', query: { 'ac-discovery': '1' },
    body: page(['ac-discovery', `example.com ${TEMPLATE}`], ['ac-discovery-pubkeys', 'example.com https://example.com/pubkeys.gpg']),
  }];
  const { outcomes, run } = await inNetns([
    { fn: 'discover', name: 'example.com/app', labels: [['version', '1.0'], ['os', 'linux'], ['arch', 'aarch64']] },
    { fn: 'discover', name: 'example.com/app' },
  ], routes);
  t.deepEqual(ok(outcomes[0]).value, {
    aci: [{ aci: 'https://storage.example.com/linux/aarch64/example.com/app-1.0.aci', asc: 'https://storage.example.com/linux/aarch64/example.com/app-1.0.aci.asc' }],
    keys: ['https://example.com/pubkeys.gpg'],
  });
  const defaults = ok(outcomes[1]);
  t.deepEqual(defaults.value, {
    aci: [{
      aci: `https://storage.example.com/${here.os}/${here.arch}/example.com/app-latest.aci`,
      asc: `https://storage.example.com/${here.os}/${here.arch}/example.com/app-latest.aci.asc`,
    }],
    keys: ['https://example.com/pubkeys.gpg'],
  });
  t.true(defaults.trace.includes('discovery: GET https://example.com/app?ac-discovery=1'));
  t.deepEqual(run.requests.map((r) => `${r.scheme} ${r.method} ${r.host}${r.url}`), [
    'https GET example.com/app?ac-discovery=1', 'https GET example.com/app?ac-discovery=1',
  ]);
});

t0(title('discover walks up the name\'s path past 404s and pages without a matching template, collecting keys'), async (t) => {
  const routes: ServerRoute[] = [
    // example.com/group/app: no route, 404
    { host: 'example.com', path: '/group', query: { 'ac-discovery': '1' },
      body: page(['ac-discovery', 'example.com/other https://other.example.com/{name}.{ext}'], ['ac-discovery-pubkeys', 'example.com/group https://keys.example.com/group.gpg']) },
    { host: 'example.com', path: '/', query: { 'ac-discovery': '1' },
      body: page(['ac-discovery', `example.com ${TEMPLATE}`], ['ac-discovery-pubkeys', 'example.com https://example.com/pubkeys.gpg'], ['ac-discovery-pubkeys', 'example.com/other https://no.example.com/x.gpg']) },
  ];
  const { outcomes, run } = await inNetns([{ fn: 'discover', name: 'example.com/group/app', labels: [['version', '2'], ['os', 'linux'], ['arch', 'amd64']] }], routes);
  t.deepEqual(ok(outcomes[0]).value, {
    aci: [{ aci: 'https://storage.example.com/linux/amd64/example.com/group/app-2.aci', asc: 'https://storage.example.com/linux/amd64/example.com/group/app-2.aci.asc' }],
    keys: ['https://keys.example.com/group.gpg', 'https://example.com/pubkeys.gpg'],
  });
  t.deepEqual(run.requests.map((r) => r.url), ['/group/app?ac-discovery=1', '/group?ac-discovery=1', '/?ac-discovery=1']);
});

t0(title('discover follows redirects of the discovery page'), async (t) => {
  const routes: ServerRoute[] = [
    { host: 'example.com', path: '/app', status: 301, redirect: 'https://www.example.com/meta/app?ac-discovery=1' },
    { host: 'www.example.com', path: '/meta/app', body: page(['ac-discovery', `example.com ${TEMPLATE}`]) },
  ];
  const { outcomes, run } = await inNetns([{ fn: 'discover', name: 'example.com/app', labels: [['version', '1'], ['os', 'linux'], ['arch', 'amd64']] }], routes);
  t.deepEqual(ok(outcomes[0]).value, {
    aci: [{ aci: 'https://storage.example.com/linux/amd64/example.com/app-1.aci', asc: 'https://storage.example.com/linux/amd64/example.com/app-1.aci.asc' }],
    keys: [],
  });
  t.deepEqual(run.requests.map((r) => `${r.host}${r.url}`), ['example.com/app?ac-discovery=1', 'www.example.com/meta/app?ac-discovery=1']);
});

t0(title('discover uses plain http only with insecureHttp, and http templates only then'), async (t) => {
  const routes: ServerRoute[] = [{
    host: 'example.com', path: '/app', scheme: 'http',
    body: page(['ac-discovery', 'example.com http://storage.example.com/{name}-{version}.{ext}']),
  }];
  const labels: [string, string][] = [['version', '1'], ['os', 'linux'], ['arch', 'amd64']];
  const { outcomes, run } = await inNetns([
    { fn: 'discover', name: 'example.com/app', labels },
    { fn: 'discover', name: 'example.com/app', labels, opts: { insecureHttp: true } },
  ], routes, { httpsPort: null });
  const e = failed(outcomes[0]);
  t.is(e.code, 'EDISCOVERY');
  t.is(e.message, 'discovery failed for example.com/app: no ac-discovery meta tag with a matching template at https://example.com/app?ac-discovery=1 '
    + '(tried: https://example.com/app?ac-discovery=1: cannot fetch https://example.com/app?ac-discovery=1: connection refused; '
    + 'https://example.com?ac-discovery=1: cannot fetch https://example.com/?ac-discovery=1: connection refused)');
  t.deepEqual(ok(outcomes[1]).value, {
    aci: [{ aci: 'http://storage.example.com/example.com/app-1.aci', asc: 'http://storage.example.com/example.com/app-1.aci.asc' }],
    keys: [],
  });
  t.true(run.requests.every((r) => r.scheme === 'http'));
  t.is(run.requests.length, 1, 'no http request without insecureHttp');
});

t0(title('discover with no matching template anywhere is EDISCOVERY listing every URL tried'), async (t) => {
  const routes: ServerRoute[] = [
    { host: 'example.com', path: '/app', body: page(['ac-discovery', 'example.org https://example.org/{name}.{ext}'], ['ac-discovery', 'example.com/apple https://x/{name}.{ext}']) },
    { host: 'example.com', path: '/', body: page(['ac-discovery', 'example.com https://x/{name}-{channel}.{ext}']) },
  ];
  const { outcomes } = await inNetns([{ fn: 'discover', name: 'example.com/app', labels: [['version', '1'], ['os', 'linux'], ['arch', 'amd64']] }], routes);
  const e = failed(outcomes[0]);
  t.is(e.code, 'EDISCOVERY');
  t.is(e.message, 'discovery failed for example.com/app: no ac-discovery meta tag with a matching template at https://example.com/app?ac-discovery=1 '
    + '(tried: https://example.com/app?ac-discovery=1: no ac-discovery meta tag for this name; https://example.com?ac-discovery=1: no usable template)');
  t.true(e.trace.some((m) => m.includes('ignoring template https://x/{name}-{channel}.{ext}: it has a placeholder without a label')));
});

t0(title('discover over https needs the CA trusted or insecureTls; discoverPubkeys finds keys up the path'), async (t) => {
  const routes: ServerRoute[] = [
    { host: 'example.com', path: '/', body: page(['ac-discovery', `example.com ${TEMPLATE}`], ['ac-discovery-pubkeys', 'example.com https://example.com/pubkeys.gpg']) },
  ];
  const labels: [string, string][] = [['version', '1'], ['os', 'linux'], ['arch', 'amd64']];
  const { outcomes } = await inNetns([
    { fn: 'discover', name: 'example.com', labels },
    { fn: 'discover', name: 'example.com', labels, opts: { insecureTls: true } },
    { fn: 'discoverPubkeys', name: 'example.com/app/x', opts: { insecureTls: true } },
    { fn: 'discoverPubkeys', name: 'example.org', opts: { insecureTls: true } },
  ], routes, {}, false);
  t.regex(failed(outcomes[0]).message, /\(tried: https:\/\/example\.com\?ac-discovery=1: TLS error fetching https:\/\/example\.com\/\?ac-discovery=1: .* \(use --insecure-options=tls to skip certificate checks\)\)$/);
  t.is((ok(outcomes[1]).value as { aci: unknown[] }).aci.length, 1);
  t.deepEqual(ok(outcomes[2]).value, ['https://example.com/pubkeys.gpg']);
  t.is(failed(outcomes[3]).message, 'discovery failed for example.org: no ac-discovery-pubkeys meta tag with a matching prefix at https://example.org?ac-discovery=1 '
    + '(tried: https://example.org?ac-discovery=1: HTTP 404)');
});
