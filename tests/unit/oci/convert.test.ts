import test from 'ava';
import { convertConfig, OCI_ANNOTATIONS, portOf, userAndGroup, volumeName } from '../../../src/oci/convert.js';
import { validateImageManifest } from '../../../src/image/manifest.js';
import { parseImageConfig } from '../../../src/oci/manifest.js';
import { RktError } from '../../../src/common/errors.js';

const config = parseImageConfig(JSON.stringify({
  architecture: 'amd64', os: 'linux',
  config: {
    User: 'web', Env: ['PATH=/usr/bin:/bin', 'GREETING=hi=there'], Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo $GREETING'],
    WorkingDir: '/srv', ExposedPorts: { '80/tcp': {}, '53/udp': {}, '8080': {} }, Volumes: { '/var/lib/data': {} },
    Labels: { 'org.opencontainers.image.title': 'demo', Maintainer: 'Someone' },
  },
  rootfs: { type: 'layers', diff_ids: [`sha256:${'b'.repeat(64)}`] },
}), 'cfg');

test('an OCI config becomes a valid appc image manifest with exactly its app', (t) => {
  const m = convertConfig({
    name: 'example.com/demo', config, reference: 'docker://example.com/demo:v1', manifestDigest: `sha256:${'c'.repeat(64)}`,
    registry: 'example.com', repository: 'demo', tag: 'v1',
    passwd: 'root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/srv:/bin/sh\n', group: 'root:x:0:\nwebgrp:x:1001:\n',
  });
  t.notThrows(() => validateImageManifest(JSON.parse(JSON.stringify(m))));
  t.deepEqual(m.app?.exec, ['/bin/sh', '-c', 'echo $GREETING']);
  t.deepEqual(m.app?.environment, [{ name: 'PATH', value: '/usr/bin:/bin' }, { name: 'GREETING', value: 'hi=there' }]);
  t.is(m.app?.user, 'web');
  t.is(m.app?.group, 'webgrp');
  t.is(m.app?.workingDirectory, '/srv');
  t.deepEqual(m.app?.ports.map((p) => p.name), ['53-udp', '80-tcp', '8080-tcp']);
  t.deepEqual(m.app?.mountPoints, [{ name: 'volume-var-lib-data', path: '/var/lib/data' }]);
  const ann = new Map(m.annotations.map((a) => [a.name, a.value]));
  t.is(ann.get(OCI_ANNOTATIONS.reference), 'docker://example.com/demo:v1');
  t.is(ann.get(OCI_ANNOTATIONS.digest), `sha256:${'c'.repeat(64)}`);
  t.is(ann.get(OCI_ANNOTATIONS.registry), 'example.com');
  t.is(ann.get('org.opencontainers.image.title'), 'demo');
  t.is(ann.get('maintainer'), 'Someone', 'a label that is no AC Identifier is lowercased');
  t.deepEqual(m.labels, [{ name: 'version', value: 'v1' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }]);
});

test('User forms: empty, uid, name, name:group, uid:gid', (t) => {
  const passwd = 'root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/srv:/bin/sh\n';
  t.deepEqual(userAndGroup(undefined), { user: '0', group: '0' });
  t.deepEqual(userAndGroup('1000', passwd), { user: '1000', group: '1001' });
  t.deepEqual(userAndGroup('web', passwd), { user: 'web', group: '1001' });
  t.deepEqual(userAndGroup('nobody', passwd), { user: 'nobody', group: '0' });
  t.deepEqual(userAndGroup('web:wheel'), { user: 'web', group: 'wheel' });
  t.deepEqual(userAndGroup('5:6'), { user: '5', group: '6' });
});

test('ports and volumes are named as docker2aci named them', (t) => {
  t.deepEqual(portOf('80/tcp', 'x'), { name: '80-tcp', protocol: 'tcp', port: 80, count: 1 });
  t.deepEqual(portOf('7000-7002/udp', 'x'), { name: '7000-udp', protocol: 'udp', port: 7000, count: 3 });
  t.throws(() => portOf('http', 'x'), { instanceOf: RktError });
  t.throws(() => portOf('70000/tcp', 'x'), { instanceOf: RktError });
  t.is(volumeName('/data'), 'volume-data');
  t.is(volumeName('/'), 'volume-root');
});
