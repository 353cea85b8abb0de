/**
 * Test fixtures for HTTP(S): a throwaway CA and server certificate made with the openssl CLI at test time
 * (nothing is committed), and small servers on loopback that record what they were asked.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface TestCa {
  /** PEM file of the CA certificate (for NODE_EXTRA_CA_CERTS or SSL_CERT_FILE). */
  readonly caCert: string;
  /** PEM file of the server certificate, signed by the CA. */
  readonly serverCert: string;
  /** PEM file of the server's private key. */
  readonly serverKey: string;
}

/** The names the server certificate is valid for. */
export const SERVER_CERT_NAMES = ['DNS:localhost', 'DNS:example.com', 'DNS:*.example.com', 'IP:127.0.0.1'] as const;

/**
 * Make a CA and a server certificate for localhost, example.com, *.example.com and 127.0.0.1 in `dir` (created
 * if missing; P-256 keys, valid for two days).
 */
export function makeTestCa(dir: string): TestCa {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=rkt test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(f('server.ext'), [
    `subjectAltName=${SERVER_CERT_NAMES.join(',')}`,
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext')]);
  return { caCert: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key') };
}

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

export type Routes = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export interface TestServer {
  readonly port: number;
  /** `https://HOST:PORT` (or http), without a trailing slash. */
  readonly url: string;
  /** Every request received, oldest first (at most MAX_RECORDED). */
  readonly requests: RecordedRequest[];
  /** Stop listening and drop every open connection. */
  close(): Promise<void>;
}

/** The most requests a server records; a client in a loop must not grow a test's memory without bound. */
export const MAX_RECORDED = 1000;

async function serve(server: http.Server | https.Server, scheme: string, routes: Routes, port: number, host: string, requests: RecordedRequest[]): Promise<TestServer> {
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (requests.length < MAX_RECORDED) requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    Promise.resolve()
      .then(() => routes(req, res))
      .catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`test server route failed: ${String(err)}`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    port: bound,
    url: `${scheme}://${urlHost}:${bound}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** An HTTPS server on `host` (default 127.0.0.1) and `port` (default: any free one) answering with `routes`. */
export function startHttpsServer(opts: { cert: string; key: string; port?: number; host?: string; routes: Routes }): Promise<TestServer> {
  const server = https.createServer({ cert: readFileSync(opts.cert), key: readFileSync(opts.key) });
  return serve(server, 'https', opts.routes, opts.port ?? 0, opts.host ?? '127.0.0.1', []);
}

/** A plain HTTP server, as startHttpsServer. */
export function startHttpServer(opts: { port?: number; host?: string; routes: Routes }): Promise<TestServer> {
  return serve(http.createServer(), 'http', opts.routes, opts.port ?? 0, opts.host ?? '127.0.0.1', []);
}
