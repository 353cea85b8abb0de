/**
 * Fixtures for `rkt fetch` tests: OpenPGP keys made with gpg at test time in a throwaway GNUPGHOME, images built
 * and signed at test time, trust given by writing key files into a local config dir, and a loopback HTTPS "site"
 * whose resources can be changed while a test runs and which logs what it answered (status, body bytes sent).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { buildAci } from '../../src/image/aci-build.js';
import type { Compression } from '../../src/image/compression.js';
import { startHttpsServer, type TestServer } from './https.js';

export interface SigningKey {
  readonly uid: string;
  /** Lowercase hex fingerprint of the primary key (the key file's name in the trust store). */
  readonly fingerprint: string;
  /** Lowercase hex long key ID (what an untrusted-signer error names). */
  readonly keyId: string;
  readonly armored: string;
}

/** A gpg home with keys made on demand; `close` stops its agent. */
export class Signer {
  readonly home: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(dir: string) {
    this.home = path.join(dir, 'gnupg');
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    this.env = { ...process.env, GNUPGHOME: this.home };
  }

  private gpg(args: readonly string[]): string {
    return execFileSync('gpg', ['--batch', '--quiet', '--no-tty', '--passphrase', '', '--pinentry-mode', 'loopback', ...args],
      { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  }

  /** A new ed25519 signing key for `uid` (`Name <mail>`). */
  makeKey(uid: string): SigningKey {
    this.gpg(['--quick-gen-key', uid, 'ed25519', 'sign', 'never']);
    const colons = this.gpg(['--with-colons', '--list-keys', uid]).split('\n');
    const fingerprint = (colons.find((l) => l.startsWith('fpr:'))?.split(':')[9] ?? '').toLowerCase();
    const keyId = (colons.find((l) => l.startsWith('pub:'))?.split(':')[4] ?? '').toLowerCase();
    if (fingerprint === '' || keyId === '') throw new Error(`gpg made no key for ${uid}`);
    return { uid, fingerprint, keyId, armored: this.gpg(['--armor', '--export', uid]) };
  }

  /** An armored detached signature of `file` by `key`. */
  sign(file: string, key: SigningKey): string {
    return this.gpg(['--armor', '--detach-sign', '--local-user', `${key.fingerprint}!`, '--output', '-', file]);
  }

  close(): void {
    execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: this.env, stdio: 'ignore' });
  }
}

/** Trust `key` for images under `prefix` in the config dir `localConfig`, as `rkt trust --prefix` would store it. */
export function trustKey(localConfig: string, prefix: string, key: SigningKey): void {
  const dir = path.join(localConfig, 'trustedkeys/prefix.d', ...prefix.split('/'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, key.fingerprint), key.armored);
}

export interface BuiltImage {
  readonly file: string;
  /** The full Image ID (sha512 of the uncompressed tar). */
  readonly id: string;
  /** What `rkt fetch` prints. */
  readonly shortId: string;
}

let built = 0;
/**
 * Build an image named `name` in `dir` with `labels` (os and arch default to linux/amd64), a rootfs holding
 * `hello` and, with `randomBytes`, an incompressible file of that size.
 */
export async function buildImage(dir: string, name: string, opts: { labels?: Readonly<Record<string, string>>; compression?: Compression; randomBytes?: number } = {}): Promise<BuiltImage> {
  const src = path.join(dir, `image-${++built}`);
  mkdirSync(path.join(src, 'rootfs'), { recursive: true });
  const labels = { os: 'linux', arch: 'amd64', ...opts.labels };
  writeFileSync(path.join(src, 'manifest'), JSON.stringify({
    acKind: 'ImageManifest', acVersion: '0.8.11', name,
    labels: Object.entries(labels).map(([n, value]) => ({ name: n, value })),
    app: { exec: ['/bin/sh'], user: '0', group: '0' },
  }));
  writeFileSync(path.join(src, 'rootfs/hello'), `${name} ${JSON.stringify(labels)}\n`);
  if (opts.randomBytes !== undefined) writeFileSync(path.join(src, 'rootfs/random'), randomBytes(opts.randomBytes));
  const file = `${src}.aci`;
  const info = await buildAci(src, file, opts.compression ?? 'none');
  return { file, id: info.imageId, shortId: info.imageId.slice(0, 'sha512-'.length + 32) };
}

/** How a site answers for one path. */
export interface Resource {
  readonly body: Buffer | string;
  readonly status?: number;
  readonly etag?: string;
  readonly lastModified?: string;
  readonly cacheControl?: string;
  /** Honour `Range: bytes=N-` (and If-Range) with 206. */
  readonly ranges?: boolean;
  /** Location of a redirect (status 302 unless `status` says). */
  readonly redirect?: string;
  /** The first N requests get 202 Accepted with an empty body. */
  readonly accepted?: number;
  /** The first `times` answers send this many body bytes, then drop the connection. */
  readonly cut?: { readonly afterBytes: number; readonly times: number };
  /** Send `afterBytes` of the body at once, then `chunk` bytes every `everyMs`. */
  readonly drip?: { readonly afterBytes: number; readonly chunk: number; readonly everyMs: number };
  /** Wait this long before answering. */
  readonly delayMs?: number;
}

/** One request and what the site did with it. */
export interface Answered {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  status: number;
  /** Body bytes written so far. */
  sent: number;
}

export interface Site {
  readonly server: TestServer;
  /** `https://127.0.0.1:PORT`. */
  readonly url: string;
  readonly log: Answered[];
  /** Answer `p` with `r` from now on (undefined: 404). */
  set(p: string, r: Resource | undefined): void;
  close(): Promise<void>;
}

/** An HTTPS site on 127.0.0.1 answering from a table of resources by path. */
export async function startSite(tls: { cert: string; key: string }, resources: Readonly<Record<string, Resource>>): Promise<Site> {
  const table = new Map(Object.entries(resources));
  const counts = new Map<string, number>();
  const log: Answered[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const answer = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const p = new URL(req.url ?? '/', 'https://site').pathname;
    const entry: Answered = { path: p, headers: req.headers, status: 0, sent: 0 };
    log.push(entry);
    const r = table.get(p);
    const n = (counts.get(p) ?? 0) + 1;
    counts.set(p, n);
    const send = (status: number, headers: Record<string, string>, body: Buffer) => {
      entry.status = status;
      res.writeHead(status, headers);
      const write = (b: Buffer, cb?: () => void) => {
        entry.sent += b.length;
        res.write(b, cb);
      };
      if (r?.cut !== undefined && n <= r.cut.times && body.length > r.cut.afterBytes) {
        write(body.subarray(0, r.cut.afterBytes), () => res.destroy());
      } else if (r?.drip !== undefined && body.length > r.drip.afterBytes) {
        const { chunk, everyMs } = r.drip;
        let at = r.drip.afterBytes;
        write(body.subarray(0, at));
        const timer = setInterval(() => {
          if (res.destroyed || at >= body.length) {
            clearInterval(timer);
            timers.delete(timer);
            res.end();
            return;
          }
          write(body.subarray(at, at + chunk));
          at += chunk;
        }, everyMs);
        timers.add(timer);
        res.on('close', () => { clearInterval(timer); timers.delete(timer); });
      } else {
        entry.sent += body.length;
        res.end(body);
      }
    };
    if (r === undefined) return send(404, { 'content-type': 'text/plain' }, Buffer.from('not found\n'));
    if (n <= (r.accepted ?? 0)) return send(202, { 'content-length': '0' }, Buffer.alloc(0));
    if (r.redirect !== undefined) return send(r.status ?? 302, { location: r.redirect, 'content-length': '0' }, Buffer.alloc(0));
    let body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (r.etag !== undefined) headers['etag'] = r.etag;
    if (r.lastModified !== undefined) headers['last-modified'] = r.lastModified;
    if (r.cacheControl !== undefined) headers['cache-control'] = r.cacheControl;
    if (r.etag !== undefined && req.headers['if-none-match'] === r.etag) return send(304, headers, Buffer.alloc(0));
    let status = r.status ?? 200;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (r.ranges === true && range !== null && (ifRange === undefined || ifRange === r.etag || ifRange === r.lastModified)) {
      const start = Number(range[1]);
      if (start >= body.length) return send(416, { 'content-range': `bytes */${body.length}`, 'content-length': '0' }, Buffer.alloc(0));
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
      body = body.subarray(start);
      status = 206;
    }
    if (r.ranges === true) headers['accept-ranges'] = 'bytes';
    headers['content-length'] = String(body.length);
    return send(status, headers, body);
  };
  const server = await startHttpsServer({
    cert: tls.cert, key: tls.key,
    routes: (req, res) => {
      const delay = table.get(new URL(req.url ?? '/', 'https://site').pathname)?.delayMs ?? 0;
      if (delay > 0) {
        const timer = setTimeout(() => { timers.delete(timer); answer(req, res); }, delay);
        timers.add(timer);
      } else {
        answer(req, res);
      }
    },
  });
  return {
    server, url: server.url, log,
    set: (p, r) => { if (r === undefined) table.delete(p); else table.set(p, r); },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      await server.close();
    },
  };
}
