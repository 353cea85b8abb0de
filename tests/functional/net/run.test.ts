/**
 * `rkt run` with pod networks, end to end: rkt itself runs inside a network namespace made for the test
 * (`nsenter --net=…`), which is the pods' host side. Traffic only between it and its pods.
 */
import test, { type ExecutionContext } from 'ava';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, runCmd } from '../../lib/rkt.js';
import { until } from '../../lib/wait.js';
import { TestHost, netSkipReason } from './harness.js';

const skip = netSkipReason() ?? (existsSync('/usr/bin/systemd-nspawn') ? undefined : 'needs systemd-nspawn (hack/setup)')
  ?? (existsSync(path.join(REPO, 'build/stage1.aci')) ? undefined : 'needs build/stage1.aci (hack/test builds it)');

async function host(t: ExecutionContext): Promise<TestHost> {
  const h = new TestHost();
  t.teardown(() => h.cleanup((s) => t.log(s)));
  await h.start();
  return h;
}

/** A busybox image that declares port `http` (tcp 80), built into the test's directory. */
async function webImage(h: TestHost): Promise<string> {
  const img = path.join(h.dir, 'web-image');
  const root = path.join(img, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'usr/bin']) mkdirSync(path.join(root, d), { recursive: true });
  copyFileSync('/usr/bin/busybox', path.join(root, 'bin/busybox'));
  chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'ip', 'httpd', 'hostname', 'cat']) symlinkSync('busybox', path.join(root, 'bin', a));
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\n');
  writeFileSync(path.join(img, 'manifest'), JSON.stringify({
    acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/web',
    labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
    app: {
      exec: ['/bin/sh', '-c', 'hostname > /tmp/index.html && exec httpd -f -p 80 -h /tmp'], user: '0', group: '0',
      ports: [{ name: 'http', protocol: 'tcp', port: 80 }],
    },
  }));
  const out = `${img}.aci`;
  const b = await runCmd(path.join(REPO, 'hack/aci'), ['build', '--compression=none', img, out]);
  if (b.exitCode !== 0) throw new Error(`hack/aci build: ${b.stderr}`);
  return out;
}

/** The body an HTTP GET of addr:port answers with, from the test host ("" if nothing answered). */
async function get(h: TestHost, addr: string, port: number): Promise<string> {
  const r = await h.inHost('timeout', ['5', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/${port} && printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`]);
  const i = r.stdout.indexOf('\r\n\r\n');
  return i < 0 ? '' : r.stdout.slice(i + 4);
}

/** The networks of the pods in run/ whose setup is complete: uuid → first address. */
function runningPods(h: TestHost): Map<string, string> {
  const out = new Map<string, string>();
  const dir = path.join(h.rktDir, 'pods', 'run');
  if (!existsSync(dir)) return out;
  for (const uuid of readdirSync(dir)) {
    const f = path.join(dir, uuid, 'net-info.json');
    if (!existsSync(f)) continue;
    const info = JSON.parse(readFileSync(f, 'utf8')) as { complete: boolean; tornDown: boolean; networks: { ip: string }[] };
    if (info.complete && !info.tornDown) out.set(uuid, info.networks[0]?.ip ?? '');
  }
  return out;
}

const BUSYBOX = path.join(REPO, 'build/busybox.aci');

/** A serial test, or, where these tests cannot run here, the same test registered as skipped with the reason. */
function serial(title: string, impl: (t: ExecutionContext) => Promise<void>): void {
  if (skip === undefined) test.serial(title, impl);
  else test.skip(`${title} (skipped: ${skip})`, impl);
}
  serial('rkt run --net=default: the app has its address and a default route; nothing is left once it exits', async (t) => {
    const h = await host(t);
    const r = await h.rkt(['run', '--net=default', BUSYBOX, '--exec', '/bin/busybox', '--', 'sh', '-c', 'ip -4 -o addr show eth0; ip -4 route show default']);
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.stdout, /eth0\s+inet 172\.16\.28\.\d+\/24/);
    t.regex(r.stdout, /default via 172\.16\.28\.1 dev eth0/);
    const [pod] = h.allPods();
    const info = JSON.parse(readFileSync(path.join(pod?.dir ?? '', 'net-info.json'), 'utf8')) as { tornDown: boolean; networks: { netName: string; ifName: string; ip: string }[] };
    t.true(info.tornDown);
    t.deepEqual(info.networks.map((n) => [n.netName, n.ifName]), [['default', 'eth0']]);
    t.true(r.stdout.includes(`inet ${info.networks[0]?.ip ?? '?'}/24`));
    t.deepEqual(await h.leftovers([]), []);
  });

  serial('rkt run --net=none has loopback only; --net=default-restricted has no default route', async (t) => {
    const h = await host(t);
    const none = await h.rkt(['run', '--net=none', BUSYBOX, '--exec', '/bin/busybox', '--', 'sh', '-c', 'ip -o link show | cut -d: -f2']);
    t.is(none.exitCode, 0, none.stderr);
    t.deepEqual(none.stdout.split('\n').map((s) => s.trim()).filter((s) => s !== ''), ['lo']);
    const restricted = await h.rkt(['run', '--net=default-restricted', BUSYBOX, '--exec', '/bin/busybox', '--', 'sh', '-c', 'ip -4 -o addr show eth0; echo routes:; ip -4 route show default']);
    t.is(restricted.exitCode, 0, restricted.stderr);
    t.regex(restricted.stdout, /eth0\s+inet 172\.31\.\d+\.\d+\/16/);
    t.regex(restricted.stdout, /routes:\n$/);
    t.deepEqual(await h.leftovers(['default-restricted']), []);
  });

  serial('two pods listening on one port, each at its own address; --port from the host address and its localhost; a taken port and an unknown name refused; SIGTERM leaves nothing', async (t) => {
    const h = await host(t);
    const image = await webImage(h);
    const a = h.spawnRkt(['run', '--net=default', '--port=http:8080', image]);
    const b = h.spawnRkt(['run', '--net=default', image]);
    await until('both pods answer at their own address', 120_000, async () => {
      const pods = runningPods(h);
      if (pods.size < 2) return false;
      for (const ip of pods.values()) if (!(await get(h, ip, 80)).startsWith('rkt-')) return false;
      return true;
    }, 200);
    const pods = runningPods(h);
    const names = await Promise.all([...pods].map(async ([uuid, ip]) => [uuid, (await get(h, ip, 80)).trim()]));
    t.is(new Set(pods.values()).size, 2, 'two addresses');
    for (const [uuid, body] of names) t.is(body, `rkt-${uuid ?? ''}`);
    const forwarded = [...pods.keys()].find((uuid) => existsSync(path.join(h.rktDir, 'pods', 'run', uuid)) && readFileSync(path.join(h.rktDir, 'pods', 'run', uuid, 'net-info.json'), 'utf8').includes('"hostPort": 8080')) ?? '';
    t.is(await get(h, '127.0.0.1', 8080), `rkt-${forwarded}\n`, 'through the host\'s localhost');
    t.is(await get(h, '172.16.28.1', 8080), `rkt-${forwarded}\n`, 'through the host side address');

    const taken = await h.rkt(['run', '--net=default', '--port=http:8080', image]);
    t.is(taken.exitCode, 254);
    t.regex(taken.stderr, new RegExp(`host port 8080/tcp is already forwarded by pod ${forwarded}`));
    const unknown = await h.rkt(['run', '--net=default', '--port=https:8443', image]);
    t.is(unknown.exitCode, 2);
    t.regex(unknown.stderr, /no port named "https": the image's ports are http \(tcp 80\)/);

    const [uuid, ip] = [...pods][0] ?? ['', ''];
    const status = await h.rkt(['status', uuid]);
    t.true(status.stdout.split('\n').includes(`networks=default:ip4=${ip}`), status.stdout);
    const sj = JSON.parse((await h.rkt(['status', '--format=json', uuid])).stdout) as { networks: Record<string, string>[] };
    t.deepEqual(sj.networks.map((n) => [n['netName'], n['netConf'], n['pluginPath'], n['ifName'], n['ip'], n['args']]), [['default', '(built-in)', '/usr/lib/cni/ptp', 'eth0', ip, '']]);
    const list = await h.rkt(['list', '--full', '--no-legend', '--fields=uuid,networks']);
    t.true(list.stdout.split('\n').some((l) => /^\S+\s+\S+$/.test(l) && l.startsWith(uuid) && l.endsWith(`default:ip4=${ip}`)), list.stdout);
    const lj = JSON.parse((await h.rkt(['list', '--format=json'])).stdout) as { name: string; networks: { ip: string }[] }[];
    t.deepEqual(lj.find((p) => p.name === uuid)?.networks.map((n) => n.ip), [ip]);

    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    await Promise.all([a.done, b.done]);
    t.deepEqual(await h.leftovers([]), []);
  });

  serial('rkt prepare --net=default then run-prepared: the saved plan is set up at run time', async (t) => {
    const h = await host(t);
    const prep = await h.rkt(['prepare', '--quiet', '--net=default', BUSYBOX, '--exec', '/bin/busybox', '--', 'sh', '-c', 'ip -4 -o addr show eth0']);
    t.is(prep.exitCode, 0, prep.stderr);
    const uuid = prep.stdout.trim();
    t.false(existsSync(path.join(h.rktDir, 'pods', 'prepared', uuid, 'netns')), 'nothing made at prepare time');
    const r = await h.rkt(['run-prepared', uuid]);
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.stdout, /eth0\s+inet 172\.16\.28\.\d+\/24/);
    t.deepEqual(await h.leftovers([]), []);
  });

  serial('rkt run-prepared --net: the pod runs on the networks given now, not those it was prepared with; --port alone is refused', async (t) => {
    const h = await host(t);
    const prep = await h.rkt(['prepare', '--quiet', '--net=none', BUSYBOX, '--exec', '/bin/busybox', '--', 'sh', '-c', 'ip -4 -o addr show; ip -4 route show default']);
    t.is(prep.exitCode, 0, prep.stderr);
    const uuid = prep.stdout.trim();
    const portOnly = await h.rkt(['run-prepared', '--port=http:8080', uuid]);
    t.is(portOnly.exitCode, 2);
    t.regex(portOnly.stderr, /^rkt: --port on run-prepared needs --net/m);
    const r = await h.rkt(['run-prepared', '--net=default-restricted', uuid]);
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.stdout, /eth0\s+inet 172\.31\.\d+\.\d+\/16/);
    t.notRegex(r.stdout, /default via/, 'default-restricted has no default route');
    const status = await h.rkt(['status', uuid]);
    t.regex(status.stdout, /^networks=default-restricted:ip4=172\.31\./m);
    t.deepEqual(await h.leftovers(['default-restricted']), []);
  });

  serial('rkt run SIGKILLed: the pod runs on; once it is stopped, rkt gc removes its veth, namespace, lease and rules', async (t) => {
    const h = await host(t);
    const bg = h.spawnRkt(['run', '--net=default', BUSYBOX, '--exec', '/bin/busybox', '--', 'sleep', '600']);
    await until('the pod has its network', 120_000, () => runningPods(h).size === 1, 200);
    const [uuid] = [...runningPods(h).keys()];
    // rkt stop needs the pod's pid, which rkt run records once the pod's PID 1 exists.
    await until('the pod has its pid', 60_000, () => existsSync(path.join(h.rktDir, 'pods', 'run', uuid ?? '', 'pid')), 100);
    bg.child.kill('SIGKILL');
    await bg.exit;
    t.is((await h.hostLinks()).length, 1, 'the pod keeps its veth without rkt run');
    const stop = await h.rkt(['stop', uuid ?? '']);
    t.is(stop.exitCode, 0, stop.stderr);
    const wait = await h.rkt(['status', '--wait=60s', uuid ?? '']);
    t.is(wait.exitCode, 0, wait.stderr);
    t.true((await h.leftovers([])).length > 0, 'nobody tore the network down yet');
    const gc = await h.rkt(['gc', '--grace-period=0s']);
    t.is(gc.exitCode, 0, gc.stderr);
    t.false(existsSync(path.join(h.rktDir, 'pods', 'run', uuid ?? '')));
    t.deepEqual(await h.leftovers([]), []);
  });

  serial('a net.d network whose plugin result carries DNS: an app without /etc/resolv.conf gets its name servers, none given by flags', async (t) => {
    const h = await host(t);
    h.writeNetConf('10-dnsnet.conf', {
      cniVersion: '1.0.0', name: 'dnsnet', type: 'ptp', ipMasq: false,
      ipam: { type: 'host-local', dataDir: h.ipamDataDir, ranges: [[{ subnet: '10.99.9.0/24' }]] },
      dns: { nameservers: ['10.99.9.53'], search: ['pods.test'] },
    });
    const r = await h.rkt([`--local-config=${h.localConfig}`, 'run', '--net=dnsnet', BUSYBOX, '--exec', '/bin/busybox', '--', 'cat', '/etc/resolv.conf']);
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.stdout, /^nameserver 10\.99\.9\.53$/m);
    t.regex(r.stdout, /^search pods\.test$/m);
    const flag = await h.rkt([`--local-config=${h.localConfig}`, 'run', '--net=dnsnet', '--dns=10.0.0.1', BUSYBOX, '--exec', '/bin/busybox', '--', 'cat', '/etc/resolv.conf']);
    t.is(flag.exitCode, 0, flag.stderr);
    t.notRegex(flag.stdout, /10\.99\.9\.53/, '--dns wins over the CNI result');
    t.deepEqual(await h.leftovers(['dnsnet', 'default-restricted']), []);
  });

  serial('--dns, --dns-search, --dns-opt, --hosts-entry write the apps\' files; --dns=none writes none; a search domain without --dns=IP is refused', async (t) => {
    const h = await host(t);
    const cat = ['--exec', '/bin/busybox', '--', 'sh', '-c', 'cat /etc/resolv.conf; echo ---; cat /etc/hosts'];
    const r = await h.rkt(['run', '--net=default', '--dns=10.0.0.53', '--dns=10.0.0.54', '--dns-search=example.test', '--dns-opt=ndots:2', '--dns-domain=pod.test',
      '--hosts-entry=10.1.2.3=db.example', '--hosts-entry=10.1.2.3=db', BUSYBOX, ...cat]);
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stdout, '# Generated by rkt\ndomain pod.test\nnameserver 10.0.0.53\nnameserver 10.0.0.54\nsearch example.test\noptions ndots:2\n---\n'
      + '# Generated by rkt\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\tdb.example db\n');
    const none = await h.rkt(['run', '--net=none', '--dns=none', '--hosts-entry=host', BUSYBOX, '--exec', '/bin/busybox', '--', 'sh', '-c', 'test ! -e /etc/resolv.conf && cat /etc/hosts']);
    t.is(none.exitCode, 0, none.stderr);
    t.is(none.stdout, readFileSync('/etc/hosts', 'utf8'));
    const bad = await h.rkt(['run', '--net=none', '--dns-search=x.test', BUSYBOX]);
    t.is(bad.exitCode, 2);
    t.regex(bad.stderr, /--dns-search, --dns-opt and --dns-domain need --dns=IP/);
    const badIp = await h.rkt(['run', '--net=none', '--dns=example.com', BUSYBOX]);
    t.is(badIp.exitCode, 2);
    t.regex(badIp.stderr, /bad --dns value "example.com"/);
    t.deepEqual(await h.leftovers([]), []);
  });
