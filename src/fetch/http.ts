/**
 * The only HTTP client in rkt: GET with redirects, per-request TLS settings and bounded waits. Every failure is an
 * RktError with code EHTTP whose message names the URL. Plain http is refused unless the caller allows it, on the
 * first request and on every redirect.
 *
 * TLS trusts the system CA bundle, found as rkt's Go client found it (SSL_CERT_FILE, else the first of the usual
 * distribution paths; Node's bundled roots only when there is none), plus the file named by NODE_EXTRA_CA_CERTS.
 * Node's default is its bundled roots plus NODE_EXTRA_CA_CERTS, and an explicit CA list replaces that default,
 * so the list is built here, once per process (about 40 ms for Debian's 144 roots).
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import { describe, isErrno, RktError } from '../common/errors.js';
import { RKT_VERSION } from '../common/version.js';

export interface HttpOptions {
  /** Skip certificate checks (`--insecure-options=tls`). */
  readonly insecureTls?: boolean;
  /** Allow plain `http://`, also as a redirect target (`--insecure-options=http`). */
  readonly allowHttp?: boolean;
  /** Request headers; names are case-insensitive. Authorization and Cookie are dropped on a cross-origin redirect. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Redirects followed before giving up; default 10. With 0 any redirect is an error. */
  readonly maxRedirects?: number;
  /**
   * How long to wait for the connection and the response headers, in ms; default 30000. The same span bounds a
   * silence of the server while the body is being read, and in httpGetText the whole body.
   */
  readonly timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  /** The URL that answered, after redirects. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /**
   * The body, not yet read: the caller reads it to the end or destroys it (which closes the connection). Errors
   * it emits are EHTTP RktErrors.
   */
  readonly body: Readable;
}

const DEFAULT_MAX_REDIRECTS = 10;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_TEXT_BYTES = 1 << 20;
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Request headers that carry credentials for one origin only. */
const ORIGIN_BOUND_HEADERS: readonly string[] = ['authorization', 'cookie', 'proxy-authorization'];

/** Where distributions keep their CA bundle, in the order Go's crypto/x509 looks (the first found is used). */
const SYSTEM_CA_BUNDLES: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Gentoo, Arch
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7
  '/etc/ssl/cert.pem', // Alpine
];

/** OpenSSL's certificate verification failures as Node reports them (err.code), plus Node's own name check. */
const CERTIFICATE_ERRORS: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_CRL', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE', 'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'CRL_NOT_YET_VALID', 'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD', 'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED',
  'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

let trustedContext: tls.SecureContext | undefined;

/** PEM text of a CA file, or undefined if it does not exist. */
function readCaFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw new RktError('EHTTP', `cannot read CA certificates from ${file}: ${describe(err)}`, { cause: err });
  }
}

/** The TLS context with every trusted root (see the file comment); built on first use. */
function secureContext(): tls.SecureContext {
  if (trustedContext !== undefined) return trustedContext;
  const certFile = process.env['SSL_CERT_FILE'];
  const candidates = certFile !== undefined && certFile !== '' ? [certFile] : SYSTEM_CA_BUNDLES;
  let system: string | undefined;
  for (const file of candidates) {
    system = readCaFile(file);
    if (system !== undefined) break;
  }
  const ca: string[] = system !== undefined ? [system] : [...tls.rootCertificates];
  const extra = process.env['NODE_EXTRA_CA_CERTS'];
  if (extra !== undefined && extra !== '') {
    const pem = readCaFile(extra);
    if (pem !== undefined) ca.push(pem);
  }
  try {
    trustedContext = tls.createSecureContext({ ca });
  } catch (err) {
    throw new RktError('EHTTP', `cannot load the trusted CA certificates: ${describe(err)}`, { cause: err });
  }
  return trustedContext;
}

/** The URL as shown in messages: a password in it is masked. */
function show(url: URL): string {
  if (url.password === '') return url.href;
  const masked = new URL(url.href);
  masked.password = 'xxxxx';
  return masked.href;
}

function plainHttpRefused(url: URL, redirectedFrom?: URL): RktError {
  const from = redirectedFrom === undefined ? '' : `: redirected from ${show(redirectedFrom)}`;
  return new RktError('EHTTP', `refusing to fetch ${show(url)} over plain http (use --insecure-options=http)${from}`);
}

/** An error from the socket, TLS or HTTP parser as an EHTTP RktError naming `url`. */
function networkError(err: unknown, url: URL): RktError {
  if (err instanceof RktError) return err;
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  const where = show(url);
  const fail = (message: string) => new RktError('EHTTP', message, { cause: err });
  const reason = err instanceof Error ? err.message : String(err);
  if (code !== undefined && CERTIFICATE_ERRORS.has(code)) {
    return fail(`TLS error fetching ${where}: ${reason} (use --insecure-options=tls to skip certificate checks)`);
  }
  if (code !== undefined && (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO')) {
    return fail(`TLS error fetching ${where}: ${reason}`);
  }
  switch (code) {
    case 'ECONNREFUSED': return fail(`cannot fetch ${where}: connection refused`);
    case 'ECONNRESET': return fail(`cannot fetch ${where}: connection reset by the server`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return fail(`cannot fetch ${where}: cannot resolve host "${url.hostname}"`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH': return fail(`cannot fetch ${where}: host "${url.hostname}" is unreachable`);
    case 'HPE_HEADER_OVERFLOW': return fail(`cannot fetch ${where}: the response headers are too large`);
    default:
      if (code !== undefined && code.startsWith('HPE_')) return fail(`cannot fetch ${where}: invalid HTTP response (${reason})`);
      return fail(`cannot fetch ${where}: ${describe(err)}`);
  }
}

function parseUrl(url: string, context: string): URL {
  try {
    return new URL(url);
  } catch (err) {
    if (isErrno(err, 'ERR_INVALID_URL')) throw new RktError('EHTTP', `${context}: "${url}" is not a valid URL`, { cause: err });
    throw err;
  }
}

/** One GET, resolved when the response headers are in; `timeoutMs` bounds the connection and the headers. */
function requestOnce(url: URL, headers: Record<string, string>, opts: HttpOptions, timeoutMs: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      method: 'GET',
      headers,
      // A fresh agent per request (keep-alive off): TLS settings differ per call and no socket outlives its response.
      agent: false,
    };
    let req: http.ClientRequest;
    if (url.protocol === 'https:') {
      // secureContext is passed on to tls.connect, though RequestOptions does not declare it.
      const tlsOptions: https.RequestOptions & Pick<tls.ConnectionOptions, 'secureContext'> = {
        ...options,
        secureContext: secureContext(),
        rejectUnauthorized: opts.insecureTls !== true,
      };
      req = https.request(url, tlsOptions);
    } else {
      req = http.request(url, options);
    }
    const timer = setTimeout(() => {
      req.destroy(new RktError('EHTTP', `cannot fetch ${show(url)}: no response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(networkError(err, url));
    });
    req.end();
  });
}

/**
 * The body of `res` as a stream that reports failures as EHTTP errors and fails when the server stays silent
 * for `idleMs` while the reader is waiting for data (a reader that is not reading never times out).
 */
function bodyOf(res: IncomingMessage, url: URL, idleMs: number): Readable {
  let timer: NodeJS.Timeout | undefined;
  const disarm = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  const arm = () => {
    disarm();
    timer = setTimeout(() => {
      body.destroy(new RktError('EHTTP', `cannot fetch ${show(url)}: the server sent nothing for ${idleMs} ms`));
    }, idleMs);
  };
  const body = new Readable({
    read() {
      arm();
      res.resume();
    },
    destroy(err, callback) {
      disarm();
      res.destroy();
      callback(err);
    },
  });
  res.on('data', (chunk: Buffer) => {
    if (body.push(chunk)) {
      arm();
    } else {
      disarm();
      res.pause();
    }
  });
  res.pause();
  res.on('end', () => {
    disarm();
    body.push(null);
  });
  res.on('error', (err) => body.destroy(networkError(err, url)));
  res.on('aborted', () => body.destroy(new RktError('EHTTP', `cannot fetch ${show(url)}: the connection closed before the body ended`)));
  return body;
}

/**
 * GET `url`, following up to `maxRedirects` redirects (301, 302, 303, 307, 308) to http(s) URLs only; plain http,
 * first or redirected to, only with `allowHttp`. Resolves once the final response's headers are in, whatever its
 * status (a 304 or 404 is the caller's to judge); the body is left unread.
 */
export async function httpGet(url: string, opts: HttpOptions = {}): Promise<HttpResponse> {
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const headers: Record<string, string> = { 'user-agent': `rkt/${RKT_VERSION}` };
  for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name.toLowerCase()] = value;

  let current = parseUrl(url, 'cannot fetch');
  let previous: URL | undefined;
  for (let redirects = 0; ; redirects++) {
    if (current.protocol !== 'https:' && current.protocol !== 'http:') {
      const why = previous === undefined
        ? `cannot fetch ${show(current)}: only http and https URLs are supported`
        : `refusing to follow the redirect from ${show(previous)} to ${show(current)}: only http and https URLs are supported`;
      throw new RktError('EHTTP', why);
    }
    if (current.protocol === 'http:' && opts.allowHttp !== true) throw plainHttpRefused(current, previous);
    if (previous !== undefined && previous.origin !== current.origin) {
      for (const name of ORIGIN_BOUND_HEADERS) delete headers[name];
    }
    const res = await requestOnce(current, headers, opts, timeoutMs);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!REDIRECT_STATUSES.has(status) || location === undefined) {
      return { status, url: current.href, headers: res.headers, body: bodyOf(res, current, timeoutMs) };
    }
    res.destroy();
    if (redirects >= maxRedirects) {
      throw new RktError('EHTTP', `cannot fetch ${show(parseUrl(url, 'cannot fetch'))}: too many redirects (more than ${maxRedirects})`);
    }
    let next: URL;
    try {
      next = new URL(location, current);
    } catch (err) {
      if (!isErrno(err, 'ERR_INVALID_URL')) throw err;
      throw new RktError('EHTTP', `cannot fetch ${show(current)}: the server redirected to an invalid URL "${location}"`, { cause: err });
    }
    previous = current;
    current = next;
  }
}

/**
 * GET `url` as httpGet does and read the body as UTF-8 text of at most `maxBytes` bytes (default 1 MiB), within
 * `timeoutMs` of the headers. Any status is returned; a longer body is an EHTTP error.
 */
export async function httpGetText(
  url: string,
  opts: HttpOptions = {},
  maxBytes: number = DEFAULT_MAX_TEXT_BYTES,
): Promise<{ status: number; url: string; headers: IncomingHttpHeaders; text: string }> {
  const res = await httpGet(url, opts);
  const where = show(new URL(res.url));
  const tooLarge = () => new RktError('EHTTP', `cannot fetch ${where}: the response body is larger than ${maxBytes} bytes`);
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.body.destroy();
    throw tooLarge();
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(() => {
    res.body.destroy(new RktError('EHTTP', `cannot fetch ${where}: the body did not arrive within ${timeoutMs} ms`));
  }, timeoutMs);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > maxBytes) {
        res.body.destroy();
        throw tooLarge();
      }
      chunks.push(buf);
    }
  } finally {
    clearTimeout(timer);
  }
  return { status: res.status, url: res.url, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
}

/**
 * The max-age of a Cache-Control header in seconds: `public, max-age=3600` → 3600. Undefined when the header is
 * absent, has no valid max-age, or says no-cache or no-store (the response must not be reused unchecked).
 */
export function parseCacheControlMaxAge(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  let maxAge: number | undefined;
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === 'no-cache' || name === 'no-store') return undefined;
    if (name !== 'max-age' || eq === -1 || maxAge !== undefined) continue;
    const value = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (/^\d+$/.test(value)) maxAge = Math.min(Number(value), 2 ** 31 - 1);
  }
  return maxAge;
}
