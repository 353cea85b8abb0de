import test from 'ava';
import { RktError } from '../../../src/common/errors.js';
import { parsePodManifest, serializePodManifest, validatePodManifest } from '../../../src/image/pod-manifest.js';

const ID1 = `sha512-${'1'.repeat(128)}`;
const ID2 = `sha512-${'2'.repeat(128)}`;

const WORKER = {
  name: 'reduce-worker',
  image: { name: 'example.com/reduce-worker', id: ID1, labels: [{ name: 'version', value: '1.0.0' }] },
  app: {
    exec: ['/bin/reduce-worker', '--debug=true', '--data-dir=/mnt/foo'],
    group: '0',
    user: '0',
    mountPoints: [{ name: 'work', path: '/mnt/foo' }],
  },
  readOnlyRootFS: true,
  mounts: [{ volume: 'work', path: '/mnt/foo' }],
};

const BACKUP = {
  name: 'backup',
  image: { id: ID2 },
  app: {
    exec: ['/bin/reduce-backup'],
    group: '0',
    user: '0',
    isolators: [{ name: 'resource/memory', value: { limit: '1G' } }],
  },
  mounts: [{ volume: 'work', path: '/mnt/bar' }],
  annotations: [{ name: 'foo', value: 'baz' }],
};

/** After the appc spec's example pod manifest. */
const POD = {
  acVersion: '0.8.11',
  acKind: 'PodManifest',
  apps: [WORKER, BACKUP],
  volumes: [
    { name: 'work', kind: 'host', source: '/opt/tenant1/work', readOnly: true },
    { name: 'scratch', kind: 'empty', mode: '1777', uid: 1000, gid: 1000, recursive: false },
  ],
  isolators: [{ name: 'resource/memory', value: { limit: '4G' } }],
  annotations: [{ name: 'ip-address', value: '10.1.2.3' }],
  ports: [
    { name: 'ftp', hostPort: 2121 },
    { name: 'http', hostPort: 8080, hostIP: '203.0.113.23', podPort: { name: 'http', protocol: 'tcp', port: 80 } },
  ],
};

const withTop = (patch: Record<string, unknown>) => ({ ...POD, ...patch });
const withWorker = (patch: Record<string, unknown>) => ({ ...POD, apps: [{ ...WORKER, ...patch }, BACKUP] });
const withVolume = (volume: Record<string, unknown>) => ({ ...POD, volumes: [POD.volumes[0], volume] });
const without = (o: Record<string, unknown>, key: string) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));

test('the spec example pod manifest', (t) => {
  const pod = validatePodManifest(POD);
  t.deepEqual(pod.apps.map((a) => a.name), ['reduce-worker', 'backup']);
  t.deepEqual(pod.apps[0]?.image, WORKER.image);
  t.deepEqual(pod.apps[1]?.image, { id: ID2, labels: [] });
  t.is(pod.apps[0]?.readOnlyRootFS, true);
  t.is(pod.apps[1]?.readOnlyRootFS, undefined);
  t.deepEqual(pod.apps[0]?.app?.mountPoints, [{ name: 'work', path: '/mnt/foo' }]);
  t.deepEqual(pod.apps[1]?.app?.isolators, [{ name: 'resource/memory', value: { limit: '1G' } }]);
  t.deepEqual(pod.apps[1]?.annotations, [{ name: 'foo', value: 'baz' }]);
  t.deepEqual(pod.volumes, POD.volumes);
  t.deepEqual(pod.isolators, POD.isolators);
  t.deepEqual(pod.annotations, POD.annotations);
  t.deepEqual(pod.ports[1], { ...POD.ports[1], podPort: { name: 'http', protocol: 'tcp', port: 80, count: 1 } });
});

test('an empty volume takes mode 0755, uid 0 and gid 0 by default', (t) => {
  const pod = validatePodManifest(withVolume({ name: 'tmp', kind: 'empty' }));
  t.deepEqual(pod.volumes[1], { name: 'tmp', kind: 'empty', mode: '0755', uid: 0, gid: 0 });
});

test('a minimal pod: no apps yet, written by Go as null, or as an empty list', (t) => {
  const expected = { acVersion: '0.8.11', acKind: 'PodManifest', apps: [], volumes: [], isolators: [], annotations: [], ports: [] };
  t.deepEqual(validatePodManifest({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [] }), expected);
  t.deepEqual(validatePodManifest({ acVersion: '0.8.11', acKind: 'PodManifest', apps: null, volumes: null, ports: null }), expected);
});

test('an app without its own app section, and mounts with inline volumes', (t) => {
  const pod = validatePodManifest(
    withWorker({
      app: undefined,
      mounts: [{ volume: 'cache', path: 'var/cache', appVolume: { name: 'cache', kind: 'host', source: '/srv/cache', recursive: true } }],
    }),
  );
  t.is(pod.apps[0]?.app, undefined);
  t.deepEqual(pod.apps[0]?.mounts[0]?.appVolume, { name: 'cache', kind: 'host', source: '/srv/cache', recursive: true });
});

test('unknown keys are ignored; userAnnotations and userLabels are kept', (t) => {
  const pod = validatePodManifest({ ...POD, future: true, userAnnotations: { 'Any Key': 'v' }, userLabels: { env: 'prod' } });
  t.false('future' in pod);
  t.deepEqual(pod.userAnnotations, { 'Any Key': 'v' });
  t.deepEqual(pod.userLabels, { env: 'prod' });
});

const BAD: [string, unknown, string][] = [
  ['root not an object', 'PodManifest', 'expected an object, got "PodManifest"'],
  ['acVersion missing', without(POD, 'acVersion'), 'acVersion: required field is missing'],
  ['acVersion not semver', withTop({ acVersion: 'latest' }), 'acVersion: "latest" is not a semantic version (such as "0.8.11")'],
  ['acKind wrong', withTop({ acKind: 'ImageManifest' }), 'acKind: "ImageManifest" is not "PodManifest"'],
  ['apps missing', without(POD, 'apps'), 'apps: required field is missing'],
  ['apps not a list', withTop({ apps: WORKER }), 'apps: expected an array, got an object'],
  ['app name not an AC Name', withWorker({ name: 'reduce.worker' }), 'apps[0].name: "reduce.worker" is not a valid AC Name'],
  ['app names not unique', withTop({ apps: [WORKER, { ...BACKUP, name: 'reduce-worker' }] }), 'apps[1].name: duplicate app "reduce-worker"'],
  ['image missing', withWorker({ image: undefined }), 'apps[0].image: required field is missing'],
  ['image id missing', withWorker({ image: { name: 'example.com/x' } }), 'apps[0].image.id: required field is missing'],
  [
    'image id short',
    withWorker({ image: { id: ID1.slice(0, 71) } }),
    `apps[0].image.id: "${ID1.slice(0, 71)}" is not a valid image ID (sha512- and 128 hex digits)`,
  ],
  ['image name bad', withWorker({ image: { id: ID1, name: 'Example' } }), 'apps[0].image.name: "Example" is not a valid AC Identifier'],
  ['image labels bad', withWorker({ image: { id: ID1, labels: [{ name: 'arch', value: 'amd64' }] } }), 'apps[0].image.labels[0].name: "arch" is given without an "os" label'],
  ['app exec relative', withWorker({ app: { ...WORKER.app, exec: ['bin/sh'] } }), 'apps[0].app.exec[0]: "bin/sh" is not an absolute path'],
  ['app without user', withWorker({ app: without(WORKER.app, 'user') }), 'apps[0].app.user: required field is missing'],
  [
    'app mount point bad path',
    withWorker({ app: { ...WORKER.app, mountPoints: [{ name: 'work', path: 'mnt' }] } }),
    'apps[0].app.mountPoints[0].path: "mnt" is not an absolute path',
  ],
  ['readOnlyRootFS a string', withWorker({ readOnlyRootFS: 'true' }), 'apps[0].readOnlyRootFS: expected a boolean, got "true"'],
  ['mount volume not an AC Name', withWorker({ mounts: [{ volume: 'Work', path: '/w' }] }), 'apps[0].mounts[0].volume: "Work" is not a valid AC Name'],
  ['mount path empty', withWorker({ mounts: [{ volume: 'work', path: '' }] }), 'apps[0].mounts[0].path: "" is empty'],
  ['mount path missing', withWorker({ mounts: [{ volume: 'work' }] }), 'apps[0].mounts[0].path: required field is missing'],
  [
    'mount of a volume the pod does not have',
    withWorker({ mounts: [{ volume: 'work', path: '/a' }, { volume: 'logs', path: '/b' }] }),
    'apps[0].mounts[1].volume: no volume named "logs" in the pod',
  ],
  [
    'appVolume named differently from its mount',
    withWorker({ mounts: [{ volume: 'cache', path: '/c', appVolume: { name: 'other', kind: 'empty' } }] }),
    'apps[0].mounts[0].appVolume.name: "other" does not match the mount\'s volume "cache"',
  ],
  [
    'appVolume invalid',
    withWorker({ mounts: [{ volume: 'cache', path: '/c', appVolume: { name: 'cache', kind: 'host' } }] }),
    'apps[0].mounts[0].appVolume.source: required field is missing',
  ],
  ['app annotations duplicate', withWorker({ annotations: [{ name: 'a', value: '1' }, { name: 'a', value: '2' }] }), 'apps[0].annotations[1].name: duplicate annotation "a"'],
  ['volume name bad', withVolume({ name: 'my_vol', kind: 'empty' }), 'volumes[1].name: "my_vol" is not a valid AC Name'],
  ['volume names not unique', withVolume({ name: 'work', kind: 'empty' }), 'volumes[1].name: duplicate volume "work"'],
  ['volume kind unknown', withVolume({ name: 'v', kind: 'tmpfs' }), 'volumes[1].kind: "tmpfs" is not one of "host", "empty"'],
  ['volume kind missing', withVolume({ name: 'v' }), 'volumes[1].kind: required field is missing'],
  ['host volume without source', withVolume({ name: 'v', kind: 'host' }), 'volumes[1].source: required field is missing'],
  ['host volume relative source', withVolume({ name: 'v', kind: 'host', source: 'srv/v' }), 'volumes[1].source: "srv/v" is not an absolute path'],
  ['host volume with a mode', withVolume({ name: 'v', kind: 'host', source: '/v', mode: '0700' }), 'volumes[1].mode: "0700" given for a host volume (only empty volumes have one)'],
  ['host volume with a uid', withVolume({ name: 'v', kind: 'host', source: '/v', uid: 0 }), 'volumes[1].uid: 0 given for a host volume (only empty volumes have one)'],
  ['empty volume with a source', withVolume({ name: 'v', kind: 'empty', source: '/v' }), 'volumes[1].source: "/v" given for an empty volume'],
  ['empty volume mode not octal', withVolume({ name: 'v', kind: 'empty', mode: '0999' }), 'volumes[1].mode: "0999" is not an octal mode (such as "0755")'],
  ['empty volume mode a number', withVolume({ name: 'v', kind: 'empty', mode: 755 }), 'volumes[1].mode: expected a string, got 755'],
  ['empty volume negative uid', withVolume({ name: 'v', kind: 'empty', uid: -1 }), 'volumes[1].uid: -1 is less than 0'],
  ['empty volume gid not an integer', withVolume({ name: 'v', kind: 'empty', gid: '0' }), 'volumes[1].gid: expected an integer, got "0"'],
  ['volume readOnly a string', withVolume({ name: 'v', kind: 'empty', readOnly: 'no' }), 'volumes[1].readOnly: expected a boolean, got "no"'],
  ['volume recursive a number', withVolume({ name: 'v', kind: 'host', source: '/v', recursive: 1 }), 'volumes[1].recursive: expected a boolean, got 1'],
  [
    'pod isolators bad',
    withTop({ isolators: [{ name: 'os/linux/cpu-shares', value: 0 }] }),
    'isolators[0].value: 0 is not between 2 and 262144',
  ],
  ['pod annotations bad name', withTop({ annotations: [{ name: 'IP', value: 'x' }] }), 'annotations[0].name: "IP" is not a valid AC Identifier'],
  ['port name bad', withTop({ ports: [{ name: 'FTP', hostPort: 21 }] }), 'ports[0].name: "FTP" is not a valid AC Name'],
  ['port hostPort 0', withTop({ ports: [{ name: 'ftp', hostPort: 0 }] }), 'ports[0].hostPort: 0 is not between 1 and 65535'],
  ['port hostPort too high', withTop({ ports: [{ name: 'ftp', hostPort: 70000 }] }), 'ports[0].hostPort: 70000 is not between 1 and 65535'],
  ['port hostPort missing', withTop({ ports: [{ name: 'ftp' }] }), 'ports[0].hostPort: required field is missing'],
  ['port hostIP not IPv4', withTop({ ports: [{ name: 'ftp', hostPort: 21, hostIP: '::1' }] }), 'ports[0].hostIP: "::1" is not an IPv4 address in dotted-quad form'],
  [
    'port podPort bad',
    withTop({ ports: [{ name: 'ftp', hostPort: 21, podPort: { name: 'ftp', protocol: 'tcp', port: 0 } }] }),
    'ports[0].podPort.port: 0 is not between 1 and 65535',
  ],
  [
    'port names not unique',
    withTop({ ports: [{ name: 'ftp', hostPort: 21 }, { name: 'ftp', hostPort: 2121 }] }),
    'ports[1].name: duplicate port "ftp"',
  ],
  ['userLabels not strings', withTop({ userLabels: { env: true } }), 'userLabels.env: expected a string, got true'],
];
for (const [title, manifest, why] of BAD) {
  test(`bad pod manifest: ${title}`, (t) => {
    t.throws(() => validatePodManifest(manifest), { instanceOf: RktError, code: 'EPODMANIFEST', message: `invalid pod manifest: ${why}` });
  });
}

test('parsePodManifest: bad JSON is an EPODMANIFEST error', (t) => {
  t.throws(() => parsePodManifest('{'), { instanceOf: RktError, code: 'EPODMANIFEST', message: /^invalid pod manifest: \S/ });
  t.throws(() => parsePodManifest(new Uint8Array([0xc3])), { code: 'EPODMANIFEST', message: 'invalid pod manifest: not valid UTF-8' });
});

test('round trip: parse, serialize, parse gives the same pod manifest, and serializing again the same text', (t) => {
  const first = parsePodManifest(Buffer.from(JSON.stringify({ ...POD, userLabels: { env: 'prod' } })));
  const text = serializePodManifest(first);
  const second = parsePodManifest(text);
  t.deepEqual(second, first);
  t.is(serializePodManifest(second), text);
  t.deepEqual(parsePodManifest(serializePodManifest(first, true)), first);
});

test('serialize writes keys in spec order, apps always, other empty lists left out', (t) => {
  const empty = validatePodManifest({ apps: [], acKind: 'PodManifest', acVersion: '0.8.11' });
  t.is(serializePodManifest(empty), '{"acVersion":"0.8.11","acKind":"PodManifest","apps":[]}');
  const json = JSON.parse(serializePodManifest(validatePodManifest(POD))) as { apps: object[]; volumes: object[] } & object;
  t.deepEqual(Object.keys(json), ['acVersion', 'acKind', 'apps', 'volumes', 'isolators', 'annotations', 'ports']);
  t.deepEqual(Object.keys(json.apps[0] ?? {}), ['name', 'image', 'app', 'readOnlyRootFS', 'mounts']);
  t.deepEqual(Object.keys(json.volumes[1] ?? {}), ['name', 'kind', 'recursive', 'mode', 'uid', 'gid']);
  const defaults = validatePodManifest(withVolume({ kind: 'empty', name: 'tmp' }));
  t.true(serializePodManifest(defaults).includes('{"name":"tmp","kind":"empty","mode":"0755","uid":0,"gid":0}'));
});
