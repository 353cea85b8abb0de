import test from 'ava';
import { RktError } from '../../../src/common/errors.js';
import {
  Field,
  isAcIdentifier,
  isAcName,
  isEnvironmentName,
  isImageId,
  normalizeImageId,
  parseImageReference,
  readJson,
  readStringMap,
} from '../../../src/image/names.js';

const HEX128 = '0123456789abcdef'.repeat(8);
const FULL_ID = `sha512-${HEX128}`;

test('AC Identifiers: lowercase alphanumerics joined by single -._~/ separators', (t) => {
  for (const good of ['database', 'example.com/database', 'example.com/user/app_v1', 'sub-domain.example.com/org/product/release', 'a0']) {
    t.true(isAcIdentifier(good), good);
  }
  // appc's types.md shows example.com/~user/app_v1 as an example, but its own regex rejects "/~": the regex rules.
  for (const bad of ['', 'Example.com', '-app', 'app-', 'a//b', 'a..b', 'a b', 'example.com:80/app', '/app', 'app/', 'example.com/~user/app']) {
    t.false(isAcIdentifier(bad), bad);
  }
});

test('AC Names: lowercase alphanumerics joined by single dashes', (t) => {
  for (const good of ['database', 'product-database', 'a1-b2-c3']) t.true(isAcName(good), good);
  for (const bad of ['', 'Work', 'a.b', 'a/b', 'a_b', 'a~b', 'a--b', '-a', 'a-']) t.false(isAcName(bad), bad);
});

test('Image IDs are sha512- and 128 lowercase hex digits', (t) => {
  t.true(isImageId(FULL_ID));
  t.false(isImageId(FULL_ID.toUpperCase()));
  t.false(isImageId(FULL_ID.slice(0, -1)));
  t.false(isImageId(`${FULL_ID}0`));
  t.false(isImageId(`sha256-${HEX128}`));
  t.false(isImageId(HEX128));
});

test('normalizeImageId: the full ID, and prefixes from 12 hex digits (the 64-digit form rkt prints)', (t) => {
  t.deepEqual(normalizeImageId(FULL_ID), { kind: 'full', value: FULL_ID });
  t.deepEqual(normalizeImageId(FULL_ID.slice(0, 7 + 12)), { kind: 'prefix', value: FULL_ID.slice(0, 19) });
  t.deepEqual(normalizeImageId(FULL_ID.slice(0, 7 + 64)), { kind: 'prefix', value: FULL_ID.slice(0, 71) });
  t.deepEqual(normalizeImageId(FULL_ID.toUpperCase().replace('SHA512', 'sha512')), { kind: 'full', value: FULL_ID });
});

test('normalizeImageId: too short, too long or without sha512- is an ENAME error naming it', (t) => {
  const why = 'expected "sha512-" followed by 12 to 128 hex digits';
  for (const bad of [FULL_ID.slice(0, 7 + 11), `${FULL_ID}0`, HEX128.slice(0, 64), 'sha512-', `sha512-${'g'.repeat(12)}`, 'example.com/app']) {
    t.throws(() => normalizeImageId(bad), { instanceOf: RktError, code: 'ENAME', message: `invalid image ID "${bad}": ${why}` });
  }
});

test('environment variable names', (t) => {
  for (const good of ['PATH', '_', '_x1', 'lower_case', 'A1']) t.true(isEnvironmentName(good), good);
  for (const bad of ['', '1A', 'A-B', 'A B', 'A=B', 'Ä']) t.false(isEnvironmentName(bad), bad);
});

const labelsOf = (ref: string) => Object.fromEntries(parseImageReference(ref).labels);

test('image references: a bare name has no labels', (t) => {
  const ref = parseImageReference('example.com/app');
  t.is(ref.name, 'example.com/app');
  t.is(ref.labels.size, 0);
});

test('image references: name:version gives the version label', (t) => {
  t.is(parseImageReference('example.com/app:1.0').name, 'example.com/app');
  t.deepEqual(labelsOf('example.com/app:1.0'), { version: '1.0' });
  t.deepEqual(labelsOf('coreos.com/etcd:v3.1.7+git'), { version: 'v3.1.7+git' });
});

test('image references: comma-separated labels, alone or after a version', (t) => {
  t.deepEqual(labelsOf('example.com/app,version=1.0,os=linux'), { version: '1.0', os: 'linux' });
  t.deepEqual(labelsOf('example.com/app:1.0,os=linux,arch=amd64'), { version: '1.0', os: 'linux', arch: 'amd64' });
  t.deepEqual(labelsOf('example.com/app,channel=a=b'), { channel: 'a=b' });
});

const badReferences: [string, string][] = [
  ['Example.com/app', 'image name "Example.com/app" is not a valid AC Identifier (lowercase letters and digits joined by -._~/)'],
  ['', 'image name "" is not a valid AC Identifier (lowercase letters and digits joined by -._~/)'],
  [',os=linux', 'image name "" is not a valid AC Identifier (lowercase letters and digits joined by -._~/)'],
  ['example.com/app:1.0,version=2.0', 'duplicate label "version"'],
  ['example.com/app,os=linux,os=freebsd', 'duplicate label "os"'],
  ['example.com/app,OS=linux', 'label name "OS" is not a valid AC Identifier'],
  ['example.com/app,name=other', '"name" is the image name, not a label'],
  ['example.com/app,linux', 'label "linux" is not of the form name=value'],
  ['example.com/app,os=', 'label "os" has an empty value'],
  ['example.com/app:', 'label "version" has an empty value'],
  ['example.com/app:1:2', 'version "1:2" contains ":"'],
  ['example.com/app,version=1.0:2', '":" may only separate the name from its version, found in "version=1.0:2"'],
];
for (const [ref, why] of badReferences) {
  test(`image references: ${JSON.stringify(ref)} is rejected`, (t) => {
    t.throws(() => parseImageReference(ref), { instanceOf: RktError, code: 'ENAME', message: `invalid image reference "${ref}": ${why}` });
  });
}

test('Field paths name members and elements, and the root has no path', (t) => {
  const root = Field.root('EMANIFEST', 'image manifest');
  t.is(root.key('app').key('mountPoints').index(1).key('path').error('x').message, 'invalid image manifest: app.mountPoints[1].path: x');
  t.is(root.error('x').message, 'invalid image manifest: x');
  t.is(root.index(0).error('x').message, 'invalid image manifest: [0]: x');
  t.is(root.error('x').code, 'EMANIFEST');
});

test('readJson copies plain JSON, keeping "__proto__" as data', (t) => {
  const at = Field.root('EMANIFEST', 'image manifest');
  const parsed: unknown = JSON.parse('{"a":[1,"x",null,true],"__proto__":{"b":1}}');
  const copy = readJson(parsed, at);
  t.deepEqual(copy, parsed);
  t.not(copy, parsed);
  t.is(Object.getPrototypeOf(copy), Object.prototype);
  t.throws(() => readJson({ a: Number.NaN }, at), { message: 'invalid image manifest: a: NaN is not a JSON number' });
  t.throws(() => readJson({ f: () => 1 }, at), { message: 'invalid image manifest: f: a function is not a JSON value' });
});

test('readStringMap takes an object of strings only', (t) => {
  const at = Field.root('EMANIFEST', 'image manifest').key('userLabels');
  t.deepEqual(readStringMap({ Any: 'thing', 'with space': '' }, at), { Any: 'thing', 'with space': '' });
  t.throws(() => readStringMap({ a: 1 }, at), { message: 'invalid image manifest: userLabels.a: expected a string, got 1' });
  t.throws(() => readStringMap(['a'], at), { message: 'invalid image manifest: userLabels: expected an object, got an array' });
});
