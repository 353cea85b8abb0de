/**
 * src/fetch/http.ts against real servers on loopback. The client runs in a child node process: which CAs it
 * trusts depends on NODE_EXTRA_CA_CERTS and SSL_CERT_FILE as seen at start-up, as for the rkt binary.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseCacheControlMaxAge } from '../../src/fetch/http.js';
import { makeTestCa, startHttpServer, startHttpsServer, type TestCa, type TestServer } from '../lib/https.js';
import { netnsSkipReason, runInNetns } from '../lib/netns.js';
import { failed, functionalSkipReason, ok, REPO, runCmd, tempDir } from '../lib/rkt.js';

const skip = functionalSkipReason();
const t0 = skip === undefined ? test : test.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);

interface Call {
  readonly url: string;
  readonly opts?: Record<string, unknown>;
  /** httpGetText with this limit; otherwise httpGet and count the body bytes. */
  readonly text?: boolean;
  readonly maxBytes?: number;
}
type Outcome =
  | { ok: true; status: number; url: string; headers: http.IncomingHttpHeaders; text?: string; bytes?: number }
  | { ok: false; name: string; code: string; message: string };

// Runs each call in turn and prints the outcomes as JSON.
const DRIVER = `
import { httpGet, httpGetText } from ${JSON.stringify(pathToFileURL(path.join(REPO, 'src/fetch/http.ts')).href)};
const calls = JSON.parse(process.argv[2]);
const out = [];
for (const c of calls) {
  try {
    if (c.text) {
      const r = await httpGetText(c.url, c.opts, c.maxBytes);
      out.push({ ok: true, status: r.status, url: r.url, headers: r.headers, text: r.text });
    } else {
      const r = await httpGet(c.url, c.opts);
      let bytes = 0;
      for await (const chunk of r.body) bytes += chunk.length;
      out.push({ ok: true, status: r.status, url: r.url, headers: r.headers, bytes });
    }
  } catch (e) {
    out.push({ ok: false, name: e.name, code: e.code, message: e.message });
  }
}
process.stdout.write(JSON.stringify(out));
`;

let dir = '';
let ca: TestCa;
let server: TestServer;
let plain: TestServer;
let other: TestServer; // https on 127.0.0.2, which the certificate does not name
let driver = '';
const cleanups: (() => Promise<void> | void)[] = [];

/** Run `calls` in a child node that trusts what `env` says (NODE_EXTRA_CA_CERTS=the test CA by default). */
async function client(calls: readonly Call[], env: Record<string, string> = { NODE_EXTRA_CA_CERTS: ca.caCert }): Promise<Outcome[]> {
  const base = { ...process.env };
  delete base['NODE_EXTRA_CA_CERTS'];
  delete base['SSL_CERT_FILE'];
  const res = await runCmd(process.execPath, ['--import', 'tsx', driver, JSON.stringify(calls)], { env: { ...base, ...env }, cwd: REPO, timeoutMs: 60_000 });
  if (res.exitCode !== 0) throw new Error(`driver failed (${res.exitCode}): ${res.stderr}`);
  return JSON.parse(res.stdout) as Outcome[];
}


/** Endless or huge bodies are written in chunks while the client reads, and stop when it goes or after `cap`. */
function stream(res: http.ServerResponse, cap: number): void {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let sent = 0;
  const more = () => {
    while (sent < cap && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', more);
    }
    res.end();
  };
  more();
}

function routes(scheme: string) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://x');
    const p = url.pathname;
    const redirect = (status: number, location: string) => { res.writeHead(status, { location }); res.end(); };
    if (p === '/hello') {
      if (req.headers['if-none-match'] === '"v1"') { res.writeHead(304, { etag: '"v1"' }); res.end(); return; }
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=3600', etag: '"v1"' });
      res.end(`hello over ${scheme}`);
    } else if (p.startsWith('/chain/')) {
      const n = Number(p.slice('/chain/'.length));
      if (n === 0) redirect(302, '/hello');
      else redirect([301, 302, 303, 307, 308][n % 5] ?? 302, `/chain/${n - 1}`);
    } else if (p === '/loop') {
      redirect(302, '/loop');
    } else if (p === '/to') {
      redirect(302, url.searchParams.get('u') ?? '/');
    } else if (p === '/headers') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.headers));
    } else if (p === '/endless') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      stream(res, 64 << 20);
    } else if (p === '/declared-huge') {
      res.writeHead(200, { 'content-length': String(8 << 20) });
      stream(res, 8 << 20);
    } else if (p === '/slow-headers') {
      // slowloris: a status line, then a header one byte at a time, never finished
      req.socket.write('HTTP/1.1 200 OK\r\nX-Slow: ');
      let ticks = 0;
      const timer = setInterval(() => {
        if (req.socket.destroyed || ++ticks > 600) { clearInterval(timer); req.socket.destroy(); return; }
        req.socket.write('a');
      }, 50);
    } else if (p === '/stalled-body') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('0123456789');
      const timer = setTimeout(() => res.destroy(), 30_000);
      res.on('close', () => clearTimeout(timer));
    } else if (p === '/big-headers') {
      res.writeHead(200, { 'x-big': 'a'.repeat(100_000) });
      res.end('x');
    } else if (p === '/bytes') {
      res.writeHead(200, { 'content-length': String(3 << 20) });
      stream(res, 3 << 20);
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  };
}

test.before(async () => {
  if (skip !== undefined) return;
  const tmp = tempDir('rkt-http-');
  cleanups.push(tmp.cleanup);
  dir = tmp.dir;
  ca = makeTestCa(dir);
  driver = path.join(dir, 'driver.mjs');
  writeFileSync(driver, DRIVER);
  server = await startHttpsServer({ cert: ca.serverCert, key: ca.serverKey, routes: routes('https') });
  plain = await startHttpServer({ routes: routes('http') });
  other = await startHttpsServer({ cert: ca.serverCert, key: ca.serverKey, host: '127.0.0.2', routes: routes('https') });
  cleanups.push(() => server.close(), () => plain.close(), () => other.close());
});

test.after.always(async () => {
  for (const c of cleanups.reverse()) await c();
});

t0(title('https: trusts NODE_EXTRA_CA_CERTS; the body, headers and max-age reach the caller; a 304 is returned, not thrown'), async (t) => {
  const [text, stream, notModified] = await client([
    { url: `${server.url}/hello`, text: true },
    { url: `${server.url}/bytes` },
    { url: `${server.url}/hello`, opts: { headers: { 'If-None-Match': '"v1"' } } },
  ]);
  const r = ok(text);
  t.is(r.status, 200);
  t.is(r.text, 'hello over https');
  t.is(r.url, `${server.url}/hello`);
  t.is(r.headers.etag, '"v1"');
  t.is(parseCacheControlMaxAge(r.headers['cache-control']), 3600);
  t.is(ok(stream).bytes, 3 << 20);
  t.is(ok(notModified).status, 304);
  const sent = server.requests.find((q) => q.headers['if-none-match'] === '"v1"');
  t.truthy(sent, 'the caller\'s headers are sent');
  t.regex(String(sent?.headers['user-agent']), /^rkt\/\d/);
});

t0(title('https: an unknown CA is a TLS error naming the URL and --insecure-options=tls; insecureTls skips the check'), async (t) => {
  const [untrusted, insecure, mismatch, mismatchInsecure] = await client([
    { url: `${server.url}/hello`, text: true },
    { url: `${server.url}/hello`, text: true, opts: { insecureTls: true } },
    { url: `${other.url}/hello`, text: true },
    { url: `${other.url}/hello`, text: true, opts: { insecureTls: true } },
  ], {});
  const e = failed(untrusted);
  t.is(e.code, 'EHTTP');
  t.is(e.name, 'RktError');
  t.regex(e.message, new RegExp(`^TLS error fetching ${server.url}/hello: .+ \\(use --insecure-options=tls to skip certificate checks\\)$`));
  t.is(ok(insecure).text, 'hello over https');
  t.is(ok(mismatchInsecure).text, 'hello over https');
  // With the CA missing the chain fails first; the name check is shown below with the CA trusted.
  t.regex(failed(mismatch).message, /^TLS error fetching https:\/\/127\.0\.0\.2:/);
  const [named] = await client([{ url: `${other.url}/hello`, text: true }]);
  t.regex(failed(named).message, new RegExp(`^TLS error fetching ${other.url}/hello: .*127\\.0\\.0\\.2.* \\(use --insecure-options=tls`));
});

t0(title('https: the system CA bundle is trusted (SSL_CERT_FILE names it, as for Go programs)'), async (t) => {
  const [r] = await client([{ url: `${server.url}/hello`, text: true }], { SSL_CERT_FILE: ca.caCert });
  t.is(ok(r).text, 'hello over https');
});

t0(title('redirects: relative 301/302/303/307/308 chains are followed to the final URL; more than maxRedirects is an error'), async (t) => {
  const [chain, limited, loop] = await client([
    { url: `${server.url}/chain/6`, text: true },
    { url: `${server.url}/chain/6`, text: true, opts: { maxRedirects: 3 } },
    { url: `${server.url}/loop`, text: true },
  ]);
  const r = ok(chain);
  t.is(r.url, `${server.url}/hello`);
  t.is(r.text, 'hello over https');
  t.is(failed(limited).message, `cannot fetch ${server.url}/chain/6: too many redirects (more than 3)`);
  t.is(failed(loop).message, `cannot fetch ${server.url}/loop: too many redirects (more than 10)`);
  t.is(server.requests.filter((q) => q.url === '/loop').length, 11, 'a redirect loop is cut after 10 redirects');
});

t0(title('plain http: refused unless allowHttp, also as a redirect target from https; other schemes are refused'), async (t) => {
  const toHttp = `${server.url}/to?u=${encodeURIComponent(`${plain.url}/hello`)}`;
  const toFile = `${server.url}/to?u=${encodeURIComponent('file:///etc/passwd')}`;
  const before = plain.requests.length;
  const [direct, directAllowed, redirected, redirectedAllowed, file, ftp] = await client([
    { url: `${plain.url}/hello`, text: true },
    { url: `${plain.url}/hello`, text: true, opts: { allowHttp: true } },
    { url: toHttp, text: true },
    { url: toHttp, text: true, opts: { allowHttp: true } },
    { url: toFile, text: true, opts: { allowHttp: true } },
    { url: 'ftp://127.0.0.1/x', text: true },
  ]);
  t.is(failed(direct).message, `refusing to fetch ${plain.url}/hello over plain http (use --insecure-options=http)`);
  t.is(ok(directAllowed).text, 'hello over http');
  t.is(failed(redirected).message, `refusing to fetch ${plain.url}/hello over plain http (use --insecure-options=http): redirected from ${toHttp}`);
  const followed = ok(redirectedAllowed);
  t.is(followed.url, `${plain.url}/hello`);
  t.is(followed.text, 'hello over http');
  t.is(failed(file).message, `refusing to follow the redirect from ${toFile} to file:///etc/passwd: only http and https URLs are supported`);
  t.is(failed(ftp).message, 'cannot fetch ftp://127.0.0.1/x: only http and https URLs are supported');
  t.is(plain.requests.length - before, 2, 'no plain http request is made unless allowed');
});

t0(title('redirects: Authorization is kept on the same origin and dropped on another'), async (t) => {
  const otherOrigin = `https://localhost:${server.port}/headers`;
  const [same, cross] = await client([
    { url: `${server.url}/to?u=%2Fheaders`, text: true, opts: { headers: { Authorization: 'Bearer s3cret', 'X-Other': 'kept' } } },
    { url: `${server.url}/to?u=${encodeURIComponent(otherOrigin)}`, text: true, opts: { headers: { Authorization: 'Bearer s3cret', 'X-Other': 'kept' } } },
  ]);
  const sameHeaders = JSON.parse(ok(same).text ?? '{}') as Record<string, string>;
  const crossHeaders = JSON.parse(ok(cross).text ?? '{}') as Record<string, string>;
  t.is(sameHeaders['authorization'], 'Bearer s3cret');
  t.is(crossHeaders['authorization'], undefined);
  t.is(crossHeaders['x-other'], 'kept');
});

t0(title('hostile servers: endless or oversized text, huge headers, slowloris headers and a stalled body are errors, cut by the client\'s limits'), async (t) => {
  const [endless, declared, small, bigHeaders, slow, stalled, stalledStream] = await client([
    { url: `${server.url}/endless`, text: true },
    { url: `${server.url}/declared-huge`, text: true },
    { url: `${server.url}/hello`, text: true, maxBytes: 5 },
    { url: `${server.url}/big-headers`, text: true },
    { url: `${server.url}/slow-headers`, text: true, opts: { timeoutMs: 500 } },
    { url: `${server.url}/stalled-body`, text: true, opts: { timeoutMs: 500 } },
    { url: `${server.url}/stalled-body`, opts: { timeoutMs: 500 } },
  ]);
  t.is(failed(endless).message, `cannot fetch ${server.url}/endless: the response body is larger than 1048576 bytes`);
  t.is(failed(declared).message, `cannot fetch ${server.url}/declared-huge: the response body is larger than 1048576 bytes`);
  t.is(failed(small).message, `cannot fetch ${server.url}/hello: the response body is larger than 5 bytes`);
  t.is(failed(bigHeaders).message, `cannot fetch ${server.url}/big-headers: the response headers are too large`);
  // Each message is the client's own timeout (the server would go on for 30 s and then cut the connection,
  // which reads differently): that is the event, however long the busy machine took to get there.
  t.is(failed(slow).message, `cannot fetch ${server.url}/slow-headers: no response within 500 ms`);
  // The whole-body and the idle timeout are both 500 ms here: either may fire first.
  t.regex(failed(stalled).message, new RegExp(`^cannot fetch ${server.url}/stalled-body: (the body did not arrive within|the server sent nothing for) 500 ms$`));
  t.is(failed(stalledStream).message, `cannot fetch ${server.url}/stalled-body: the server sent nothing for 500 ms`);
  for (const o of [endless, declared, small, bigHeaders, slow, stalled, stalledStream]) t.is(failed(o).code, 'EHTTP');
});

t0(title('connection refused and unknown hosts are EHTTP errors naming the URL'), async (t) => {
  const closed = await startHttpsServer({ cert: ca.serverCert, key: ca.serverKey, routes: routes('https') });
  const port = closed.port;
  await closed.close();
  const [refused, invalid] = await client([
    { url: `https://127.0.0.1:${port}/x`, text: true },
    { url: 'https://exa mple.com/x', text: true },
  ]);
  t.is(failed(refused).message, `cannot fetch https://127.0.0.1:${port}/x: connection refused`);
  t.is(failed(invalid).message, 'cannot fetch: "https://exa mple.com/x" is not a valid URL');
});

const netnsSkip = netnsSkipReason();
(netnsSkip === undefined ? test : test.skip)(
  `in a netns, example.com:443 is the test server: static files with ETag/304/Cache-Control/Range, 202s, \`times\`, aborts${netnsSkip === undefined ? '' : ` (skipped: ${netnsSkip})`}`,
  async (t) => {
    const root = path.join(dir, 'netns-root');
    mkdirSync(path.join(root, 'example.com/images'), { recursive: true });
    const content = `${'a'.repeat(1000)}${'b'.repeat(1000)}`;
    writeFileSync(path.join(root, 'example.com/images/app.aci'), content);
    const etag = `"${createHash('sha256').update(content).digest('hex').slice(0, 32)}"`;
    const aci = 'https://example.com/images/app.aci';
    const calls: Call[] = [
      { url: aci, text: true },
      { url: aci, text: true, opts: { headers: { 'if-none-match': etag } } },
      { url: aci, text: true, opts: { headers: { range: 'bytes=995-1004' } } },
      { url: aci, text: true, opts: { headers: { range: 'bytes=995-', 'if-range': '"stale"' } } },
      { url: aci, text: true, opts: { headers: { range: 'bytes=5000-' } } },
      { url: 'https://example.com/sig.asc', text: true },
      { url: 'https://example.com/sig.asc', text: true },
      { url: 'https://example.com/sig.asc', text: true },
      { url: 'https://example.com/once', text: true },
      { url: 'https://example.com/once', text: true },
      { url: 'https://www.example.com/abort' },
      { url: 'http://example.com/images/app.aci', text: true, opts: { allowHttp: true } },
    ];
    const run = await runInNetns({
      command: [process.execPath, '--import', 'tsx', driver, JSON.stringify(calls)],
      server: {
        cert: ca.serverCert, key: ca.serverKey, root,
        static: { etag: true, cacheControl: 'max-age=60', ranges: true },
        routes: [
          { host: 'example.com', path: '/sig.asc', acceptedTimes: 2, body: 'SIG', headers: { 'content-type': 'text/plain' } },
          { path: '/once', times: 1, body: 'first' },
          { path: '/once', body: 'second' },
          { host: 'www.example.com', path: '/abort', file: 'example.com/images/app.aci', abortAfterBytes: 100 },
        ],
      },
      env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.caCert },
      timeoutMs: 60_000,
    });
    t.is(run.exitCode, 0, run.stderr + run.serverLog);
    const o = JSON.parse(run.stdout) as Outcome[];
    const full = ok(o[0]);
    t.is(full.text, content);
    t.is(full.headers.etag, etag);
    t.is(parseCacheControlMaxAge(full.headers['cache-control']), 60);
    t.is(full.headers['accept-ranges'], 'bytes');
    t.is(ok(o[1]).status, 304);
    const part = ok(o[2]);
    t.is(part.status, 206);
    t.is(part.text, 'aaaaabbbbb');
    t.is(part.headers['content-range'], 'bytes 995-1004/2000');
    t.is(ok(o[3]).status, 200, 'a stale If-Range gets the whole body');
    t.is(ok(o[4]).status, 416);
    t.deepEqual([5, 6, 7].map((i) => ok(o[i]).status), [202, 202, 200]);
    t.is(ok(o[7]).text, 'SIG');
    t.deepEqual([8, 9].map((i) => ok(o[i]).text), ['first', 'second']);
    const aborted = failed(o[10]);
    t.is(aborted.code, 'EHTTP');
    t.regex(aborted.message, /^cannot fetch https:\/\/www\.example\.com\/abort: /);
    t.is(ok(o[11]).text, content);
    t.deepEqual(run.requests.map((r) => `${r.scheme}://${r.host}${r.url} ${String(r.answeredBy)}`), [
      ...Array<string>(5).fill('https://example.com/images/app.aci static'),
      ...Array<string>(3).fill('https://example.com/sig.asc 0'),
      'https://example.com/once 1', 'https://example.com/once 2', 'https://www.example.com/abort 3',
      'http://example.com/images/app.aci static',
    ]);
  },
);

test('parseCacheControlMaxAge reads max-age, and no-cache/no-store mean none', (t) => {
  t.is(parseCacheControlMaxAge('public, max-age=3600'), 3600);
  t.is(parseCacheControlMaxAge('max-age=0'), 0);
  t.is(parseCacheControlMaxAge('Max-Age = "60" , private'), 60);
  t.is(parseCacheControlMaxAge('s-maxage=10, max-age=20'), 20);
  t.is(parseCacheControlMaxAge('max-age=10, max-age=20'), 10);
  t.is(parseCacheControlMaxAge('public, max-age=3600, no-cache'), undefined);
  t.is(parseCacheControlMaxAge('no-store, max-age=3600'), undefined);
  t.is(parseCacheControlMaxAge('max-age=-1'), undefined);
  t.is(parseCacheControlMaxAge('max-age=abc'), undefined);
  t.is(parseCacheControlMaxAge('max-age'), undefined);
  t.is(parseCacheControlMaxAge('public'), undefined);
  t.is(parseCacheControlMaxAge(''), undefined);
  t.is(parseCacheControlMaxAge(undefined), undefined);
  t.is(parseCacheControlMaxAge('max-age=99999999999999'), 2 ** 31 - 1);
});
