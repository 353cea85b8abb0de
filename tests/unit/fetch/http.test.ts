/**
 * src/fetch/http.ts against real servers on 127.0.0.1, started here: https with a CA made by openssl at test
 * time (trusted through SSL_CERT_FILE, read on the first request), and plain http.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { httpGet, httpGetText, type HttpResponse } from '../../../src/fetch/http.js';
import { makeTestCa, startHttpServer, startHttpsServer, type TestServer } from '../../lib/https.js';

function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch (err) {
    return `openssl cannot be run (${(err as Error).message}): no test certificates`;
  }
}
const skip = opensslMissing();
const t0 = skip === undefined ? test.serial : test.serial.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);

let dir = '';
let a: TestServer; // the server asked
let b: TestServer; // another origin (another port)
let plain: TestServer; // plain http

/** The request headers a server saw, as JSON. */
const echo = (req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(req.headers));
};

test.before(async () => {
  if (skip !== undefined) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'rkt-http-test-'));
  const ca = makeTestCa(dir);
  process.env['SSL_CERT_FILE'] = ca.caCert;
  plain = await startHttpServer({ routes: echo });
  b = await startHttpsServer({ cert: ca.serverCert, key: ca.serverKey, routes: echo });
  a = await startHttpsServer({
    cert: ca.serverCert, key: ca.serverKey,
    routes: (req, res) => {
      switch (req.url) {
        case '/to-plain': res.writeHead(302, { location: `${plain.url}/x` }); return void res.end();
        case '/to-other-origin': res.writeHead(307, { location: `${b.url}/echo` }); return void res.end();
        case '/to-same-origin': res.writeHead(301, { location: '/echo' }); return void res.end();
        case '/echo': return echo(req, res);
        case '/short':
          // 1000 bytes announced, 400 sent, then the connection closes.
          res.writeHead(200, { 'content-length': '1000' });
          return void res.write(Buffer.alloc(400, 'x'), () => res.destroy());
        case '/chunked-cut':
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          return void res.write(Buffer.alloc(400, 'x'), () => res.destroy());
        case '/two-lengths':
          // Written on the socket: Node's server would refuse to send this.
          return void res.socket?.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 20\r\nConnection: close\r\n\r\n0123456789');
        case '/bad-length':
          return void res.socket?.end('HTTP/1.1 200 OK\r\nContent-Length: ten\r\nConnection: close\r\n\r\n0123456789');
        default: res.writeHead(404); return void res.end();
      }
    },
  });
});

test.after.always(async () => {
  await Promise.all([a?.close(), b?.close(), plain?.close()]);
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

async function readAll(r: HttpResponse): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function failure(t: import('ava').ExecutionContext, p: Promise<unknown>): Promise<RktError> {
  const err = await t.throwsAsync(p, { instanceOf: RktError });
  t.is(err?.code, 'EHTTP');
  return err as RktError;
}

t0(title('a redirect from https to plain http is refused, and the http server is never asked'), async (t) => {
  const before = plain.requests.length;
  const err = await failure(t, httpGet(`${a.url}/to-plain`));
  t.regex(err.message, new RegExp(`refusing to fetch ${plain.url}/x over plain http \\(use --insecure-options=http\\): redirected from ${a.url}/to-plain`));
  t.is(plain.requests.length, before);
  // Allowed, it is followed.
  const r = await httpGet(`${a.url}/to-plain`, { allowHttp: true });
  t.is(r.status, 200);
  t.is(r.url, `${plain.url}/x`);
  await readAll(r);
});

t0(title('credentials go to the origin they were given for, not across a redirect to another'), async (t) => {
  const headers = { Authorization: 'Basic dXNlcjpwYXNz', Cookie: 'session=1', 'X-Other': 'kept' };
  const cross = await httpGetText(`${a.url}/to-other-origin`, { headers });
  t.is(cross.url, `${b.url}/echo`);
  const seen = JSON.parse(cross.text) as Record<string, string>;
  t.is(seen['authorization'], undefined);
  t.is(seen['cookie'], undefined);
  t.is(seen['x-other'], 'kept');
  t.is(b.requests.at(-1)?.headers.authorization, undefined);

  const same = JSON.parse((await httpGetText(`${a.url}/to-same-origin`, { headers })).text) as Record<string, string>;
  t.is(same['authorization'], 'Basic dXNlcjpwYXNz');
  t.is(same['cookie'], 'session=1');
});

t0(title('a body shorter than its Content-Length is refused'), async (t) => {
  const r = await httpGet(`${a.url}/short`);
  t.is(r.status, 200);
  const err = await failure(t, readAll(r));
  t.regex(err.message, new RegExp(`^cannot fetch ${a.url}/short: `));
  await failure(t, httpGetText(`${a.url}/short`));
});

t0(title('a chunked body cut before its last chunk is refused'), async (t) => {
  const r = await httpGet(`${a.url}/chunked-cut`);
  await failure(t, readAll(r));
});

t0(title('a response with two different Content-Lengths, or one that is not a number, is refused'), async (t) => {
  for (const p of ['/two-lengths', '/bad-length']) {
    const err = await failure(t, httpGet(`${a.url}${p}`).then(readAll));
    t.regex(err.message, new RegExp(`^cannot fetch ${a.url}${p}: invalid HTTP response`), p);
  }
});
