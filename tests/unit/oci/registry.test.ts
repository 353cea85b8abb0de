/**
 * The registry client against plain-http servers on 127.0.0.1 started here: a registry that asks for a bearer
 * token, a token service that wants basic credentials, and blob storage on another origin the registry
 * redirects to (credentials must not follow).
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { RegistryClient } from '../../../src/oci/registry.js';
import { parseOciReference, type RegistryReference } from '../../../src/oci/reference.js';
import { startHttpServer, type TestServer } from '../../lib/https.js';

const blob = Buffer.from('layer bytes\n');
const blobDigest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
const manifest = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"' + blobDigest + '","size":12},"layers":[]}');
const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const basic = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;

let dir = '';
let reg: TestServer;
let auth: TestServer;
let storage: TestServer;

test.before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rkt-oci-registry-'));
  storage = await startHttpServer({ routes: (req, res) => {
    if (req.url === '/bad') { res.end('tampered bytes'); return; }
    res.end(blob);
  } });
  auth = await startHttpServer({ routes: (req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.searchParams.get('scope') !== 'repository:team/app:pull' || u.searchParams.get('service') !== 'test-registry') {
      res.writeHead(400).end('{"errors":[{"code":"DENIED","message":"bad scope"}]}');
      return;
    }
    if (req.headers.authorization !== undefined && req.headers.authorization !== basic) {
      res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED","message":"wrong password"}]}');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token: req.headers.authorization === basic ? 'good-token' : 'anonymous-token' }));
  } });
  reg = await startHttpServer({ routes: (req, res) => {
    const challenge = `Bearer realm="${auth.url}/token",service="test-registry",scope="repository:team/app:pull"`;
    if (req.headers.authorization !== 'Bearer good-token') {
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (req.url === '/v2/team/app/manifests/v1' || req.url === `/v2/team/app/manifests/${manifestDigest}`) {
      res.setHeader('content-type', 'application/vnd.oci.image.manifest.v1+json');
      res.end(manifest);
      return;
    }
    if (req.url === `/v2/team/app/blobs/${blobDigest}`) {
      res.writeHead(307, { location: `${storage.url}/blob` }).end();
      return;
    }
    if (req.url === `/v2/team/app/blobs/sha256:${'0'.repeat(64)}`) {
      res.writeHead(307, { location: `${storage.url}/bad` }).end();
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
  } });
});

test.after.always(async () => {
  await Promise.all([reg?.close(), auth?.close(), storage?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const ref = (): RegistryReference => parseOciReference(`docker://${reg.url.slice('http://'.length)}/team/app:v1`) as RegistryReference;

test.serial('a bearer token is fetched with the credentials, the manifest digest computed, the blob verified; no credentials to blob storage', async (t) => {
  const c = new RegistryClient(ref(), { allowHttp: true, insecureTls: false, credentials: { user: 'alice', password: 's3cret' } });
  const m = await c.manifest('v1');
  t.is(m.digest, manifestDigest);
  t.is(m.contentType, 'application/vnd.oci.image.manifest.v1+json');
  t.truthy(auth.requests.find((r) => r.headers.authorization === basic), 'the token service got the basic credentials');
  const file = path.join(dir, 'blob');
  await c.blob(blobDigest, blob.length, file);
  t.deepEqual(readFileSync(file), blob);
  const toStorage = storage.requests.filter((r) => r.url === '/blob');
  t.true(toStorage.length > 0);
  t.true(toStorage.every((r) => r.headers.authorization === undefined), 'no Authorization across origins');
  await c.manifest(manifestDigest);
});

test.serial('anonymous: the registry refuses the anonymous token; its message and the auth.d hint are shown', async (t) => {
  const c = new RegistryClient(ref(), { allowHttp: true, insecureTls: false });
  const err = await t.throwsAsync(c.manifest('v1'), { instanceOf: RktError });
  t.is(err?.code, 'EREGISTRY');
  t.regex(err?.message ?? '', /anonymous access refused .*UNAUTHORIZED: authentication required/);
  t.regex((err as RktError).hint ?? '', /dockerAuth/);
});

test.serial('wrong credentials: the token service\'s message', async (t) => {
  const c = new RegistryClient(ref(), { allowHttp: true, insecureTls: false, credentials: { user: 'alice', password: 'nope' } });
  const err = await t.throwsAsync(c.manifest('v1'), { instanceOf: RktError });
  t.regex(err?.message ?? '', /token service refused the credentials \(HTTP 401\): UNAUTHORIZED: wrong password/);
});

test.serial('an unknown tag, and a blob that does not match its digest (no file left)', async (t) => {
  const c = new RegistryClient(ref(), { allowHttp: true, insecureTls: false, credentials: { user: 'alice', password: 's3cret' } });
  await t.throwsAsync(c.manifest('v9'), { message: /tag "v9" not found in team\/app: MANIFEST_UNKNOWN: manifest unknown/ });
  const file = path.join(dir, 'bad');
  const err = await t.throwsAsync(c.blob(`sha256:${'0'.repeat(64)}`, undefined, file), { instanceOf: RktError });
  t.is(err?.code, 'EOCIDIGEST');
  t.false(existsSync(file));
});

test.serial('plain http is refused without allowHttp', async (t) => {
  const c = new RegistryClient(ref(), { allowHttp: false, insecureTls: false });
  // https to a plain-http server: the TLS handshake fails, and says so.
  const err = await t.throwsAsync(c.manifest('v1'), { instanceOf: RktError });
  t.is(err?.code, 'EHTTP');
  t.regex((err as RktError).hint ?? '', /--insecure-options=http/);
});
