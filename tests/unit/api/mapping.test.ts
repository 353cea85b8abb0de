import test from 'ava';
import {
  enumName, eventMatches, imageEvents, imageMatches, insecureFlagsText, nanos, podEvents, podMatches, POD_STATES, v1Image, v1Pod, v1PodState,
  type PodSnapshot, type V1Event, type V1PodState,
} from '../../../src/api/mapping.js';
import { cgroupOf } from '../../../src/api/state.js';
import { journalctlArgs, logLine, podJournalDir } from '../../../src/api/logs.js';
import { parseListen } from '../../../src/cli/api-service.js';
import type { PodInfo } from '../../../src/pod/pods.js';
import type { PodManifest } from '../../../src/image/pod-manifest.js';
import type { ImageRecord } from '../../../src/store/records.js';
import type { PodState } from '../../../src/pod/layout.js';

const ID = `sha512-${'a'.repeat(128)}`;
const UUID = '3f2a0c1e-8b7d-4c6a-9e5f-0123456789ab';

function info(state: PodState, statuses: [string, number][] = [], extra: Partial<PodInfo> = {}): PodInfo {
  return { uuid: UUID, state, dir: `/var/lib/rkt/pods/x/${UUID}`, locked: false, appStatuses: new Map(statuses), created: new Date('2026-12-01T10:00:00.123Z'), ...extra };
}

const MANIFEST: PodManifest = {
  acVersion: '0.8.11', acKind: 'PodManifest', volumes: [], isolators: [], ports: [],
  annotations: [{ name: 'team', value: 'core' }],
  apps: [
    { name: 'web', image: { id: ID, name: 'example.com/web', labels: [{ name: 'version', value: '1.2' }] }, mounts: [], annotations: [{ name: 'a', value: 'b' }] },
    { name: 'side', image: { id: ID, name: 'example.com/side', labels: [] }, mounts: [], annotations: [] },
  ],
};

test('pod states map to v1alpha PodState as rkt 1.x mapped them (both garbage states are GARBAGE)', (t) => {
  const want: Record<PodState, V1PodState> = {
    embryo: 'POD_STATE_EMBRYO', preparing: 'POD_STATE_PREPARING', 'aborted-prepare': 'POD_STATE_ABORTED_PREPARE', prepared: 'POD_STATE_PREPARED',
    running: 'POD_STATE_RUNNING', exited: 'POD_STATE_EXITED', 'exited-garbage': 'POD_STATE_GARBAGE', garbage: 'POD_STATE_GARBAGE',
  };
  for (const [s, v] of Object.entries(want)) t.is(v1PodState(s as PodState), v, s);
  t.is(POD_STATES.indexOf('POD_STATE_GARBAGE'), 8, 'enum numbers are the proto\'s');
  t.is(enumName(POD_STATES, 4), 'POD_STATE_RUNNING');
  t.is(enumName(POD_STATES, 'POD_STATE_EXITED'), 'POD_STATE_EXITED');
  t.is(enumName(POD_STATES, 'nope'), undefined);
});

test('a running pod: pid, networks, cgroup, apps running or exited with their status, times in nanoseconds', (t) => {
  const p = v1Pod(info('running', [['side', 3]], { pid: 4242, started: new Date('2026-12-01T10:00:01Z') }), {
    manifest: MANIFEST, manifestBytes: Buffer.from('{}'), cgroup: '/machine.slice/x',
    net: { version: 1, containerId: UUID, complete: true, tornDown: false, portMappings: [], networks: [
      { netName: 'default', netConf: '(built-in)', pluginPath: 'ptp', ifName: 'eth0', ip: '172.16.28.5', args: '', conf: { name: 'default', cniVersion: '0.4.0', plugins: [] } as never, portMappings: [] },
      { netName: 'v6', netConf: 'x', pluginPath: 'ptp', ifName: 'eth1', ip: 'fd00::5', args: '', conf: { name: 'v6', cniVersion: '0.4.0', plugins: [] } as never, portMappings: [] },
    ] },
  });
  t.is(p.state, 'POD_STATE_RUNNING');
  t.is(p.pid, 4242);
  t.is(p.cgroup, '/machine.slice/x');
  t.deepEqual(p.networks, [{ name: 'default', ipv4: '172.16.28.5', ipv6: '' }, { name: 'v6', ipv4: '', ipv6: 'fd00::5' }]);
  t.deepEqual(p.apps.map((a) => [a.name, a.state, a.exit_code, a.image.name, a.image.version]), [
    ['web', 'APP_STATE_RUNNING', -1, 'example.com/web', '1.2'],
    ['side', 'APP_STATE_EXITED', 3, 'example.com/side', 'latest'],
  ]);
  t.deepEqual(p.apps[0]?.annotations, [{ Key: 'a', value: 'b' }]);
  t.deepEqual(p.annotations, [{ Key: 'team', value: 'core' }]);
  t.is(p.created_at, '1796119200123000000', 'int64 nanoseconds, exact (a string)');
  t.is(p.started_at, nanos(new Date('2026-12-01T10:00:01Z')));
  t.is(p.gc_marked_at, '0');
});

test('an exited pod has no networks or cgroup; an app killed before its status is EXITED -1; a prepared pod UNDEFINED -1; an embryo only id and state', (t) => {
  const x = v1Pod(info('exited', [['web', 0]], { pid: 10 }), { manifest: MANIFEST, cgroup: '/x', net: { version: 1, containerId: UUID, complete: true, tornDown: true, portMappings: [], networks: [] } });
  t.deepEqual(x.apps.map((a) => [a.state, a.exit_code]), [['APP_STATE_EXITED', 0], ['APP_STATE_EXITED', -1]]);
  t.is(x.cgroup, '');
  t.deepEqual(x.networks, []);
  const prepared = v1Pod(info('prepared'), { manifest: MANIFEST });
  t.deepEqual(prepared.apps.map((a) => [a.state, a.exit_code]), [['APP_STATE_UNDEFINED', -1], ['APP_STATE_UNDEFINED', -1]]);
  t.is(prepared.pid, -1);
  const embryo = v1Pod(info('embryo'), { manifest: MANIFEST });
  t.deepEqual([embryo.id, embryo.state, embryo.apps.length, embryo.created_at], [UUID, 'POD_STATE_EMBRYO', 0, '0']);
  const marked = v1Pod(info('exited-garbage'), { gcMarkedAt: new Date(5000) });
  t.is(marked.gc_marked_at, '5000000000');
});

test('PodFilter: ids, states any-of; app names, image ids, annotations all-of; pod_sub_cgroups: the pod\'s cgroup is a prefix', (t) => {
  const p = v1Pod(info('running', [], { pid: 1 }), { manifest: MANIFEST, cgroup: '/machine.slice/rkt-x' });
  t.true(podMatches(p, {}));
  t.true(podMatches(p, { ids: ['other', UUID] }));
  t.false(podMatches(p, { ids: ['other'] }));
  t.true(podMatches(p, { states: ['POD_STATE_EXITED', 4] }));
  t.false(podMatches(p, { states: ['POD_STATE_EXITED'] }));
  t.true(podMatches(p, { app_names: ['web', 'side'] }));
  t.false(podMatches(p, { app_names: ['web', 'db'] }));
  t.true(podMatches(p, { image_ids: [ID] }));
  t.true(podMatches(p, { annotations: [{ Key: 'team', value: 'core' }] }));
  t.false(podMatches(p, { annotations: [{ Key: 'team', value: 'web' }] }));
  t.true(podMatches(p, { cgroups: ['/machine.slice/rkt-x'] }));
  t.true(podMatches(p, { pod_sub_cgroups: ['/machine.slice/rkt-x/system.slice/web.service'] }));
  t.false(podMatches(p, { pod_sub_cgroups: ['/system.slice'] }));
  t.false(podMatches(p, { network_names: ['default'] }));
  t.false(podMatches(p, { ids: [UUID], states: ['POD_STATE_EXITED'] }), 'AND within one filter');
});

const RECORD: ImageRecord = {
  id: ID, name: 'coreos.com/etcd', labels: [{ name: 'version', value: '3.1' }, { name: 'os', value: 'linux' }], importTime: '2026-12-01T10:00:00.000Z',
  lastUsed: '2026-12-01T10:00:00.000Z', blobSize: 100, size: 120, treeSize: 300, compression: 'none', latest: false, dependencies: [],
};

test('an image: name, version label, import time in seconds, size blob + tree, labels and annotations; manifest as given', (t) => {
  const manifest = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'coreos.com/etcd', labels: RECORD.labels, dependencies: [], pathWhitelist: [], annotations: [{ name: 'created', value: 'x' }] } as const;
  const img = v1Image(RECORD, manifest, Buffer.from('{"x":1}'));
  t.deepEqual(img.base_format, { type: 'IMAGE_TYPE_APPC', version: '0.8.11' });
  t.is(img.version, '3.1');
  t.is(img.import_timestamp, '1796119200');
  t.is(img.size, '400');
  t.deepEqual(img.annotations, [{ Key: 'created', value: 'x' }]);
  t.is(img.manifest.toString(), '{"x":1}');
  t.is(v1Image({ ...RECORD, labels: [] }, undefined, undefined).version, 'latest');
});

test('ImageFilter: rkt\'s base names, prefixes, keywords, full names, labels, import times', (t) => {
  const img = v1Image(RECORD, undefined, undefined);
  t.true(imageMatches(img, { base_names: ['etcd'] }));
  t.false(imageMatches(img, { base_names: ['etc'] }));
  t.false(imageMatches({ ...img, name: 'k8s.io/etcd-backup' }, { base_names: ['etcd'] }));
  t.true(imageMatches(img, { prefixes: ['coreos.com/'] }));
  t.true(imageMatches(img, { keywords: ['tcd'] }));
  t.true(imageMatches(img, { full_names: ['coreos.com/etcd'] }));
  t.false(imageMatches(img, { full_names: ['etcd'] }));
  t.true(imageMatches(img, { labels: [{ Key: 'os', value: 'linux' }, { Key: 'version', value: '3.1' }] }));
  t.false(imageMatches(img, { labels: [{ Key: 'os', value: 'darwin' }] }));
  t.true(imageMatches(img, { imported_after: '1796119199', imported_before: 1796119201 }));
  t.false(imageMatches(img, { imported_after: '1796119200' }), 'strictly after');
  t.false(imageMatches(img, { imported_before: '1796119200' }), 'strictly before');
});

const snap = (state: PodState, exited: [string, number][] = [], started: string[] = []): PodSnapshot => ({ state, exited: new Map(exited), started: new Set(started) });

test('pod events: each transition once, in lifecycle order; a pod seen late gets the events of the steps it took', (t) => {
  const now = new Date(7_000);
  const types = (e: V1Event[]) => e.map((x) => x.type);
  t.deepEqual(types(podEvents(new Map(), new Map([['u', snap('preparing')]]), now)), []);
  t.deepEqual(types(podEvents(new Map([['u', snap('preparing')]]), new Map([['u', snap('prepared')]]), now)), ['EVENT_TYPE_POD_PREPARED']);
  t.deepEqual(types(podEvents(new Map([['u', snap('prepared')]]), new Map([['u', snap('running', [], ['web'])]]), now)), ['EVENT_TYPE_POD_STARTED', 'EVENT_TYPE_APP_STARTED']);
  const exit = podEvents(new Map([['u', snap('running', [], ['web'])]]), new Map([['u', snap('exited', [['web', 2]], ['web'])]]), now);
  t.deepEqual(types(exit), ['EVENT_TYPE_APP_EXITED', 'EVENT_TYPE_POD_EXITED']);
  t.deepEqual(exit[0], { type: 'EVENT_TYPE_APP_EXITED', id: 'u', from: 'web', time: '7', data: [{ Key: 'exit_code', value: '2' }] });
  t.deepEqual(exit[1]?.data, [{ Key: 'app-web', value: '2' }]);
  t.deepEqual(types(podEvents(new Map([['u', snap('preparing')]]), new Map([['u', snap('exited', [['web', 0]], ['web'])]]), now)),
    ['EVENT_TYPE_POD_STARTED', 'EVENT_TYPE_APP_STARTED', 'EVENT_TYPE_APP_EXITED', 'EVENT_TYPE_POD_EXITED'], 'a short pod seen first exited');
  t.deepEqual(types(podEvents(new Map([['u', snap('exited')]]), new Map([['u', snap('exited-garbage')]]), now)), ['EVENT_TYPE_POD_GARBAGE_COLLECTED']);
  t.deepEqual(types(podEvents(new Map([['u', snap('exited')]]), new Map(), now)), ['EVENT_TYPE_POD_GARBAGE_COLLECTED'], 'removed at once');
  t.deepEqual(types(podEvents(new Map([['u', snap('garbage')]]), new Map(), now)), [], 'already reported when marked');
  t.deepEqual(types(podEvents(new Map([['u', snap('preparing')]]), new Map([['u', snap('aborted-prepare')]]), now)), ['EVENT_TYPE_POD_PREPARE_ABORTED']);
  t.deepEqual(types(podEvents(new Map([['u', snap('running')]]), new Map([['u', snap('running')]]), now)), [], 'no change, no event');
});

test('image events and the event filter', (t) => {
  const e = imageEvents(new Map([['a', 'x/a']]), new Map([['b', 'x/b']]), new Date(2000));
  t.deepEqual(e.map((x) => [x.type, x.id, x.from]), [['EVENT_TYPE_IMAGE_IMPORTED', 'b', 'x/b'], ['EVENT_TYPE_IMAGE_REMOVED', 'a', 'x/a']]);
  const ev = e[0] as V1Event;
  t.true(eventMatches(ev, undefined));
  t.true(eventMatches(ev, { types: [8] }));
  t.false(eventMatches(ev, { types: ['EVENT_TYPE_POD_EXITED'] }));
  t.true(eventMatches(ev, { ids: ['b'], names: ['x/b'] }));
  t.false(eventMatches(ev, { names: ['x/a'] }));
  t.false(eventMatches(ev, { since_time: '3' }));
  t.false(eventMatches(ev, { until_time: '1' }));
});

test('--listen: HOST:PORT, [IPv6]:PORT, :PORT; localhost is 127.0.0.1; anything else a usage error', (t) => {
  t.deepEqual(parseListen('localhost:15441'), { host: '127.0.0.1', port: 15441 });
  t.deepEqual(parseListen('0.0.0.0:1'), { host: '0.0.0.0', port: 1 });
  t.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  t.deepEqual(parseListen(':80'), { host: '::', port: 80 });
  for (const bad of ['15441', 'host:', 'host:99999', '::1:5', '[1.2.3.4]:5', 'a b:1']) {
    t.throws(() => parseListen(bad), { message: new RegExp(`^bad --listen "${bad.replace(/[[\]]/g, '\\$&')}"`) }, bad);
  }
});

test('GetInfo\'s insecure flags; the cgroup of a pod\'s PID 1; journalctl arguments and lines', (t) => {
  t.is(insecureFlagsText(new Set()), 'none');
  t.is(insecureFlagsText(new Set(['tls', 'image'])), 'image,tls');
  t.is(cgroupOf('12:pids:/a\n1:name=systemd:/rkt-x/init.scope\n0::/rkt-x\n'), '/rkt-x');
  t.is(cgroupOf('0::/machine.slice/machine-rkt.scope/init.scope\n'), '/machine.slice/machine-rkt.scope');
  t.is(podJournalDir(UUID, '/var/log/journal'), '/var/log/journal/3f2a0c1e8b7d4c6a9e5f0123456789ab');
  t.deepEqual(journalctlArgs('/j', { app: 'web', lines: 5, since: 10, until: 20, follow: true }),
    ['--directory=/j', '--output=json', '--no-pager', '--quiet', 'SYSLOG_IDENTIFIER=web', '--lines=5', '--since=@10', '--until=@20', '--follow']);
  t.deepEqual(journalctlArgs('/j', {}), ['--directory=/j', '--output=json', '--no-pager', '--quiet']);
  t.is(logLine('{"MESSAGE":"hello","__REALTIME_TIMESTAMP":"1796119200000000"}'), '2026-12-01T10:00:00.000Z hello');
  t.is(logLine('{"MESSAGE":[104,105]}'), 'hi', 'a message that is not UTF-8 comes as bytes');
  t.is(logLine('{"PRIORITY":"6"}'), undefined);
  t.is(logLine('not json'), undefined);
});
