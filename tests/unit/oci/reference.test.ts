import test from 'ava';
import { formatReference, imageNameOf, isOciReference, parseOciReference } from '../../../src/oci/reference.js';
import { RktError } from '../../../src/common/errors.js';

const D = `sha256:${'a'.repeat(64)}`;

test('docker:// defaults: docker.io, library/, latest', (t) => {
  t.deepEqual(parseOciReference('docker://busybox'), { kind: 'docker', registry: 'docker.io', repository: 'library/busybox', tag: 'latest' });
  t.deepEqual(parseOciReference('docker://nginx:1.25'), { kind: 'docker', registry: 'docker.io', repository: 'library/nginx', tag: '1.25' });
  t.deepEqual(parseOciReference('docker://someone/app'), { kind: 'docker', registry: 'docker.io', repository: 'someone/app', tag: 'latest' });
  t.deepEqual(parseOciReference('docker://index.docker.io/someone/app'), { kind: 'docker', registry: 'docker.io', repository: 'someone/app', tag: 'latest' });
});

test('docker:// with a registry, a port, a tag and a digest', (t) => {
  t.deepEqual(parseOciReference('docker://127.0.0.1:5000/a/b:v1'), { kind: 'docker', registry: '127.0.0.1:5000', repository: 'a/b', tag: 'v1' });
  t.deepEqual(parseOciReference('docker://localhost/a'), { kind: 'docker', registry: 'localhost', repository: 'a' , tag: 'latest' });
  t.deepEqual(parseOciReference(`docker://quay.io/x/y@${D}`), { kind: 'docker', registry: 'quay.io', repository: 'x/y', digest: D });
  t.deepEqual(parseOciReference(`docker://quay.io/x/y:t@${D}`), { kind: 'docker', registry: 'quay.io', repository: 'x/y', tag: 't', digest: D });
  t.is(formatReference(parseOciReference('docker://busybox')), 'docker://docker.io/library/busybox:latest');
});

test('malformed docker references are ENAME errors that say why', (t) => {
  for (const [arg, why] of [
    ['docker://', 'no repository'], ['docker://Busybox', 'lowercase'], ['docker://a@sha256:12', 'sha256 digest'],
    ['docker://a:bad^tag', 'not a valid tag'], ['docker://a//b', 'repository component'],
  ] as const) {
    const err = t.throws(() => parseOciReference(arg), { instanceOf: RktError });
    t.is(err?.code, 'ENAME', arg);
    t.true(err?.message.includes(why), `${arg}: ${err?.message}`);
  }
});

test('oci: and oci-archive: with and without a ref', (t) => {
  t.deepEqual(parseOciReference('oci:/tmp/layout'), { kind: 'oci', path: '/tmp/layout' });
  t.deepEqual(parseOciReference('oci:/tmp/layout:v2'), { kind: 'oci', path: '/tmp/layout', ref: 'v2' });
  t.deepEqual(parseOciReference('oci-archive:img.tar:latest'), { kind: 'oci-archive', path: 'img.tar', ref: 'latest' });
  t.deepEqual(parseOciReference('oci:./a:b/c'), { kind: 'oci', path: './a:b/c' });
  t.throws(() => parseOciReference('oci:'), { instanceOf: RktError });
});

test('which arguments are OCI references, and the appc names they give', (t) => {
  t.true(isOciReference('docker://x'));
  t.true(isOciReference('oci:x'));
  t.true(isOciReference('oci-archive:x'));
  t.false(isOciReference('coreos.com/etcd:v3'));
  t.is(imageNameOf(parseOciReference('docker://127.0.0.1:5000/a/b:v1')), '127.0.0.1-5000/a/b');
  t.is(imageNameOf(parseOciReference('docker://busybox')), 'docker.io/library/busybox');
  t.is(imageNameOf(parseOciReference('oci:/tmp/My_Layout/')), 'oci/my_layout');
});
