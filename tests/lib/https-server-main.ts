/**
 * The test server run inside a netns (see tests/lib/netns.ts for the config format):
 *   node --import tsx tests/lib/https-server-main.ts CONFIG.json
 * Serves routes and static files over https and/or http, logs each request as a JSON line, and writes the
 * "ready" file once listening. Runs until killed.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { LoggedRequest, ServerConfig, ServerRoute } from './netns.js';

const MAX_DELAY_MS = 60_000;

function fail(why: string): never {
  process.stderr.write(`https-server-main: ${why}\n`);
  process.exit(2);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Check the parsed config has the documented shape (it is test input, but a typo should say so, not misbehave). */
function readConfig(file: string): ServerConfig {
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isRecord(raw)) fail('the config is not a JSON object');
  const str = (o: Record<string, unknown>, k: string, where: string) => {
    if (o[k] !== undefined && typeof o[k] !== 'string') fail(`${where}.${k} must be a string`);
  };
  const num = (o: Record<string, unknown>, k: string, where: string, nullable = false) => {
    const v = o[k];
    if (v === undefined || (nullable && v === null)) return;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${where}.${k} must be a non-negative integer`);
  };
  const strMap = (o: Record<string, unknown>, k: string, where: string) => {
    const v = o[k];
    if (v === undefined) return;
    if (!isRecord(v) || Object.values(v).some((x) => typeof x !== 'string')) fail(`${where}.${k} must map names to strings`);
  };
  for (const k of ['cert', 'key', 'host', 'root', 'requestLog', 'ready']) str(raw, k, 'config');
  num(raw, 'httpsPort', 'config', true);
  num(raw, 'httpPort', 'config', true);
  if (raw['static'] !== undefined && !isRecord(raw['static'])) fail('config.static must be an object');
  const routes = raw['routes'] ?? [];
  if (!Array.isArray(routes)) fail('config.routes must be an array');
  routes.forEach((r: unknown, i) => {
    const where = `config.routes[${i}]`;
    if (!isRecord(r)) fail(`${where} must be an object`);
    if (typeof r['path'] !== 'string' || !r['path'].startsWith('/')) fail(`${where}.path must be a path starting with /`);
    for (const k of ['host', 'body', 'file', 'redirect', 'etag', 'cacheControl']) str(r, k, where);
    for (const k of ['times', 'status', 'acceptedTimes', 'delayMs', 'abortAfterBytes']) num(r, k, where);
    strMap(r, 'query', where);
    strMap(r, 'headers', where);
    if (r['scheme'] !== undefined && r['scheme'] !== 'https' && r['scheme'] !== 'http') fail(`${where}.scheme must be "https" or "http"`);
    if (r['ranges'] !== undefined && typeof r['ranges'] !== 'boolean') fail(`${where}.ranges must be a boolean`);
    if (r['body'] !== undefined && r['file'] !== undefined) fail(`${where} has both body and file`);
  });
  return raw as ServerConfig;
}

const config = readConfig(process.argv[2] ?? fail('usage: https-server-main.ts CONFIG.json'));
const routes = config.routes ?? [];
const matched = routes.map(() => 0);

function routeMatches(route: ServerRoute, scheme: string, host: string, url: URL): boolean {
  if (route.scheme !== undefined && route.scheme !== scheme) return false;
  if (route.host !== undefined && route.host.toLowerCase() !== host) return false;
  if (route.path.endsWith('*') ? !url.pathname.startsWith(route.path.slice(0, -1)) : url.pathname !== route.path) return false;
  for (const [k, v] of Object.entries(route.query ?? {})) if (url.searchParams.get(k) !== v) return false;
  return route.times === undefined || (matched[routes.indexOf(route)] ?? 0) < route.times;
}

/** The file under root for a static request, or undefined (missing, a directory, or escaping root). */
function staticFile(host: string, pathname: string): string | undefined {
  if (config.root === undefined) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch (err) {
    if (err instanceof URIError) return undefined;
    throw err;
  }
  if (decoded.split('/').includes('..') || host.includes('/') || host === '..') return undefined;
  const file = path.join(config.root, host, decoded);
  try {
    return statSync(file).isFile() ? file : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  content: Buffer;
  etag: string | undefined;
  ranges: boolean;
  abortAfterBytes: number | undefined;
}

function etagListed(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').map((s) => s.trim()).some((t) => t === '*' || t === etag || t === `W/${etag}`);
}

/** Apply Range / If-Range to a 200 answer. */
function applyRange(req: http.IncomingMessage, a: Answer): void {
  const range = req.headers.range;
  if (!a.ranges || a.status !== 200 || range === undefined) return;
  const ifRange = req.headers['if-range'];
  if (ifRange !== undefined && (a.etag === undefined || ifRange !== a.etag)) return;
  const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return; // several ranges or nonsense: send the whole body
  const size = a.content.length;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) {
    a.status = 416;
    a.headers['content-range'] = `bytes */${size}`;
    a.content = Buffer.alloc(0);
    return;
  }
  a.status = 206;
  a.headers['content-range'] = `bytes ${start}-${end}/${size}`;
  a.content = a.content.subarray(start, end + 1);
}

function handle(scheme: 'https' | 'http', req: http.IncomingMessage, res: http.ServerResponse): void {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  const url = new URL(req.url ?? '/', `${scheme}://${host === '' ? 'unknown' : host}`);
  const index = routes.findIndex((r) => routeMatches(r, scheme, host, url));
  const route = routes[index];
  let answeredBy: LoggedRequest['answeredBy'] = 'none';
  const a: Answer = { status: 404, headers: { 'content-type': 'text/plain' }, content: Buffer.from('not found\n'), etag: undefined, ranges: false, abortAfterBytes: undefined };
  let delayMs = 0;
  if (route !== undefined) {
    answeredBy = index;
    const n = (matched[index] ?? 0) + 1;
    matched[index] = n;
    delayMs = Math.min(route.delayMs ?? 0, MAX_DELAY_MS);
    if (n <= (route.acceptedTimes ?? 0)) {
      Object.assign(a, { status: 202, headers: {}, content: Buffer.alloc(0) });
    } else {
      a.status = route.status ?? (route.redirect !== undefined ? 302 : 200);
      a.headers = {};
      if (route.file !== undefined) {
        a.content = readFileSync(path.resolve(config.root ?? '/', route.file));
        a.headers['content-type'] = 'application/octet-stream';
      } else {
        a.content = Buffer.from(route.body ?? '');
        a.headers['content-type'] = 'text/html; charset=utf-8';
      }
      if (route.redirect !== undefined) a.headers['location'] = route.redirect;
      if (route.cacheControl !== undefined) a.headers['cache-control'] = route.cacheControl;
      a.etag = route.etag;
      a.ranges = route.ranges === true;
      a.abortAfterBytes = route.abortAfterBytes;
      Object.assign(a.headers, route.headers ?? {});
    }
  } else {
    const file = staticFile(host, url.pathname);
    if (file !== undefined) {
      answeredBy = 'static';
      a.status = 200;
      a.content = readFileSync(file);
      a.headers = { 'content-type': 'application/octet-stream' };
      if (config.static?.etag === true) a.etag = `"${createHash('sha256').update(a.content).digest('hex').slice(0, 32)}"`;
      if (config.static?.cacheControl !== undefined) a.headers['cache-control'] = config.static.cacheControl;
      a.ranges = config.static?.ranges === true;
    }
  }
  if (a.etag !== undefined) {
    a.headers['etag'] = a.etag;
    if (a.status === 200 && etagListed(req.headers['if-none-match'], a.etag)) {
      a.status = 304;
      a.content = Buffer.alloc(0);
    }
  }
  if (a.ranges && a.status === 200) a.headers['accept-ranges'] = 'bytes';
  applyRange(req, a);

  if (config.requestLog !== undefined) {
    const entry: LoggedRequest = { scheme, method: req.method ?? '', host, url: req.url ?? '', headers: req.headers, answeredBy };
    appendFileSync(config.requestLog, `${JSON.stringify(entry)}\n`);
  }
  const send = () => {
    if (a.status !== 304) a.headers['content-length'] = String(a.content.length);
    res.writeHead(a.status, a.headers);
    if (req.method === 'HEAD' || a.status === 304) {
      res.end();
    } else if (a.abortAfterBytes !== undefined && a.abortAfterBytes < a.content.length) {
      res.write(a.content.subarray(0, a.abortAfterBytes), () => res.destroy());
    } else {
      res.end(a.content);
    }
  };
  if (delayMs > 0) setTimeout(send, delayMs);
  else send();
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, config.host ?? '127.0.0.1', () => resolve());
  });
}

const listening: Record<string, number> = {};
if (config.httpsPort !== null) {
  if (config.cert === undefined || config.key === undefined) fail('config.cert and config.key are needed for https (or set "httpsPort": null)');
  const server = https.createServer({ cert: readFileSync(config.cert), key: readFileSync(config.key) }, (req, res) => handle('https', req, res));
  await listen(server, config.httpsPort ?? 443);
  listening['https'] = config.httpsPort ?? 443;
}
if (config.httpPort !== null) {
  const server = http.createServer((req, res) => handle('http', req, res));
  await listen(server, config.httpPort ?? 80);
  listening['http'] = config.httpPort ?? 80;
}
if (config.ready !== undefined) writeFileSync(config.ready, `${JSON.stringify({ pid: process.pid, ...listening })}\n`);
process.stdout.write(`https-server-main: listening ${JSON.stringify(listening)}\n`);
