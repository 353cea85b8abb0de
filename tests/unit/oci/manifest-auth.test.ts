import test from 'ava';
import { layerCompression, parseManifestOrIndex, selectByRefName, selectPlatform, type ImageIndex } from '../../../src/oci/manifest.js';
import { parseChallenge, registryMessage, tokenOf, tokenUrl } from '../../../src/oci/auth.js';
import { RktError } from '../../../src/common/errors.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;

test('a Docker schema 2 manifest and an OCI index are told apart', (t) => {
  const m = parseManifestOrIndex(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: d('1'), size: 10 },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('2'), size: 20 }],
  }), 'm');
  t.is(m.kind, 'manifest');
  const i = parseManifestOrIndex(JSON.stringify({ schemaVersion: 2, manifests: [] }), 'i', 'application/vnd.oci.image.index.v1+json');
  t.is(i.kind, 'index');
  const e = t.throws(() => parseManifestOrIndex('{"schemaVersion":1,"fsLayers":[]}', 'old'), { instanceOf: RktError });
  t.true(e?.message.includes('schema 1'));
  t.throws(() => parseManifestOrIndex('{"config":{"mediaType":"x","digest":"md5:1","size":1},"layers":[]}', 'bad'), { message: /not a sha256 digest/ });
});

test('an index gives its linux/amd64 entry, or an error listing what it offers', (t) => {
  const index: ImageIndex = {
    kind: 'index', mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [
      { mediaType: 'm', digest: d('a'), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { mediaType: 'm', digest: d('b'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'm', digest: d('c'), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  };
  t.is(selectPlatform(index, 'x').digest, d('b'));
  const e = t.throws(() => selectPlatform({ ...index, manifests: index.manifests.filter((m) => m.digest !== d('b')) }, 'docker://r/x:1'));
  t.is(e?.message, 'docker://r/x:1: the index has no image for linux/amd64; it offers: linux/arm64/v8');
});

test('a layout entry by ref.name', (t) => {
  const index: ImageIndex = {
    kind: 'index', mediaType: 'x', manifests: [
      { mediaType: 'm', digest: d('a'), size: 1, annotations: { 'org.opencontainers.image.ref.name': 'v1' } },
      { mediaType: 'm', digest: d('b'), size: 1, annotations: { 'org.opencontainers.image.ref.name': 'v2' } },
    ],
  };
  t.is(selectByRefName(index, 'l', 'v2').digest, d('b'));
  t.throws(() => selectByRefName(index, 'l', undefined), { message: /holds 2 images: name one \(v1, v2\)/ });
  t.throws(() => selectByRefName(index, 'l', 'v3'), { message: /no image named "v3".*v1, v2/ });
});

test('layer media types', (t) => {
  t.is(layerCompression('application/vnd.oci.image.layer.v1.tar+zstd', 'l'), 'zstd');
  t.is(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip', 'l'), 'gzip');
  t.is(layerCompression('application/vnd.oci.image.layer.v1.tar', 'l'), 'none');
  t.throws(() => layerCompression('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'l'), { message: /not supported/ });
});

test('WWW-Authenticate challenges and the token URL', (t) => {
  const c = parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"');
  t.is(c?.scheme, 'bearer');
  t.is(tokenUrl(c!, 'a/b'), 'https://auth.example/token?service=registry.example&scope=repository%3Aa%2Fb%3Apull');
  const c2 = parseChallenge('Bearer realm="https://auth.example/token"');
  t.is(tokenUrl(c2!, 'x/y'), 'https://auth.example/token?scope=repository%3Ax%2Fy%3Apull');
  t.is(parseChallenge('Basic realm="Registry Realm"')?.scheme, 'basic');
  t.is(parseChallenge(undefined), undefined);
  t.is(tokenOf('{"token":"abc"}'), 'abc');
  t.is(tokenOf('{"access_token":"xyz"}'), 'xyz');
  t.is(tokenOf('nope'), undefined);
  t.is(registryMessage('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}'), 'UNAUTHORIZED: authentication required');
  t.is(registryMessage('plain text\nmore'), 'plain text');
});
