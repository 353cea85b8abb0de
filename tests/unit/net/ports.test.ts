import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RktError, UsageError } from '../../../src/common/errors.js';
import type { Port } from '../../../src/image/manifest.js';
import { parsePortFlag } from '../../../src/net/flags.js';
import { netInfoText, parseNetInfo, resultIp, type NetInfo } from '../../../src/net/net-info.js';
import { checkPortsFree, mapPorts, overlaps } from '../../../src/net/ports.js';

const imagePorts: Port[] = [
  { name: 'http', protocol: 'tcp', port: 80, count: 1 },
  { name: 'dns', protocol: 'udp', port: 53, count: 1 },
  { name: 'range', protocol: 'tcp', port: 9000, count: 3 },
];

test('--port maps image ports by name; a count forwards consecutive ports', (t) => {
  t.deepEqual(mapPorts(['http:8080', 'dns:127.0.0.1:5353', 'range:19000'].map(parsePortFlag), imagePorts), [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    { hostPort: 19000, containerPort: 9000, protocol: 'tcp' },
    { hostPort: 19001, containerPort: 9001, protocol: 'tcp' },
    { hostPort: 19002, containerPort: 9002, protocol: 'tcp' },
  ]);
});

test('--port: an unknown name lists the image ports; a host port given twice is refused', (t) => {
  const err = t.throws(() => mapPorts([parsePortFlag('https:8443')], imagePorts), { instanceOf: UsageError });
  t.is(err?.message, 'bad --port value "https:8443": no port named "https": the image\'s ports are http (tcp 80), dns (udp 53), range (tcp 9000-9002)');
  t.regex(t.throws(() => mapPorts([parsePortFlag('http:80')], []))?.message ?? '', /the image declares no ports/);
  t.regex(t.throws(() => mapPorts(['http:8080', 'range:8080'].map(parsePortFlag), imagePorts))?.message ?? '', /host port 8080\/tcp is given twice/);
  t.regex(t.throws(() => mapPorts([parsePortFlag('range:65534')], imagePorts))?.message ?? '', /go past port 65535/);
  t.notThrows(() => mapPorts(['http:53', 'dns:53'].map(parsePortFlag), imagePorts), 'tcp and udp do not clash');
});

test('overlap of host ports: protocol, port, and addresses', (t) => {
  const m = (hostPort: number, protocol: 'tcp' | 'udp', hostIP?: string) => ({ hostPort, containerPort: 1, protocol, ...(hostIP === undefined ? {} : { hostIP }) });
  t.true(overlaps(m(80, 'tcp'), m(80, 'tcp', '10.0.0.1')));
  t.true(overlaps(m(80, 'tcp', '0.0.0.0'), m(80, 'tcp', '10.0.0.1')));
  t.true(overlaps(m(80, 'tcp', '10.0.0.1'), m(80, 'tcp', '10.0.0.1')));
  t.false(overlaps(m(80, 'tcp', '10.0.0.1'), m(80, 'tcp', '10.0.0.2')));
  t.false(overlaps(m(80, 'tcp'), m(80, 'udp')));
  t.false(overlaps(m(80, 'tcp'), m(81, 'tcp')));
});

function info(ports: NetInfo['portMappings'], tornDown = false): NetInfo {
  return { version: 1, containerId: 'x', complete: true, tornDown, networks: [], portMappings: ports };
}

test('a host port another pod forwards is refused, naming that pod', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'rkt-ports-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const pod = (uuid: string, text: string) => {
    mkdirSync(path.join(root, 'run', uuid), { recursive: true });
    writeFileSync(path.join(root, 'run', uuid, 'net-info.json'), text);
  };
  const want = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }];
  await t.notThrowsAsync(checkPortsFree(path.join(root, 'nothing'), want), 'no pods directory');
  pod('aaaa', netInfoText(info([{ hostPort: 8080, containerPort: 80, protocol: 'udp' }])));
  pod('bbbb', netInfoText(info([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], true)));
  pod('cccc', '');
  mkdirSync(path.join(root, 'run', 'dddd'));
  await t.notThrowsAsync(checkPortsFree(root, want), 'udp, torn down, not yet written, no networks');
  pod('eeee', netInfoText(info([{ hostPort: 8080, containerPort: 8000, protocol: 'tcp' }])));
  const err = await t.throwsAsync(checkPortsFree(root, want, 'ffff'), { instanceOf: RktError });
  t.is(err?.code, 'EPORTINUSE');
  t.is(err?.message, 'host port 8080/tcp is already forwarded by pod eeee');
  await t.notThrowsAsync(checkPortsFree(root, want, 'eeee'), 'a pod does not clash with itself');
});

test('net-info.json round trip, and bad files named', (t) => {
  const i: NetInfo = {
    ...info([]),
    networks: [{ netName: 'default', netConf: '(built-in)', pluginPath: '/usr/lib/cni/ptp', ifName: 'eth0', ip: '172.16.28.2', args: '', conf: { cniVersion: '1.0.0', name: 'default', plugins: [{ type: 'ptp' }] }, portMappings: [] }],
  };
  t.deepEqual(parseNetInfo('/p/net-info.json', netInfoText(i)), i);
  t.is(parseNetInfo('/p/net-info.json', ''), undefined);
  t.throws(() => parseNetInfo('/p/net-info.json', '{"version":2}'), { instanceOf: RktError, message: 'bad /p/net-info.json: not a version 1 net-info file' });
  t.throws(() => parseNetInfo('/p/net-info.json', '{"version":1,"containerId":"x","networks":[{"netName":1}]}'), { message: /networks\[0\]\.netName is not a string/ });
});

test('the pod address of a CNI result of any version', (t) => {
  t.is(resultIp({ ips: [{ address: 'fd00::2/64' }, { address: '10.1.2.3/24', gateway: '10.1.2.1' }] }), '10.1.2.3');
  t.is(resultIp({ ips: [{ version: '4', address: '10.1.2.3/24' }] }), '10.1.2.3');
  t.is(resultIp({ ip4: { ip: '10.9.0.5/16' } }), '10.9.0.5');
  t.is(resultIp({}), '');
  t.is(resultIp(null), '');
});

test('what status and list print of the networks', async (t) => {
  const { networksJson, networksText } = await import('../../../src/net/net-info.js');
  const entry = (netName: string, ip: string) => ({ netName, netConf: '(built-in)', pluginPath: '/usr/lib/cni/ptp', ifName: 'eth0', ip, args: 'IgnoreUnknown=1;IP=1.2.3.4', conf: { cniVersion: '1.0.0', name: netName, plugins: [{ type: 'ptp' }] }, portMappings: [], result: { ips: [] } });
  const i: NetInfo = { ...info([]), networks: [entry('default', '172.16.28.5'), entry('v6', 'fd00::5'), entry('half', '')] };
  t.is(networksText(i), 'default:ip4=172.16.28.5,v6:ip6=fd00::5');
  t.is(networksText(undefined), '');
  t.deepEqual(networksJson(i)[0], { netName: 'default', netConf: '(built-in)', pluginPath: '/usr/lib/cni/ptp', ifName: 'eth0', ip: '172.16.28.5', args: 'IgnoreUnknown=1;IP=1.2.3.4' });
  t.deepEqual(networksJson(undefined), []);
});
