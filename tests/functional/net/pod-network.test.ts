/**
 * src/net for real: Debian's CNI plugins run by the library inside a network namespace made for each test
 * (the pods' "host"). Traffic goes only between that namespace and its pods.
 */
import test, { type ExecutionContext } from 'ava';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RKT } from '../../lib/rkt.js';
import { TestHost, netSkipReason, type Outcome, type Pod } from './harness.js';

const skip = netSkipReason();

/** A host for this test, removed at its end whatever happens. */
async function host(t: ExecutionContext): Promise<TestHost> {
  const h = new TestHost();
  t.teardown(() => h.cleanup((s) => t.log(s)));
  await h.start();
  return h;
}

function ok(t: ExecutionContext, o: Outcome | undefined): NonNullable<Outcome['info']> {
  if (o === undefined || !o.ok || o.info === undefined || o.info === null) {
    t.fail(`expected a set-up network, got ${JSON.stringify(o)}`);
    throw new Error('setup failed');
  }
  return o.info;
}

async function pingOk(t: ExecutionContext, h: TestHost, from: Pod | 'host', ip: string): Promise<void> {
  const args = ['ping', '-c', '1', '-W', '3', ip];
  const r = from === 'host' ? await h.inHost('/usr/bin/busybox', args) : await h.inPod(from, '/usr/bin/busybox', args);
  t.is(r.exitCode, 0, `ping ${ip} from ${from === 'host' ? 'the host side' : from.uuid}: ${r.stdout}${r.stderr}`);
}

/** Nothing of the pods' networks is left in the test host (TestHost.leftovers). */
async function assertNothingLeft(t: ExecutionContext, h: TestHost, leaseNets: readonly string[]): Promise<void> {
  t.deepEqual(await h.leftovers(leaseNets), [], 'nothing of the pods left');
}

/** A serial test, or, where these tests cannot run here, the same test registered as skipped with the reason. */
function serial(title: string, impl: (t: ExecutionContext) => Promise<void>): void {
  if (skip === undefined) test.serial(title, impl);
  else test.skip(`${title} (skipped: ${skip})`, impl);
}
  serial('two pods on default, one asking for its address through CNI_ARGS: addresses, pod ↔ host side, pod ↔ pod; teardown leaves nothing', async (t) => {
    const h = await host(t);
    const p1 = h.newPod();
    const p2 = h.newPod();
    const [o1, o2] = await h.drive([h.setupRequest(p1, ['default']), h.setupRequest(p2, ['default:IP=172.16.28.42'])]);
    const i1 = ok(t, o1);
    const i2 = ok(t, o2);
    t.deepEqual(i1.networks.map((n) => [n.netName, n.ifName, n.netConf, n.pluginPath]), [['default', 'eth0', '(built-in)', '/usr/lib/cni/ptp']]);
    const ip1 = i1.networks[0]?.ip ?? '';
    t.regex(ip1, /^172\.16\.28\.\d+$/);
    t.is(i2.networks[0]?.ip, '172.16.28.42');
    t.is(i2.networks[0]?.args, 'IgnoreUnknown=1;IP=172.16.28.42');
    const onDisk = JSON.parse(readFileSync(path.join(p1.dir, 'net-info.json'), 'utf8')) as { networks: { ip: string }[] };
    t.is(onDisk.networks[0]?.ip, ip1);
    const addr = await h.inPod(p1, 'ip', ['-4', '-o', 'addr', 'show', 'eth0']);
    t.true(addr.stdout.includes(`inet ${ip1}/24`), addr.stdout);
    const route = await h.inPod(p1, 'ip', ['-4', 'route', 'show', 'default']);
    t.regex(route.stdout, /^default via 172\.16\.28\.1 dev eth0/);
    const gw = i1.networks[0]?.result?.ips?.[0]?.gateway ?? '';
    t.is(gw, '172.16.28.1');
    await pingOk(t, h, p1, gw);
    await pingOk(t, h, 'host', ip1);
    await pingOk(t, h, p1, '172.16.28.42');
    await pingOk(t, h, p2, ip1);
    t.true((await h.cniRules()).some((l) => l.includes(p1.uuid)), 'masquerade rules carry the pod id');
    t.is(h.leases('default').length, 2);

    const [d1, d2, again] = await h.drive([{ op: 'teardown', podDir: p1.dir }, { op: 'teardown', podDir: p2.dir }, { op: 'teardown', podDir: p1.dir }]);
    t.deepEqual([d1?.failures, d2?.failures, again?.failures], [[], [], []]);
    t.false(existsSync(p1.netns));
    t.true((JSON.parse(readFileSync(path.join(p1.dir, 'net-info.json'), 'utf8')) as { tornDown: boolean }).tornDown);
    await assertNothingLeft(t, h, ['default']);
  });

  serial('a custom bridge network from net.d; default-restricted comes with it and has no default route', async (t) => {
    const h = await host(t);
    const conf = h.writeNetConf('10-testbr.conf', {
      cniVersion: '1.0.0', name: 'testbr', type: 'bridge', bridge: `rkt-br-${h.name.slice(-8)}`, isGateway: true, ipMasq: true,
      ipam: { type: 'host-local', dataDir: h.ipamDataDir, ranges: [[{ subnet: '10.99.7.0/24' }]] },
    });
    const p = h.newPod();
    const info = ok(t, await h.setup(p, ['testbr']));
    t.deepEqual(info.networks.map((n) => [n.netName, n.ifName, n.netConf]), [['testbr', 'eth0', conf], ['default-restricted', 'eth1', '(built-in)']]);
    t.regex(info.networks[0]?.ip ?? '', /^10\.99\.7\.\d+$/);
    t.regex(info.networks[1]?.ip ?? '', /^172\.31\.\d+\.\d+$/);
    const def = await h.inPod(p, 'ip', ['-4', 'route', 'show', 'default']);
    t.is(def.stdout.trim(), '', 'no default route');
    await pingOk(t, h, p, '10.99.7.1');
    await pingOk(t, h, p, info.networks[1]?.result?.ips?.[0]?.gateway ?? 'missing');
    await pingOk(t, h, 'host', info.networks[0]?.ip ?? '');
    t.deepEqual((await h.teardown(p)).failures, []);
    await assertNothingLeft(t, h, ['testbr', 'default-restricted']);
  });

  serial('default-restricted alone: no default route, no masquerade', async (t) => {
    const h = await host(t);
    const p = h.newPod();
    const info = ok(t, await h.setup(p, ['default-restricted']));
    t.deepEqual(info.networks.map((n) => n.netName), ['default-restricted']);
    t.is((await h.inPod(p, 'ip', ['-4', 'route', 'show', 'default'])).stdout.trim(), '');
    t.deepEqual((await h.cniRules()).filter((l) => /MASQUERADE/.test(l)), []);
    await pingOk(t, h, p, info.networks[0]?.result?.ips?.[0]?.gateway ?? 'missing');
    t.deepEqual((await h.teardown(p)).failures, []);
    await assertNothingLeft(t, h, ['default-restricted']);
  });

  serial('a plugin that fails after default was added: its message reaches the user, nothing is left', async (t) => {
    const h = await host(t);
    const bin = path.join(h.dir, 'cni-bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'false'), '#!/bin/sh\ncat >/dev/null\necho \'{"cniVersion":"1.0.0","code":11,"msg":"broken on purpose","details":"a test plugin"}\'\nexit 1\n');
    chmodSync(path.join(bin, 'false'), 0o755);
    h.writeNetConf('50-broken.conf', { cniVersion: '1.0.0', name: 'broken', type: 'false' });
    const p = h.newPod();
    const o = await h.setup(p, ['default', 'broken'], { cniPath: [bin, '/usr/lib/cni'] });
    t.false(o.ok);
    t.is(o.code, 'ECNI');
    t.regex(o.message ?? '', /network "broken": CNI plugin false ADD \(eth1\) failed: broken on purpose: a test plugin/);
    t.false(existsSync(p.netns), 'no namespace file');
    t.false(existsSync(path.join(p.dir, 'net-info.json')), 'no net-info.json');
    await assertNothingLeft(t, h, ['default']);
  });

  serial('a plugin that is not installed names CNI_PATH and the Debian package; nothing is made', async (t) => {
    const h = await host(t);
    h.writeNetConf('50-nosuch.conflist', { cniVersion: '1.0.0', name: 'nosuch', plugins: [{ type: 'ptp', ipam: { type: 'host-local', dataDir: h.ipamDataDir, ranges: [[{ subnet: '10.99.8.0/24' }]] } }, { type: 'no-such-plugin' }] });
    const p = h.newPod();
    const o = await h.setup(p, ['default', 'nosuch']);
    t.is(o.code, 'ECNIPLUGIN');
    t.regex(o.message ?? '', /CNI plugin "no-such-plugin" not found in CNI_PATH \/usr\/lib\/cni/);
    t.regex(o.hint ?? '', /containernetworking-plugins/);
    t.false(existsSync(p.netns));
    await assertNothingLeft(t, h, ['default', 'nosuch']);
  });

  serial('20 pods set up, then 20 torn down: distinct addresses, then nothing left', async (t) => {
    const h = await host(t);
    const pods = Array.from({ length: 20 }, () => h.newPod());
    const ups = await h.drive(pods.map((p) => h.setupRequest(p, ['default'])));
    const ips = ups.map((o) => ok(t, o).networks[0]?.ip ?? '');
    t.is(new Set(ips).size, 20);
    t.is((await h.hostLinks()).length, 20);
    t.is(h.leases('default').length, 20);
    const downs = await h.drive(pods.map((p) => ({ op: 'teardown', podDir: p.dir })));
    t.deepEqual(downs.map((o) => o.failures), pods.map(() => []));
    await assertNothingLeft(t, h, ['default']);
  });

  serial('the built-in default with its real lease directory: the lease goes with the teardown', async (t) => {
    const h = await host(t);
    const p = h.newPod();
    const info = ok(t, await h.setup(p, ['default'], { ipamDataDir: undefined }));
    const ip = info.networks[0]?.ip ?? '';
    t.deepEqual(h.realDefaultLeases(), [ip]);
    t.deepEqual((await h.teardown(p)).failures, []);
    t.deepEqual(h.realDefaultLeases(), []);
    await assertNothingLeft(t, h, []);
  });

  serial('--port forwards from the host side address and from its localhost; a second pod on that port is refused naming the first', async (t) => {
    const h = await host(t);
    const imagePorts = [{ name: 'http', protocol: 'tcp', port: 80, count: 1 }];
    const p = h.newPod();
    const info = ok(t, await h.setup(p, ['default'], { ports: ['http:8080'], imagePorts }));
    t.deepEqual(info.networks.map((n) => n.netName), ['default']);
    const www = path.join(h.dir, 'www');
    mkdirSync(www);
    writeFileSync(path.join(www, 'index.html'), 'hello from the pod\n');
    h.spawnInPod(p, '/usr/bin/busybox', ['httpd', '-f', '-p', '80', '-h', www]);
    const ip = info.networks[0]?.ip ?? '';
    const gw = info.networks[0]?.result?.ips?.[0]?.gateway ?? '';
    // busybox's wget crashes in its static build: fetch with bash's /dev/tcp. The server is up once the pod
    // answers on its own address (each try waits for the connection to be refused or answered).
    const get = (addr: string, port: number) => h.inHost('timeout', ['5', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/${port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`]);
    let direct = await get(ip, 80);
    for (let i = 0; i < 200 && !direct.stdout.includes('hello'); i++) direct = await get(ip, 80);
    t.true(direct.stdout.endsWith('\r\n\r\nhello from the pod\n'), direct.stdout + direct.stderr);
    const viaAddr = await get(gw, 8080);
    t.true(viaAddr.stdout.endsWith('hello from the pod\n'), `via ${gw}:8080: ${viaAddr.stdout}${viaAddr.stderr}`);
    const viaLocal = await get('127.0.0.1', 8080);
    t.true(viaLocal.stdout.endsWith('hello from the pod\n'), `via 127.0.0.1:8080: ${viaLocal.stdout}${viaLocal.stderr}`);

    const q = h.newPod();
    const refused = await h.setup(q, ['default'], { ports: ['http:8080'], imagePorts });
    t.is(refused.code, 'EPORTINUSE');
    t.is(refused.message, `host port 8080/tcp is already forwarded by pod ${p.uuid}`);
    const unknown = await h.setup(q, ['default'], { ports: ['https:8443'], imagePorts });
    t.is(unknown.code, 'EUSAGE');
    t.regex(unknown.message ?? '', /no port named "https": the image's ports are http \(tcp 80\)/);
    t.false(existsSync(q.netns));

    t.deepEqual((await h.teardown(p)).failures, []);
    await assertNothingLeft(t, h, ['default']);
  });

  serial('pods whose process died without a teardown: rkt gc removes their networks, then the pods', async (t) => {
    const h = await host(t);
    const pods = [h.newPod(), h.newPod()];
    const ups = await h.drive([h.setupRequest(pods[0] as Pod, ['default'], { ports: ['http:8080'], imagePorts: [{ name: 'http', protocol: 'tcp', port: 80, count: 1 }] }), h.setupRequest(pods[1] as Pod, ['default-restricted'])]);
    for (const o of ups) ok(t, o);
    t.is((await h.hostLinks()).length, 2);
    // Unlocked directories under pods/run/ are exited pods; gc (in the host side's namespace) marks them,
    // which tears their networks down at once, and with no grace period removes them.
    const gc = await h.inHost(process.execPath, [RKT, `--dir=${h.dir}`, 'gc', '--grace-period=0s']);
    t.is(gc.exitCode, 0, gc.stderr);
    t.regex(gc.stderr, new RegExp(`garbage collecting pod ${pods[0]?.uuid ?? ''}`));
    for (const p of pods) t.false(existsSync(p.dir), `pod ${p.uuid} removed`);
    await assertNothingLeft(t, h, ['default', 'default-restricted']);
  });
