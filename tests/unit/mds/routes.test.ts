import test from 'ava';
import { signContent } from '../../../src/mds/hmac.js';
import { appAnnotations, parseRegistryRequest, Registry, toRegisteredPod, validateRegistration, type Registration } from '../../../src/mds/registry.js';
import { NOT_FOUND, parsePath, respond, UNAUTHORIZED } from '../../../src/mds/routes.js';

const UUID = '6a1f3c2e-8b4d-4e7f-9a0b-1c2d3e4f5a6b';
const IMAGE_ID = `sha512-${'ab'.repeat(64)}`;
const TOKEN = 'A'.repeat(32);
const KEY = Buffer.alloc(64, 1);

const imageManifest = JSON.stringify({
  acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/app',
  annotations: [{ name: 'a', value: 'image' }, { name: 'b', value: 'image' }],
});
const podManifest = JSON.stringify({
  acKind: 'PodManifest', acVersion: '0.8.11',
  apps: [{ name: 'web', image: { name: 'example.com/app', id: IMAGE_ID }, annotations: [{ name: 'c', value: 'pod' }, { name: 'a', value: 'pod' }] }],
  annotations: [{ name: 'owner', value: 'ops' }],
});
const reg: Registration = {
  uuid: UUID, token: TOKEN, manifest: podManifest, imageManifests: { web: imageManifest },
  dataDir: '/var/lib/rkt', podDir: `/var/lib/rkt/pods/run/${UUID}`, hostAddress: '127.0.0.1', ownNetwork: false,
};
const pod = toRegisteredPod(reg);

test('paths: token first, then /acMetadata/v1/ and the spec\'s endpoints', (t) => {
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/pod/uuid`), { token: TOKEN, route: { kind: 'pod/uuid' } });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/pod/annotations?x=1`), { token: TOKEN, route: { kind: 'pod/annotations' } });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/pod/manifest/`), { token: TOKEN, route: { kind: 'pod/manifest' } });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/pod/hmac/sign`), { token: TOKEN, route: { kind: 'pod/hmac/sign' } });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/pod/hmac/verify`), { token: TOKEN, route: { kind: 'pod/hmac/verify' } });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/apps/web/annotations`), { token: TOKEN, route: { kind: 'apps/annotations', app: 'web' } });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/apps/web/image/manifest`), { token: TOKEN, route: { kind: 'apps/image/manifest', app: 'web' } });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/apps/web/image/id`), { token: TOKEN, route: { kind: 'apps/image/id', app: 'web' } });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/pod/other`), { token: TOKEN });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v2/pod/uuid`), { token: TOKEN });
  t.deepEqual(parsePath(`/${TOKEN}/acMetadata/v1/apps/%E0/annotations`), { token: TOKEN });
  t.is(parsePath('/acMetadata/v1/pod/uuid'), undefined, 'no token');
  t.is(parsePath('/'), undefined);
});

test('app annotations: the image\'s, replaced in place by the app entry\'s, then its new ones in order', (t) => {
  t.deepEqual(appAnnotations([{ name: 'a', value: '1' }, { name: 'b', value: '2' }], [{ name: 'c', value: '3' }, { name: 'a', value: 'x' }, { name: 'd', value: '4' }]),
    [{ name: 'a', value: 'x' }, { name: 'b', value: '2' }, { name: 'c', value: '3' }, { name: 'd', value: '4' }]);
  t.deepEqual(appAnnotations([], []), []);
  t.deepEqual(pod.apps.get('web')?.annotations, [{ name: 'a', value: 'pod' }, { name: 'b', value: 'image' }, { name: 'c', value: 'pod' }]);
});

test('GET endpoints: content types and bodies as the spec gives them', (t) => {
  const get = (route: Parameters<typeof respond>[1]) => respond(pod, route, 'GET', undefined, KEY);
  t.deepEqual(get({ kind: 'pod/uuid' }), { status: 200, headers: { 'Content-Type': 'text/plain; charset=us-ascii' }, body: UUID });
  t.deepEqual(get({ kind: 'pod/annotations' }), { status: 200, headers: { 'Content-Type': 'application/json' }, body: '[{"name":"owner","value":"ops"}]' });
  t.deepEqual(get({ kind: 'pod/manifest' }).body, podManifest);
  t.deepEqual(get({ kind: 'apps/image/id', app: 'web' }), { status: 200, headers: { 'Content-Type': 'text/plain; charset=us-ascii' }, body: IMAGE_ID });
  t.deepEqual(get({ kind: 'apps/image/manifest', app: 'web' }), { status: 200, headers: { 'Content-Type': 'application/json' }, body: imageManifest });
  t.is(get({ kind: 'apps/annotations', app: 'web' }).body, '[{"name":"a","value":"pod"},{"name":"b","value":"image"},{"name":"c","value":"pod"}]');
  t.is(get({ kind: 'apps/annotations', app: 'nope' }).status, 404);
  t.is(respond(pod, { kind: 'pod/uuid' }, 'HEAD', undefined, KEY).status, 200);
});

test('methods: GET endpoints refuse POST and the hmac ones GET, with 405 and Allow', (t) => {
  t.like(respond(pod, { kind: 'pod/uuid' }, 'POST', new URLSearchParams(), KEY), { status: 405, headers: { Allow: 'GET, HEAD' } });
  t.like(respond(pod, { kind: 'pod/hmac/sign' }, 'GET', undefined, KEY), { status: 405, headers: { Allow: 'POST' } });
});

test('sign and verify: the pod\'s own UUID signs; verify is 200 or 403; missing fields are 400', (t) => {
  const sign = respond(pod, { kind: 'pod/hmac/sign' }, 'POST', new URLSearchParams({ content: 'x' }), KEY);
  t.deepEqual(sign, { status: 200, headers: { 'Content-Type': 'text/plain; charset=us-ascii' }, body: signContent(KEY, UUID, 'x') });
  const verify = (content: string, uuid: string, signature: string) =>
    respond(pod, { kind: 'pod/hmac/verify' }, 'POST', new URLSearchParams({ content, uuid, signature }), KEY).status;
  t.is(verify('x', UUID, sign.body), 200);
  t.is(verify('x', UUID.toUpperCase(), sign.body), 200, 'the UUID in any case');
  t.is(verify('y', UUID, sign.body), 403);
  t.is(verify('x', '00000000-0000-4000-8000-000000000000', sign.body), 403);
  t.is(respond(pod, { kind: 'pod/hmac/sign' }, 'POST', new URLSearchParams(), KEY).status, 400);
  t.is(respond(pod, { kind: 'pod/hmac/verify' }, 'POST', new URLSearchParams({ content: 'x' }), KEY).status, 400);
  t.is(UNAUTHORIZED.status, 401);
  t.is(NOT_FOUND.status, 404);
});

test('registrations are checked field by field; the registry finds pods by token and replaces a UUID registered again', (t) => {
  t.deepEqual(validateRegistration(JSON.parse(JSON.stringify(reg))), reg);
  t.throws(() => validateRegistration({ ...reg, uuid: 'x' }), { message: /"uuid"/ });
  t.throws(() => validateRegistration({ ...reg, token: 'short' }), { message: /"token"/ });
  t.throws(() => validateRegistration({ ...reg, ownNetwork: 'no' }), { message: /"ownNetwork"/ });
  t.throws(() => toRegisteredPod({ ...reg, imageManifests: {} }), { message: /no image manifest for app web/ });
  const r = new Registry();
  r.add(pod);
  t.is(r.byTokenOf(TOKEN), pod);
  const again = toRegisteredPod({ ...reg, token: 'B'.repeat(32) });
  r.add(again);
  t.is(r.byTokenOf(TOKEN), undefined, 'the old token goes with the old registration');
  t.is(r.byTokenOf('B'.repeat(32)), again);
  t.is(r.size, 1);
  t.throws(() => r.add(toRegisteredPod({ ...reg, uuid: '00000000-0000-4000-8000-000000000000', token: 'B'.repeat(32) })), { message: /token already registered/ });
  t.is(r.remove(UUID), again);
  t.is(r.size, 0);
});

test('registry protocol lines: info, list, register, unregister; anything else is an error saying what', (t) => {
  t.deepEqual(parseRegistryRequest('{"op":"info"}'), { op: 'info' });
  t.deepEqual(parseRegistryRequest('{"op":"list"}'), { op: 'list' });
  t.deepEqual(parseRegistryRequest(JSON.stringify({ op: 'unregister', uuid: UUID })), { op: 'unregister', uuid: UUID });
  t.deepEqual(parseRegistryRequest(JSON.stringify({ op: 'register', pod: reg })), { op: 'register', pod: reg });
  t.throws(() => parseRegistryRequest('nope'), { message: /not JSON/ });
  t.throws(() => parseRegistryRequest('[]'), { message: /not a JSON object/ });
  t.throws(() => parseRegistryRequest('{"op":"drop"}'), { message: /unknown op "drop"/ });
});
