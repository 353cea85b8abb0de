import test from 'ava';
import { RktError } from '../../../src/common/errors.js';
import {
  isRfc3339,
  isSemver,
  parseImageManifest,
  serializeImageManifest,
  validateImageManifest,
} from '../../../src/image/manifest.js';

const ID = `sha512-${'0123456789abcdef'.repeat(8)}`;

const MINIMAL = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/minimal' };

const APP = {
  exec: ['/usr/bin/reduce-worker', '--quiet'],
  user: '100',
  group: '300',
  supplementaryGIDs: [400, 500],
  eventHandlers: [
    { exec: ['/usr/bin/data-downloader'], name: 'pre-start' },
    { exec: ['/usr/bin/deregister-worker', '--verbose'], name: 'post-stop' },
  ],
  workingDirectory: '/opt/work',
  environment: [{ name: 'REDUCE_WORKER_DEBUG', value: 'true' }],
  isolators: [
    { name: 'resource/cpu', value: { request: '250m', limit: '500m' } },
    { name: 'resource/memory', value: { request: '1G', limit: '2G' } },
    { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } },
  ],
  mountPoints: [{ name: 'work', path: '/var/lib/work', readOnly: false }],
  ports: [
    { name: 'health', port: 4000, protocol: 'tcp', socketActivated: true },
    { name: 'ftp-data', port: 20000, count: 1000, protocol: 'tcp' },
  ],
};

/** The appc spec's example manifest, with the fixes appc's own schema requires (string annotation values). */
const FULL = {
  ...MINIMAL,
  name: 'example.com/reduce-worker',
  labels: [
    { name: 'version', value: '1.0.0' },
    { name: 'arch', value: 'amd64' },
    { name: 'os', value: 'linux' },
  ],
  app: APP,
  dependencies: [
    {
      imageName: 'example.com/reduce-worker-base',
      imageID: ID,
      labels: [{ name: 'os', value: 'linux' }, { name: 'env', value: 'canary' }],
      size: 22017258,
    },
  ],
  pathWhitelist: ['/etc/ca/example.com/crt', '/usr/bin/map-reduce-worker', '/etc/systemd/system/'],
  annotations: [
    { name: 'authors', value: 'Carly Container <carly@example.com>' },
    { name: 'created', value: '2014-10-27T19:32:27.67021798Z' },
    { name: 'documentation', value: 'https://example.com/docs' },
    { name: 'homepage', value: 'http://example.com' },
    { name: 'appc.io/executor/supports-systemd-notify', value: 'false' },
  ],
};

const withTop = (patch: Record<string, unknown>) => ({ ...FULL, ...patch });
const withApp = (patch: Record<string, unknown>) => ({ ...FULL, app: { ...APP, ...patch } });
const without = (o: Record<string, unknown>, key: string) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));

test('a minimal manifest: no app, every list empty', (t) => {
  t.deepEqual(validateImageManifest(MINIMAL), {
    ...MINIMAL,
    labels: [],
    dependencies: [],
    pathWhitelist: [],
    annotations: [],
  });
});

test('the spec example manifest', (t) => {
  const m = validateImageManifest(FULL);
  t.is(m.name, 'example.com/reduce-worker');
  t.deepEqual(m.labels, FULL.labels);
  t.deepEqual(m.app?.exec, APP.exec);
  t.deepEqual(m.app?.supplementaryGIDs, [400, 500]);
  t.deepEqual(m.app?.eventHandlers.map((h) => h.name), ['pre-start', 'post-stop']);
  t.is(m.app?.workingDirectory, '/opt/work');
  t.deepEqual(m.app?.isolators, APP.isolators);
  t.deepEqual(m.app?.mountPoints, APP.mountPoints);
  t.deepEqual(m.app?.ports, [
    { name: 'health', protocol: 'tcp', port: 4000, count: 1, socketActivated: true },
    { name: 'ftp-data', protocol: 'tcp', port: 20000, count: 1000 },
  ]);
  t.deepEqual(m.dependencies, FULL.dependencies);
  t.deepEqual(m.pathWhitelist, FULL.pathWhitelist);
  t.deepEqual(m.annotations, FULL.annotations);
});

test('an app with only user and group', (t) => {
  const m = validateImageManifest({ ...MINIMAL, app: { user: 'root', group: 'root' } });
  t.deepEqual(m.app, {
    exec: [],
    user: 'root',
    group: 'root',
    supplementaryGIDs: [],
    eventHandlers: [],
    environment: [],
    isolators: [],
    mountPoints: [],
    ports: [],
  });
});

test('null lists, as Go encoders write them, count as absent', (t) => {
  const m = validateImageManifest({ ...MINIMAL, labels: null, app: { user: '0', group: '0', exec: null, ports: null }, annotations: null });
  t.deepEqual(m.labels, []);
  t.deepEqual(m.app?.exec, []);
  t.deepEqual(m.app?.ports, []);
});

test('unknown keys are ignored, at the top and inside', (t) => {
  const m = validateImageManifest({ ...withApp({ futureField: { x: 1 } }), futureTopLevel: [1, 2, 3] });
  t.false('futureTopLevel' in m);
  t.false('futureField' in (m.app ?? {}));
});

test('supplementaryGIDs is the key; a misspelt supplementaryGids is ignored, not read as GIDs', (t) => {
  t.deepEqual(validateImageManifest(withApp({ supplementaryGIDs: [0, 10] })).app?.supplementaryGIDs, [0, 10]);
  const misspelt = validateImageManifest({ ...FULL, app: { ...without(APP, 'supplementaryGIDs'), supplementaryGids: [400, -1, 'x'] } });
  t.deepEqual(misspelt.app?.supplementaryGIDs, []);
  t.false(serializeImageManifest(misspelt).includes('supplementaryGids'));
});

test('userAnnotations and userLabels are kept', (t) => {
  const m = validateImageManifest(withApp({ userAnnotations: { Owner: 'ops team' }, userLabels: { tier: 'web' } }));
  t.deepEqual(m.app?.userAnnotations, { Owner: 'ops team' });
  t.deepEqual(m.app?.userLabels, { tier: 'web' });
});

test('good values at the edges of the rules', (t) => {
  t.notThrows(() => validateImageManifest(withTop({ acVersion: '1.0.0-rc.1+build.5' })));
  t.notThrows(() => validateImageManifest(withApp({ exec: ['/bin/sh', '', 'relative/arg'] })));
  t.notThrows(() => validateImageManifest(withApp({ exec: [] })));
  t.notThrows(() => validateImageManifest(withApp({ ports: [{ name: 'top', protocol: 'udp', port: 65535 }] })));
  t.notThrows(() => validateImageManifest(withApp({ ports: [{ name: 'range', protocol: 'tcp', port: 65000, count: 536 }] })));
  t.notThrows(() => validateImageManifest(withApp({ supplementaryGIDs: [0, 4294967294] })));
  t.notThrows(() => validateImageManifest(withApp({ environment: [{ name: '_A1', value: '' }, { name: 'a1', value: 'x' }] })));
  t.notThrows(() => validateImageManifest(withTop({ dependencies: [{ imageName: 'example.com/base' }] })));
  t.notThrows(() => validateImageManifest(withTop({ annotations: [{ name: 'created', value: '2015-05-18T13:49:28.351729952-04:00' }] })));
  t.notThrows(() => validateImageManifest(withTop({ annotations: [{ name: 'created', value: '2016-02-29T00:00:00+00:00' }] })));
});

test('RFC 3339 date-times and semantic versions', (t) => {
  for (const good of ['2014-10-27T19:32:27.67021798Z', '2015-05-18T13:49:28-04:00', '2000-02-29T23:59:60z', '1999-12-31t00:00:00+14:00']) {
    t.true(isRfc3339(good), good);
  }
  for (const bad of ['2014-10-27 19:32:27Z', '2014-10-27T19:32:27', '2015-02-29T00:00:00Z', '2014-13-01T00:00:00Z', '2014-10-27T24:00:00Z', 'yesterday']) {
    t.false(isRfc3339(bad), bad);
  }
  for (const good of ['0.8.11', '1.0.0-alpha.1', '1.0.0+20130313144700', '10.20.30-rc.1+b.2']) t.true(isSemver(good), good);
  for (const bad of ['0.8', 'v0.8.11', '01.0.0', '1.0.0-', '1.0.0-01', '']) t.false(isSemver(bad), bad);
});

const BAD: [string, unknown, string][] = [
  ['root not an object', [MINIMAL], 'expected an object, got an array'],
  ['acKind missing', without(FULL, 'acKind'), 'acKind: required field is missing'],
  ['acKind wrong', withTop({ acKind: 'PodManifest' }), 'acKind: "PodManifest" is not "ImageManifest"'],
  ['acVersion not semver', withTop({ acVersion: '0.8' }), 'acVersion: "0.8" is not a semantic version (such as "0.8.11")'],
  ['acVersion not a string', withTop({ acVersion: 0.8 }), 'acVersion: expected a string, got 0.8'],
  ['name missing', without(FULL, 'name'), 'name: required field is missing'],
  ['name not an AC Identifier', withTop({ name: 'Example.com/App' }), 'name: "Example.com/App" is not a valid AC Identifier'],
  ['labels duplicate', withTop({ labels: [{ name: 'os', value: 'linux' }, { name: 'os', value: 'linux' }] }), 'labels[1].name: duplicate label "os"'],
  ['labels arch alone', withTop({ labels: [{ name: 'arch', value: 'amd64' }] }), 'labels[0].name: "arch" is given without an "os" label'],
  ['app not an object', withTop({ app: ['/bin/sh'] }), 'app: expected an object, got an array'],
  ['app.exec relative', withApp({ exec: ['bin/sh'] }), 'app.exec[0]: "bin/sh" is not an absolute path'],
  ['app.exec a string', withApp({ exec: '/bin/sh -c true' }), 'app.exec: expected an array, got "/bin/sh -c true"'],
  ['app.exec with a number', withApp({ exec: ['/bin/sleep', 1] }), 'app.exec[1]: expected a string, got 1'],
  ['app.user missing', { ...FULL, app: without(APP, 'user') }, 'app.user: required field is missing'],
  ['app.group empty', withApp({ group: '' }), 'app.group: "" is empty'],
  ['app.user a number', withApp({ user: 0 }), 'app.user: expected a string, got 0'],
  ['app.supplementaryGIDs negative', withApp({ supplementaryGIDs: [400, -1] }), 'app.supplementaryGIDs[1]: -1 is less than 0'],
  ['app.supplementaryGIDs fractional', withApp({ supplementaryGIDs: [1.5] }), 'app.supplementaryGIDs[0]: expected an integer, got 1.5'],
  ['app.supplementaryGIDs strings', withApp({ supplementaryGIDs: ['400'] }), 'app.supplementaryGIDs[0]: expected an integer, got "400"'],
  ['app.supplementaryGIDs not a list', withApp({ supplementaryGIDs: 400 }), 'app.supplementaryGIDs: expected an array, got 400'],
  [
    'app.eventHandlers unknown name',
    withApp({ eventHandlers: [{ name: 'pre-stop', exec: ['/bin/true'] }] }),
    'app.eventHandlers[0].name: "pre-stop" is not one of "pre-start", "post-stop"',
  ],
  [
    'app.eventHandlers twice the same',
    withApp({ eventHandlers: [{ name: 'pre-start', exec: ['/a'] }, { name: 'post-stop', exec: ['/b'] }, { name: 'pre-start', exec: ['/c'] }] }),
    'app.eventHandlers[2].name: duplicate event handler "pre-start"',
  ],
  ['app.eventHandlers empty exec', withApp({ eventHandlers: [{ name: 'post-stop', exec: [] }] }), 'app.eventHandlers[0].exec: an empty list is not allowed'],
  ['app.eventHandlers no exec', withApp({ eventHandlers: [{ name: 'post-stop' }] }), 'app.eventHandlers[0].exec: required field is missing'],
  ['app.workingDirectory relative', withApp({ workingDirectory: 'opt/work' }), 'app.workingDirectory: "opt/work" is not an absolute path'],
  [
    'app.environment bad name',
    withApp({ environment: [{ name: 'OK', value: '' }, { name: '1BAD', value: 'x' }] }),
    'app.environment[1].name: "1BAD" is not a valid environment variable name',
  ],
  [
    'app.environment duplicate',
    withApp({ environment: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] }),
    'app.environment[1].name: duplicate environment variable "A"',
  ],
  ['app.environment value not a string', withApp({ environment: [{ name: 'A', value: 1 }] }), 'app.environment[0].value: expected a string, got 1'],
  [
    'app.isolators bad value',
    withApp({ isolators: [{ name: 'resource/memory', value: { limit: 'lots' } }] }),
    'app.isolators[0].value.limit: "lots" is not a valid quantity (such as 500m, 100M or 1Gi)',
  ],
  ['app.mountPoints bad name', withApp({ mountPoints: [{ name: 'Work', path: '/w' }] }), 'app.mountPoints[0].name: "Work" is not a valid AC Name'],
  [
    'app.mountPoints relative path',
    withApp({ mountPoints: [{ name: 'work', path: '/w' }, { name: 'logs', path: 'var/log' }] }),
    'app.mountPoints[1].path: "var/log" is not an absolute path',
  ],
  ['app.mountPoints readOnly a string', withApp({ mountPoints: [{ name: 'w', path: '/w', readOnly: 'yes' }] }), 'app.mountPoints[0].readOnly: expected a boolean, got "yes"'],
  [
    'app.mountPoints duplicate',
    withApp({ mountPoints: [{ name: 'w', path: '/a' }, { name: 'w', path: '/b' }] }),
    'app.mountPoints[1].name: duplicate mount point "w"',
  ],
  ['app.ports bad name', withApp({ ports: [{ name: 'http_alt', protocol: 'tcp', port: 8080 }] }), 'app.ports[0].name: "http_alt" is not a valid AC Name'],
  ['app.ports bad protocol', withApp({ ports: [{ name: 'p', protocol: 'sctp', port: 1 }] }), 'app.ports[0].protocol: "sctp" is not one of "tcp", "udp"'],
  ['app.ports port 0', withApp({ ports: [{ name: 'p', protocol: 'tcp', port: 0 }] }), 'app.ports[0].port: 0 is not between 1 and 65535'],
  ['app.ports port 65536', withApp({ ports: [{ name: 'p', protocol: 'udp', port: 65536 }] }), 'app.ports[0].port: 65536 is not between 1 and 65535'],
  ['app.ports port missing', withApp({ ports: [{ name: 'p', protocol: 'udp' }] }), 'app.ports[0].port: required field is missing'],
  ['app.ports count 0', withApp({ ports: [{ name: 'p', protocol: 'tcp', port: 80, count: 0 }] }), 'app.ports[0].count: 0 is less than 1'],
  [
    'app.ports range past 65535',
    withApp({ ports: [{ name: 'p', protocol: 'tcp', port: 65500, count: 100 }] }),
    'app.ports[0].count: 100 ports from 65500 go past port 65535',
  ],
  [
    'app.ports socketActivated a string',
    withApp({ ports: [{ name: 'p', protocol: 'tcp', port: 80, socketActivated: 'true' }] }),
    'app.ports[0].socketActivated: expected a boolean, got "true"',
  ],
  [
    'app.ports duplicate',
    withApp({ ports: [{ name: 'p', protocol: 'tcp', port: 80 }, { name: 'p', protocol: 'udp', port: 80 }] }),
    'app.ports[1].name: duplicate port "p"',
  ],
  ['app.userLabels not strings', withApp({ userLabels: { tier: 1 } }), 'app.userLabels.tier: expected a string, got 1'],
  ['dependencies imageName missing', withTop({ dependencies: [{ imageID: ID }] }), 'dependencies[0].imageName: required field is missing'],
  ['dependencies bad imageName', withTop({ dependencies: [{ imageName: 'Base' }] }), 'dependencies[0].imageName: "Base" is not a valid AC Identifier'],
  [
    'dependencies bad imageID',
    withTop({ dependencies: [{ imageName: 'base', imageID: 'sha512-0123456789ab' }] }),
    'dependencies[0].imageID: "sha512-0123456789ab" is not a valid image ID (sha512- and 128 hex digits)',
  ],
  [
    'dependencies bad labels',
    withTop({ dependencies: [{ imageName: 'base', labels: [{ name: 'os', value: 'plan9' }] }] }),
    'dependencies[0].labels[0].value: "plan9" is not a supported os (supported: linux, freebsd, darwin)',
  ],
  ['dependencies negative size', withTop({ dependencies: [{ imageName: 'base', size: -1 }] }), 'dependencies[0].size: -1 is less than 0'],
  ['pathWhitelist relative', withTop({ pathWhitelist: ['/etc/a', 'etc/b'] }), 'pathWhitelist[1]: "etc/b" is not an absolute path'],
  ['annotations bad name', withTop({ annotations: [{ name: 'Created', value: 'x' }] }), 'annotations[0].name: "Created" is not a valid AC Identifier'],
  [
    'annotations duplicate',
    withTop({ annotations: [{ name: 'authors', value: 'a' }, { name: 'authors', value: 'b' }] }),
    'annotations[1].name: duplicate annotation "authors"',
  ],
  [
    'annotations value not a string',
    withTop({ annotations: [{ name: 'appc.io/executor/supports-systemd-notify', value: false }] }),
    'annotations[0].value: expected a string, got false',
  ],
  ['annotations created not RFC 3339', withTop({ annotations: [{ name: 'created', value: 'yesterday' }] }), 'annotations[0].value: "yesterday" is not an RFC 3339 date-time'],
  [
    'annotations created without T',
    withTop({ annotations: [{ name: 'created', value: '2014-10-27 19:32:27Z' }] }),
    'annotations[0].value: "2014-10-27 19:32:27Z" is not an RFC 3339 date-time',
  ],
  [
    'annotations created on a day that does not exist',
    withTop({ annotations: [{ name: 'created', value: '2015-02-29T00:00:00Z' }] }),
    'annotations[0].value: "2015-02-29T00:00:00Z" is not an RFC 3339 date-time',
  ],
  ['annotations homepage ftp', withTop({ annotations: [{ name: 'homepage', value: 'ftp://example.com' }] }), 'annotations[0].value: "ftp://example.com" is not an http(s) URL'],
  ['annotations documentation not a URL', withTop({ annotations: [{ name: 'documentation', value: 'example.com/docs' }] }), 'annotations[0].value: "example.com/docs" is not an http(s) URL'],
];
for (const [title, manifest, why] of BAD) {
  test(`bad image manifest: ${title}`, (t) => {
    t.throws(() => validateImageManifest(manifest), { instanceOf: RktError, code: 'EMANIFEST', message: `invalid image manifest: ${why}` });
  });
}

test('errors name the first bad field in spec order', (t) => {
  t.throws(() => validateImageManifest({ acKind: 'ImageManifest', name: 'X' }), { message: 'invalid image manifest: acVersion: required field is missing' });
});

test('parseImageManifest reads text and bytes', (t) => {
  const text = JSON.stringify(FULL);
  t.deepEqual(parseImageManifest(text), validateImageManifest(FULL));
  t.deepEqual(parseImageManifest(new TextEncoder().encode(text)), validateImageManifest(FULL));
  t.deepEqual(parseImageManifest(Buffer.from(text)), validateImageManifest(FULL));
});

test('parseImageManifest: text that is not JSON is an EMANIFEST error with the parser reason', (t) => {
  const err = t.throws(() => parseImageManifest('{"acKind": "ImageManifest",'), { instanceOf: RktError, code: 'EMANIFEST' });
  t.regex(err?.message ?? '', /^invalid image manifest: \S.*JSON/);
  t.throws(() => parseImageManifest(''), { code: 'EMANIFEST', message: /^invalid image manifest: / });
  t.throws(() => parseImageManifest(new Uint8Array([0x7b, 0xff, 0x7d])), { code: 'EMANIFEST', message: 'invalid image manifest: not valid UTF-8' });
  t.throws(() => parseImageManifest('"ImageManifest"'), { code: 'EMANIFEST', message: 'invalid image manifest: expected an object, got "ImageManifest"' });
});

test('round trip: parse, serialize, parse gives the same manifest, and serializing again the same text', (t) => {
  const first = parseImageManifest(JSON.stringify(FULL));
  const text = serializeImageManifest(first);
  const second = parseImageManifest(text);
  t.deepEqual(second, first);
  t.is(serializeImageManifest(second), text);
  t.deepEqual(parseImageManifest(serializeImageManifest(first, true)), first);
});

test('serialize writes keys in spec order and leaves out what is absent', (t) => {
  const m = validateImageManifest({
    annotations: [{ value: 'a', name: 'authors' }],
    app: { ports: [{ protocol: 'tcp', port: 80, name: 'http' }], group: '0', user: '0', exec: ['/bin/httpd'] },
    name: 'example.com/app',
    acVersion: '0.8.11',
    acKind: 'ImageManifest',
  });
  t.is(
    serializeImageManifest(m),
    '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app",' +
      '"app":{"exec":["/bin/httpd"],"user":"0","group":"0","ports":[{"name":"http","protocol":"tcp","port":80,"count":1}]},' +
      '"annotations":[{"name":"authors","value":"a"}]}',
  );
  const full = JSON.parse(serializeImageManifest(validateImageManifest(FULL))) as Record<string, unknown>;
  t.deepEqual(Object.keys(full), ['acKind', 'acVersion', 'name', 'labels', 'app', 'dependencies', 'pathWhitelist', 'annotations']);
  t.deepEqual(Object.keys(full['app'] as object), [
    'exec', 'user', 'group', 'supplementaryGIDs', 'eventHandlers', 'workingDirectory', 'environment', 'isolators', 'mountPoints', 'ports',
  ]);
});

test('serialize pretty-prints with two spaces', (t) => {
  t.is(
    serializeImageManifest(validateImageManifest(MINIMAL), true),
    '{\n  "acKind": "ImageManifest",\n  "acVersion": "0.8.11",\n  "name": "example.com/minimal"\n}',
  );
});
