import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RktError, UsageError } from '../../../src/common/errors.js';
import { parseNetFlags } from '../../../src/net/flags.js';
import { loadNetworks } from '../../../src/net/netd.js';
import { BUILT_IN_CONF, builtInNetworks, parseNetConf, planNetworks, PORTMAP_PLUGIN, type LoadedNetworks } from '../../../src/net/networks.js';

test('the built-in networks', (t) => {
  const b = builtInNetworks();
  t.deepEqual(b.default.conf, {
    cniVersion: '1.0.0', name: 'default',
    plugins: [{ type: 'ptp', ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: '172.16.28.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } }],
  });
  t.deepEqual(b['default-restricted'].conf, {
    cniVersion: '1.0.0', name: 'default-restricted',
    plugins: [{ type: 'ptp', ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: '172.31.0.0/16' }]], routes: [] } }],
  });
  t.deepEqual(builtInNetworks({ ipamDataDir: '/tmp/x' }).default.conf.plugins[0]?.['ipam'], {
    type: 'host-local', dataDir: '/tmp/x', ranges: [[{ subnet: '172.16.28.0/24' }]], routes: [{ dst: '0.0.0.0/0' }],
  });
});

test('net.d files: .conf and .conflist', (t) => {
  t.deepEqual(parseNetConf('/n/10-a.conf', '{"cniVersion":"0.3.1","name":"a","type":"bridge","bridge":"br0"}'), {
    name: 'a', file: '/n/10-a.conf', conf: { cniVersion: '0.3.1', name: 'a', plugins: [{ type: 'bridge', bridge: 'br0' }] },
  });
  t.deepEqual(parseNetConf('/n/b.conflist', '{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"ptp"},{"type":"portmap"}]}').conf.plugins, [{ type: 'ptp' }, { type: 'portmap' }]);
});

test('bad net.d files are errors naming the file', (t) => {
  const cases: [string, string, RegExp][] = [
    ['x.conf', '{', /not JSON/],
    ['x.conf', '[]', /not a JSON object/],
    ['x.conf', '{"cniVersion":"1.0.0","type":"ptp"}', /"name" must be a network name/],
    ['x.conf', '{"cniVersion":"1.0.0","name":"bad name","type":"ptp"}', /"name" must be a network name/],
    ['x.conf', '{"cniVersion":"1.0.0","name":"host","type":"ptp"}', /"host" is a reserved network name/],
    ['x.conf', '{"name":"a","type":"ptp"}', /"cniVersion" is missing/],
    ['x.conf', '{"cniVersion":"9.9.9","name":"a","type":"ptp"}', /"cniVersion" 9.9.9 is not one of/],
    ['x.conf', '{"cniVersion":"1.0.0","name":"a"}', /"type" must name a plugin/],
    ['x.conf', '{"cniVersion":"1.0.0","name":"a","type":"../bin/sh"}', /"type" must name a plugin/],
    ['x.conflist', '{"cniVersion":"1.0.0","name":"a","plugins":[]}', /"plugins" must be a non-empty list/],
    ['x.conflist', '{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"ptp"},{}]}', /plugins\[1\]: "type" must name a plugin/],
  ];
  for (const [file, text, re] of cases) {
    const err = t.throws(() => parseNetConf(`/etc/rkt/net.d/${file}`, text), { instanceOf: RktError }, text);
    t.is(err?.code, 'ENETCONF');
    t.true(err?.message.startsWith(`bad network configuration /etc/rkt/net.d/${file}: `), err?.message);
    t.regex(err?.message ?? '', re);
  }
});

const none: LoadedNetworks = { networks: [], dirs: ['/etc/rkt/net.d', '/usr/lib/rkt/net.d'] };
const loaded: LoadedNetworks = {
  dirs: none.dirs,
  networks: [
    parseNetConf('/etc/rkt/net.d/10-br.conf', '{"cniVersion":"1.0.0","name":"br","type":"bridge"}'),
    parseNetConf('/etc/rkt/net.d/20-mv.conflist', '{"cniVersion":"1.0.0","name":"mv","plugins":[{"type":"macvlan"}]}'),
  ],
};

test('plan: default, then default-restricted added whenever default is not requested', (t) => {
  const p = planNetworks(parseNetFlags([]), none);
  t.is(p.kind, 'cni');
  if (p.kind !== 'cni') return;
  t.deepEqual(p.networks.map((n) => [n.name, n.ifName, n.netConf, n.args]), [['default', 'eth0', BUILT_IN_CONF, '']]);
  const q = planNetworks(parseNetFlags(['mv,br:IP=10.0.0.9']), loaded);
  if (q.kind !== 'cni') return t.fail();
  t.deepEqual(q.networks.map((n) => [n.name, n.ifName, n.netConf, n.args]), [
    ['mv', 'eth0', '/etc/rkt/net.d/20-mv.conflist', ''],
    ['br', 'eth1', '/etc/rkt/net.d/10-br.conf', 'IgnoreUnknown=1;IP=10.0.0.9'],
    ['default-restricted', 'eth2', BUILT_IN_CONF, ''],
  ]);
  const r = planNetworks(parseNetFlags(['default-restricted']), none);
  if (r.kind !== 'cni') return t.fail();
  t.deepEqual(r.networks.map((n) => n.name), ['default-restricted']);
  const all = planNetworks(parseNetFlags(['all']), loaded);
  if (all.kind !== 'cni') return t.fail();
  t.deepEqual(all.networks.map((n) => n.name), ['br', 'mv', 'default-restricted']);
  t.deepEqual(planNetworks(parseNetFlags(['host']), loaded), { kind: 'host' });
  t.deepEqual(planNetworks(parseNetFlags(['none']), loaded), { kind: 'none' });
});

test('plan: a net.d network named default replaces the built-in one', (t) => {
  const mine = parseNetConf('/etc/rkt/net.d/99-default.conf', '{"cniVersion":"1.0.0","name":"default","type":"bridge"}');
  const p = planNetworks(parseNetFlags(['default']), { ...loaded, networks: [...loaded.networks, mine] });
  if (p.kind !== 'cni') return t.fail();
  t.deepEqual(p.networks.map((n) => [n.name, n.netConf]), [['default', '/etc/rkt/net.d/99-default.conf']]);
  t.deepEqual(p.networks[0]?.conf.plugins, [{ type: 'bridge' }]);
  const all = planNetworks(parseNetFlags(['all']), { ...loaded, networks: [...loaded.networks, mine] });
  if (all.kind !== 'cni') return t.fail();
  t.deepEqual(all.networks.map((n) => n.name), ['br', 'mv', 'default'], 'no default-restricted beside default');
});

test('plan: an unknown network names the net.d directories searched', (t) => {
  const err = t.throws(() => planNetworks(parseNetFlags(['nope']), loaded), { instanceOf: RktError });
  t.is(err?.code, 'ENETUNKNOWN');
  t.is(err?.message, 'network "nope" not found in /etc/rkt/net.d or /usr/lib/rkt/net.d');
  t.is(err?.hint, 'known networks: br, mv, default, default-restricted');
});

test('plan: forwarded ports chain portmap after the first network only', (t) => {
  const ports = [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }];
  const p = planNetworks(parseNetFlags(['br']), loaded, { ports });
  if (p.kind !== 'cni') return t.fail();
  t.deepEqual(p.networks[0]?.conf.plugins, [{ type: 'bridge' }, PORTMAP_PLUGIN]);
  t.deepEqual(p.networks[0]?.portMappings, ports);
  t.deepEqual(p.networks[1]?.conf.plugins.map((x) => x.type), ['ptp']);
  t.deepEqual(p.networks[1]?.portMappings, []);
  const withOwn = parseNetConf('/n/pm.conflist', '{"cniVersion":"1.0.0","name":"pm","plugins":[{"type":"ptp"},{"type":"portmap","capabilities":{"portMappings":true},"snat":false}]}');
  const q = planNetworks(parseNetFlags(['pm']), { ...loaded, networks: [withOwn] }, { ports });
  if (q.kind !== 'cni') return t.fail();
  t.is(q.networks[0]?.conf.plugins.length, 2, 'a network that already has a portmap keeps its own');
  t.throws(() => planNetworks(parseNetFlags(['host']), loaded, { ports }), { instanceOf: UsageError, message: /--port needs a pod network, not --net=host/ });
});

test('net.d loading: lexical order, local overrides system by name, bad files and duplicates named', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'rkt-netd-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const local = path.join(root, 'etc');
  const system = path.join(root, 'usr');
  mkdirSync(path.join(local, 'net.d'), { recursive: true });
  mkdirSync(path.join(system, 'net.d'), { recursive: true });
  const w = (dir: string, f: string, o: object) => writeFileSync(path.join(dir, 'net.d', f), JSON.stringify(o));
  w(system, '30-c.conf', { cniVersion: '1.0.0', name: 'c', type: 'ptp' });
  w(system, '10-a.conf', { cniVersion: '1.0.0', name: 'a', type: 'ptp' });
  w(local, '50-a.conf', { cniVersion: '1.0.0', name: 'a', type: 'bridge' });
  w(local, '20-b.conflist', { cniVersion: '1.0.0', name: 'b', plugins: [{ type: 'ptp' }] });
  w(local, 'README.json', { ignored: true });
  const got = await loadNetworks(local, system);
  t.deepEqual(got.dirs, [path.join(local, 'net.d'), path.join(system, 'net.d')]);
  t.deepEqual(got.networks.map((n) => [n.name, path.relative(root, n.file ?? '')]), [['b', 'etc/net.d/20-b.conflist'], ['c', 'usr/net.d/30-c.conf'], ['a', 'etc/net.d/50-a.conf']]);
  t.deepEqual(await loadNetworks(path.join(root, 'none'), path.join(root, 'none2')), { networks: [], dirs: [path.join(root, 'none', 'net.d'), path.join(root, 'none2', 'net.d')] });
  w(local, '60-a.conf', { cniVersion: '1.0.0', name: 'a', type: 'ptp' });
  await t.throwsAsync(loadNetworks(local, system), { instanceOf: RktError, message: `network "a" is defined twice: in ${path.join(local, 'net.d/50-a.conf')} and in ${path.join(local, 'net.d/60-a.conf')}` });
  rmSync(path.join(local, 'net.d', '60-a.conf'));
  writeFileSync(path.join(system, 'net.d', '40-bad.conf'), '{"name": "x"');
  await t.throwsAsync(loadNetworks(local, system), { instanceOf: RktError, message: new RegExp(`^bad network configuration ${path.join(system, 'net.d/40-bad.conf')}: not JSON`) });
});
