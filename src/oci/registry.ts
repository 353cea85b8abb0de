/**
 * The registry v2 client: manifests by tag or digest (with the Accept of every kind rkt reads), blobs by digest
 * verified while they stream to disk, and authentication as the registry asks for it (a bearer token from the
 * `WWW-Authenticate` challenge, anonymous or with credentials; or basic auth). All HTTP goes through
 * src/fetch/http.ts, so TLS (system CAs, `--insecure-options=tls`), plain http only with `--insecure-options=http`,
 * and redirects to blob storage (no downgrade, no credentials across origins) follow the ACI fetcher's rules.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RktError } from '../common/errors.js';
import type { BasicCredentials } from '../common/config.js';
import { httpGet, httpGetText, type HttpOptions, type HttpResponse } from '../fetch/http.js';
import { parseChallenge, registryMessage, tokenOf, tokenUrl } from './auth.js';
import { MANIFEST_ACCEPT } from './manifest.js';
import { registryApiHost, type RegistryReference } from './reference.js';

export interface RegistryOptions {
  readonly allowHttp: boolean;
  readonly insecureTls: boolean;
  /** Credentials for this registry (auth.d `dockerAuth`), if any. */
  readonly credentials?: BasicCredentials;
  readonly note?: (msg: string) => void;
}

export interface FetchedManifest {
  readonly bytes: Buffer;
  /** sha256 of the bytes, as `sha256:<hex>`. */
  readonly digest: string;
  readonly contentType: string | undefined;
}

const MAX_MANIFEST_BYTES = 4 << 20;
const AUTH_HINT = 'give the registry\'s credentials in an auth.d file: {"rktKind":"dockerAuth","rktVersion":"v1","registries":["REGISTRY"],"credentials":{"user":"…","password":"…"}}';

/** The credentials auth.d gives for `registry`, trying its name as written, then its API host. */
export function credentialsFor(dockerAuth: ReadonlyMap<string, BasicCredentials>, registry: string): BasicCredentials | undefined {
  return dockerAuth.get(registry) ?? dockerAuth.get(registryApiHost(registry))
    ?? (registry === 'docker.io' ? dockerAuth.get('index.docker.io') ?? dockerAuth.get('https://index.docker.io/v1/') : undefined);
}

function basic(c: BasicCredentials): string {
  return `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;
}

/** A stream that computes sha256 of what passes and fails at the end if it is not `digest` (or not `size` bytes). */
export function digestVerifier(digest: string, size: number | undefined, what: string): Transform {
  const hash = createHash('sha256');
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      if (size !== undefined && n > size) {
        done(new RktError('EOCIDIGEST', `${what}: more than the ${size} bytes its descriptor declares`));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      const got = `sha256:${hash.digest('hex')}`;
      if (size !== undefined && n !== size) done(new RktError('EOCIDIGEST', `${what}: ${n} bytes, its descriptor declares ${size}`));
      else if (got !== digest) done(new RktError('EOCIDIGEST', `${what}: content does not match its digest (got ${got}, want ${digest})`));
      else done();
    },
  });
}

export class RegistryClient {
  private authorization: string | undefined;
  private readonly base: string;
  constructor(private readonly ref: RegistryReference, private readonly opts: RegistryOptions) {
    this.base = `${opts.allowHttp ? 'http' : 'https'}://${registryApiHost(ref.registry)}/v2/${ref.repository}`;
  }

  private http(extra: Record<string, string>): HttpOptions {
    const headers: Record<string, string> = { ...extra };
    if (this.authorization !== undefined) headers['authorization'] = this.authorization;
    return { allowHttp: this.opts.allowHttp, insecureTls: this.opts.insecureTls, headers };
  }

  /** The registry's own words for a failed response, read from its (bounded) body. */
  private static async said(res: HttpResponse): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += (c as Buffer).length;
      if (size > 65536) { res.body.destroy(); break; }
      chunks.push(c as Buffer);
    }
    return registryMessage(Buffer.concat(chunks).toString('utf8')) ?? `HTTP ${res.status}`;
  }

  /** Answer a 401: get a bearer token as the challenge says, or use basic auth. Throws when nothing can be tried. */
  private async authenticate(res: HttpResponse, url: string): Promise<void> {
    const raw = res.headers['www-authenticate'];
    const challenge = parseChallenge(Array.isArray(raw) ? raw[0] : raw);
    const creds = this.opts.credentials;
    const said = await RegistryClient.said(res);
    const refused = (why: string) => new RktError('EREGISTRY', `${this.ref.registry}: ${why} (fetching ${url}): ${said}`, {
      hint: creds === undefined ? AUTH_HINT : 'check the user and password the auth.d dockerAuth file gives for this registry',
    });
    if (challenge?.scheme === 'basic') {
      if (creds === undefined || this.authorization === basic(creds)) throw refused(creds === undefined ? 'authentication required' : 'the credentials were refused');
      this.authorization = basic(creds);
      return;
    }
    if (challenge?.scheme !== 'bearer') throw refused('authentication required by an unsupported scheme');
    if (this.authorization?.startsWith('Bearer ') === true) throw refused(creds === undefined ? 'anonymous access refused' : 'the credentials were refused');
    const tokenAt = tokenUrl(challenge, this.ref.repository);
    if (tokenAt === undefined) throw refused('its bearer challenge names no token realm');
    const tok = await httpGetText(tokenAt, {
      allowHttp: this.opts.allowHttp, insecureTls: this.opts.insecureTls,
      ...(creds !== undefined ? { headers: { authorization: basic(creds) } } : {}),
    });
    if (tok.status !== 200) {
      throw new RktError('EREGISTRY', `${this.ref.registry}: its token service refused ${creds === undefined ? 'an anonymous token' : 'the credentials'} (HTTP ${tok.status}): ${registryMessage(tok.text) ?? ''}`.trimEnd(), {
        hint: creds === undefined ? AUTH_HINT : 'check the user and password the auth.d dockerAuth file gives for this registry',
      });
    }
    const token = tokenOf(tok.text);
    if (token === undefined) throw new RktError('EREGISTRY', `${this.ref.registry}: its token service gave no token`);
    this.authorization = `Bearer ${token}`;
  }

  /** GET `path` under the repository, authenticating on a 401 (at most twice). Returns a 2xx response. */
  private async get(path: string, accept: string | undefined, what: string): Promise<HttpResponse> {
    const url = `${this.base}/${path}`;
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await httpGet(url, this.http(accept !== undefined ? { accept } : {}));
      } catch (err) {
        // A registry that speaks plain http fails the TLS handshake: say which flag reaches it.
        if (err instanceof RktError && !this.opts.allowHttp && /^TLS error/.test(err.message) && err.hint === undefined) {
          throw new RktError(err.code, err.message, { cause: err, hint: 'if the registry speaks plain http, fetch with --insecure-options=http' });
        }
        throw err;
      }
      if (res.status === 401 && attempt < 2) {
        await this.authenticate(res, url);
        continue;
      }
      if (res.status >= 200 && res.status < 300) return res;
      const said = await RegistryClient.said(res);
      if (res.status === 401 || res.status === 403) {
        throw new RktError('EREGISTRY', `${this.ref.registry}: access to ${this.ref.repository} refused (HTTP ${res.status}): ${said}`, {
          hint: this.opts.credentials === undefined ? AUTH_HINT : 'check the user and password the auth.d dockerAuth file gives for this registry',
        });
      }
      if (res.status === 404) throw new RktError('EREGISTRY', `${this.ref.registry}: ${what} not found in ${this.ref.repository}: ${said}`);
      throw new RktError('EREGISTRY', `${this.ref.registry}: fetching ${what} of ${this.ref.repository} failed (HTTP ${res.status}): ${said}`);
    }
  }

  /** The manifest or index at `reference` (a tag or a digest); a digest is checked against the bytes. */
  async manifest(reference: string): Promise<FetchedManifest> {
    const what = reference.startsWith('sha256:') ? `manifest ${reference}` : `tag "${reference}"`;
    const res = await this.get(`manifests/${reference}`, MANIFEST_ACCEPT, what);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body) {
      size += (c as Buffer).length;
      if (size > MAX_MANIFEST_BYTES) {
        res.body.destroy();
        throw new RktError('EOCI', `${this.ref.registry}: ${what} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      }
      chunks.push(c as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new RktError('EOCIDIGEST', `${this.ref.registry}: ${what} of ${this.ref.repository}: content does not match its digest (got ${digest})`);
    }
    const ct = res.headers['content-type'];
    return { bytes, digest, contentType: Array.isArray(ct) ? ct[0] : ct };
  }

  /**
   * Blob `digest` as the registry sends it, not yet checked (pass it through digestVerifier), and the words
   * that name it in messages. The caller reads or destroys `body`.
   */
  async blobStream(digest: string): Promise<{ readonly body: Readable; readonly what: string }> {
    const res = await this.get(`blobs/${digest}`, undefined, `blob ${digest}`);
    return { body: res.body, what: `${this.ref.registry}/${this.ref.repository} blob ${digest}` };
  }

  /**
   * Download blob `digest` to `file` (created, must not exist), checking its size and digest as it streams.
   * On a mismatch or a failure the file is removed and an error thrown.
   */
  async blob(digest: string, size: number | undefined, file: string): Promise<void> {
    const { body, what } = await this.blobStream(digest);
    try {
      await pipeline(body, digestVerifier(digest, size, what), createWriteStream(file, { flags: 'wx', mode: 0o644 }));
    } catch (err) {
      await fs.rm(file, { force: true });
      throw err;
    }
  }
}
