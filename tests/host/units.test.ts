// The shipped systemd units (units/) and hack/install. Without a test host: what `hack/install --prefix`
// lays out, its idempotence, refusal and uninstall, and that tmpfiles.d knows every pod state directory.
// In a booted test host: the real install (its /usr made writable by an overlay: the test host's /usr is
// the machine's, read-only), systemd-analyze verify, the gc service and timer, tmpfiles, the metadata
// units' socket activation of the service, the example pod service started and stopped for real, and the uninstall.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, mkdirSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { POD_DIRS } from '../../src/pod/layout.js';
import { hostPodsSkipReason, hostTests, hostTierSkipReason, repoRoot, startTestHost, until, type ExecResult, type TestHost } from '../lib/testhost.js';

const execFileP = promisify(execFile);
const INSTALL = path.join(repoRoot, 'hack/install');
const UNITS = path.join(repoRoot, 'units');
const EXAMPLES = path.join(UNITS, 'examples');

/** The unit files hack/install installs: units/*.{service,socket,timer}, not units/examples/. */
const shippedUnits = readdirSync(UNITS).filter((f) => /\.(service|socket|timer)$/.test(f)).sort();
const exampleUnits = readdirSync(EXAMPLES).filter((f) => f.endsWith('.service')).sort();

/** Runs hack/install with args; resolves with its exit status and output whatever the status. */
async function install(...args: string[]): Promise<ExecResult> {
  try {
    const { stdout, stderr } = await execFileP(INSTALL, args);
    return { exitCode: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { exitCode: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Every file under dir, relative to it, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else out.push(path.relative(dir, path.join(d, e.name)));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

const tmpDirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'rkt-units-test-'));
  tmpDirs.push(d);
  return d;
};
test.after.always(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------
// No test host needed

test('tmpfiles.d/rkt.conf makes every pod state directory, set-group-ID rkt', (t) => {
  const lines = readFileSync(path.join(UNITS, 'tmpfiles.d/rkt.conf'), 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const dirs = new Map(lines.map((l) => l.trim().split(/\s+/)).map((f) => [f[1] ?? '', f.slice(0, 1).concat(f.slice(2)).join(' ')]));
  for (const p of ['/var/lib/rkt', '/var/lib/rkt/pods', ...POD_DIRS.map((d) => `/var/lib/rkt/pods/${d}`)]) {
    t.is(dirs.get(p), 'd 2750 root rkt -', p);
  }
  t.is(dirs.get('/var/lib/rkt/cas'), 'd 2775 root rkt -', 'members of rkt may fetch into the store');
  t.is(dirs.get('/etc/rkt'), 'd 0755 root root -');
});

test('hack/install --prefix lays out the wrapper, a copy of the build, units, tmpfiles, sysusers and docs; the examples stay out', async (t) => {
  const dest = tempDir();
  const r = await install(`--prefix=${dest}`);
  t.is(r.exitCode, 0, r.stderr);
  // The copy of the build: usr/lib/rkt/package -> package-<digest>/, laid out as the checkout is.
  const link = readlinkSync(path.join(dest, 'usr/lib/rkt/package'));
  t.regex(link, /^package-[0-9a-f]{16}$/);
  const copy = filesUnder(path.join(dest, 'usr/lib/rkt', link));
  for (const f of ['package.json', 'dist/bin/rkt.js', 'build/stage1.aci', 'src/api/v1alpha.proto', 'node_modules/dbus-next/package.json', 'node_modules/@grpc/grpc-js/package.json']) {
    t.true(copy.includes(f), `the copy has ${f}`);
  }
  t.false(copy.some((f) => f.startsWith('node_modules/ava/') || f.startsWith('node_modules/@types/') || f.startsWith('src/cli/')), 'only what rkt loads at run time');
  const chunks = copy.filter((f) => f.startsWith('dist/bin/chunks/'));
  t.true(chunks.length > 0 && chunks.length <= readdirSync(path.join(repoRoot, 'dist/bin/chunks')).length, 'the chunks the bundle loads, not every stale one');
  const expected = [
    'usr/bin/rkt',
    ...shippedUnits.map((u) => `usr/lib/systemd/system/${u}`),
    'usr/lib/tmpfiles.d/rkt.conf',
    'usr/lib/sysusers.d/rkt.conf',
    'usr/lib/systemd/system-generators/rkt-pod-generator',
    ...readdirSync(path.join(repoRoot, 'Documentation')).filter((f) => f.endsWith('.md')).map((f) => `usr/share/doc/rkt/${f}`),
    'usr/lib/rkt/hack-install.files',
    'usr/lib/rkt/package',
  ].sort();
  t.deepEqual(filesUnder(dest).filter((f) => !f.startsWith('usr/lib/rkt/package-')), expected);
  for (const u of shippedUnits) t.is(readFileSync(path.join(dest, 'usr/lib/systemd/system', u), 'utf8'), readFileSync(path.join(UNITS, u), 'utf8'));
  t.is(statSync(path.join(dest, 'usr/bin/rkt')).mode & 0o777, 0o755);
  t.regex(readFileSync(path.join(dest, 'usr/bin/rkt'), 'utf8'), /^exec '\/[^']*node' "\$here\/\.\.\/lib\/rkt\/package\/dist\/bin\/rkt\.js" "\$@"$/m);
  const version = await execFileP(path.join(dest, 'usr/bin/rkt'), ['version']);
  t.regex(version.stdout, /^rkt Version: \d+\.\d+\.\d+$/m, 'the wrapper runs the copy beside it');

  t.regex(r.stdout, /nothing run/);
});

test('hack/install --prefix is idempotent and --uninstall removes every file it installed', async (t) => {
  const dest = tempDir();
  t.is((await install(`--prefix=${dest}`)).exitCode, 0);
  const again = await install(`--prefix=${dest}`);
  t.is(again.exitCode, 0, again.stderr);
  t.regex(again.stdout, /: 0 file\(s\) changed/);
  t.notRegex(again.stdout, /^installed /m);
  const un = await install(`--prefix=${dest}`, '--uninstall');
  t.is(un.exitCode, 0, un.stderr);
  t.deepEqual(filesUnder(dest), []);
  const twice = await install(`--prefix=${dest}`, '--uninstall');
  t.is(twice.exitCode, 0, twice.stderr);
  t.regex(twice.stdout, /nothing installed/);
});

test('hack/install refuses to replace a file it did not install, and changes nothing then', async (t) => {
  const dest = tempDir();
  mkdirSync(path.join(dest, 'usr/bin'), { recursive: true });
  writeFileSync(path.join(dest, 'usr/bin/rkt'), '#!/bin/sh\necho another rkt\n', { mode: 0o755 });
  const r = await install(`--prefix=${dest}`);
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /usr\/bin\/rkt exists and was not installed by hack\/install/);
  t.deepEqual(filesUnder(dest), ['usr/bin/rkt']);
  t.is(readFileSync(path.join(dest, 'usr/bin/rkt'), 'utf8'), '#!/bin/sh\necho another rkt\n');
  t.is((await install('--prefix=relative/dir')).exitCode, 1);
  t.is((await install('--bogus')).exitCode, 2);
});

// ---------------------------------------------------------------------------------------------------------
// In a booted test host

const suite = hostTests(hostTierSkipReason());
/** The tests that run a pod need the stage1 and sample images too. */
const podSuite = hostTests(hostPodsSkipReason());

let host: TestHost | undefined;
const h = (): TestHost => {
  if (host === undefined) throw new Error('test host did not start');
  return host;
};
const sh = async (script: string): Promise<ExecResult> => h().sh(script);
const out = async (script: string): Promise<string> => {
  const r = await sh(script);
  if (r.exitCode !== 0) throw new Error(`${script}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout.trim();
};
const busyboxAci = path.join(repoRoot, 'build/busybox.aci');

suite.before(async () => {
  host = await startTestHost();
  // The test host runs the machine's own /usr, read-only. An overlay (its upper layer on the host's tmpfs
  // /run) makes it writable for this boot only: hack/install then installs exactly as on a real machine.
  await out([
    'if touch /usr/lib/.rkt-units-test 2>/dev/null; then rm /usr/lib/.rkt-units-test; exit 0; fi',
    'mkdir -p /run/usr-overlay/upper /run/usr-overlay/work',
    'mount -t overlay overlay -o lowerdir=/usr,upperdir=/run/usr-overlay/upper,workdir=/run/usr-overlay/work /usr',
  ].join('\n'));
});
suite.after(async () => {
  if (host !== undefined) await host.stop();
});

suite.test('hack/install in the test host: rkt on PATH, units loaded, rkt group and directories made', async (t) => {
  const r = await h().exec([INSTALL]);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^installed \/usr\/bin\/rkt$/m);
  t.notRegex(r.stdout, /no daemon-reload/, 'systemd is PID 1 here');
  t.regex(await out('rkt version'), /^rkt Version: /m);
  t.is(await out('command -v rkt'), '/usr/bin/rkt');
  for (const u of shippedUnits) t.is(await out(`systemctl show -p LoadState --value ${u}`), 'loaded', u);
  // merged /usr: systemd names it by its /lib search path
  t.is(await out('readlink -f "$(systemctl show -p FragmentPath --value rkt-gc.service)"'), '/usr/lib/systemd/system/rkt-gc.service');
  t.regex(await out('getent group rkt'), /^rkt:x:\d+:/);
  t.is(await out('stat -c "%a %U %G" /var/lib/rkt /var/lib/rkt/pods/run /etc/rkt'), '2750 root rkt\n2750 root rkt\n755 root root');
  t.is((await sh('test -e /usr/lib/rkt/features')).exitCode, 1, 'no feature marker: the metadata units have no condition');

  const again = await h().exec([INSTALL]);
  t.is(again.exitCode, 0, again.stderr);
  t.regex(again.stdout, /: 0 file\(s\) changed/);
});

suite.test('systemd-analyze verify: every unit in units/ and units/examples/, with nothing to say', async (t) => {
  const files = [...shippedUnits.map((u) => path.join(UNITS, u)), ...exampleUnits.map((u) => path.join(EXAMPLES, u))];
  const v = await h().exec(['systemd-analyze', 'verify', ...files]);
  t.is(v.exitCode, 0, v.stderr);
  t.is(`${v.stdout}${v.stderr}`, '', 'no warnings');
  const installed = await h().exec(['systemd-analyze', 'verify', ...shippedUnits.map((u) => `/usr/lib/systemd/system/${u}`)]);
  t.is(installed.exitCode, 0, installed.stderr);
  t.is(`${installed.stdout}${installed.stderr}`, '');
  // the fleet unit is meant to be submitted as a template: verify it as one instance too
  const tpl = await sh(`cp ${path.join(EXAMPLES, 'app-pod.fleet.service')} /run/systemd/system/app-pod@.service && systemctl daemon-reload && systemd-analyze verify app-pod@1.service; s=$?; rm /run/systemd/system/app-pod@.service; systemctl daemon-reload; exit $s`);
  t.is(tpl.exitCode, 0, tpl.stderr);
  t.is(`${tpl.stdout}${tpl.stderr}`, '');
});

suite.test('systemd-tmpfiles --create makes /var/lib/rkt 2750 root:rkt', async (t) => {
  await out('rm -rf /var/lib/rkt /etc/rkt');
  const c = await sh('systemd-tmpfiles --create rkt.conf');
  t.is(c.exitCode, 0, c.stderr);
  t.is(await out('stat -c "%a %U %G" /var/lib/rkt'), '2750 root rkt');
  t.is(await out('stat -c "%a %U %G" /var/lib/rkt/cas /var/lib/rkt/pods'), '2775 root rkt\n2750 root rkt');
  t.is(await out('stat -c "%a %U %G" /etc/rkt'), '755 root root');
});

suite.test('systemctl start rkt-gc.service: rkt gc on an empty data directory succeeds', async (t) => {
  const s = await sh('systemctl start rkt-gc.service');
  t.is(s.exitCode, 0, s.stderr);
  t.is(await out('systemctl show -p Result --value rkt-gc.service'), 'success');
  t.is(await out('systemctl show -p ExecMainStatus --value rkt-gc.service'), '0');
});

suite.test('rkt-gc.timer: enabled, it is listed by systemctl list-timers', async (t) => {
  const e = await sh('systemctl enable --now rkt-gc.timer');
  t.is(e.exitCode, 0, e.stderr);
  t.is(await out('systemctl is-enabled rkt-gc.timer'), 'enabled');
  const list = await out('systemctl list-timers --all --no-legend rkt-gc.timer');
  t.regex(list, /\brkt-gc\.timer\s+rkt-gc\.service$/m);
  t.not(await out('systemctl show -p NextElapseUSecRealtime --value rkt-gc.timer'), '', 'the timer has a next run');
});

suite.test('rkt-metadata.socket activates rkt metadata-service: the first connection starts it, it answers, systemctl stop ends it cleanly', async (t) => {
  // The service runs hack/install's copy of the build in /usr/lib/rkt: its PrivateTmp=yes hides nothing it
  // needs, wherever the checkout is (CI clones into /tmp).
  await out('systemctl start rkt-metadata.socket');
  t.is(await out('stat -c "%F %a" /run/rkt/metadata-svc.sock'), 'socket 600');
  t.is(await out('systemctl show -p Listen --value rkt-metadata.socket'), '/run/rkt/metadata-svc.sock (Stream)\n127.0.0.1:18112 (Stream)');
  t.is(await out('systemctl show -p ActiveState --value rkt-metadata.service'), 'inactive', 'nothing runs until a connection comes');
  // A registration-socket query, as rkt run --mds-register makes it: the service starts and answers.
  const ask = `const c=require('net').connect('/run/rkt/metadata-svc.sock');let b='';c.setEncoding('utf8');c.on('connect',()=>c.write('{"op":"info"}\\n'));c.on('data',(d)=>{b+=d;if(b.includes('\\n')){process.stdout.write(b);c.end();}});`;
  const info = await h().exec([process.execPath, '-e', ask]);
  t.is(info.exitCode, 0, info.stderr);
  t.deepEqual(JSON.parse(info.stdout), { ok: true, port: 18112, pods: 0 });
  t.is(await out('systemctl show -p ActiveState --value rkt-metadata.service'), 'active');
  const http = await h().exec([process.execPath, '-e', "fetch('http://127.0.0.1:18112/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/acMetadata/v1/pod/uuid').then((r)=>console.log(r.status))"]);
  t.is(http.stdout.trim(), '401', `an unknown token is refused on the TCP socket: ${http.stderr}`);
  t.regex(await out('journalctl -u rkt-metadata.service --no-pager -o cat'), /listening on the sockets systemd passed \(TCP port 18112\)/);
  await out('systemctl stop rkt-metadata.service rkt-metadata.socket');
  t.is(await out('systemctl show -p Result --value rkt-metadata.service'), 'success', 'SIGTERM: a clean exit');
  t.is(await out('systemctl show -p ExecMainStatus --value rkt-metadata.service'), '0');
  t.regex(await out('journalctl -u rkt-metadata.service --no-pager -o cat'), /metadata-service: stopped/);
  t.is((await sh('test -e /run/rkt/metadata-svc.sock')).exitCode, 1, 'RemoveOnStop=yes removed the socket file');

});

let podUuid = '';

podSuite.test('the example app-pod.service runs a pod in machine.slice and stops it cleanly, marking it for gc', async (t) => {
  // The example as shipped, with a drop-in putting the sample busybox image in place of example.com/app.
  const example = readFileSync(path.join(EXAMPLES, 'app-pod.service'), 'utf8');
  const execStart = example.split('\n').find((l) => l.startsWith('ExecStart='));
  t.truthy(execStart);
  const appPart = ' example.com/app:1.0.0 -- --listen=127.0.0.1:8080';
  t.true(execStart?.endsWith(appPart), `the example's ExecStart= ends with${appPart}`);
  const testStart = (execStart ?? '').slice(0, -appPart.length) + ` example.com/busybox --exec=/bin/sh -- -c 'echo app-pod-started; while :; do sleep 1; done'`;
  const dropIn = ['[Service]', 'ExecStartPre=', `ExecStartPre=/usr/bin/rkt fetch --insecure-options=image ${busyboxAci}`, 'ExecStart=', testStart, ''].join('\n');
  await h().exec(['mkdir', '-p', '/etc/systemd/system/app-pod.service.d']);
  await h().exec(['cp', path.join(EXAMPLES, 'app-pod.service'), '/etc/systemd/system/app-pod.service']);
  t.is((await h().exec(['sh', '-c', 'cat > /etc/systemd/system/app-pod.service.d/image.conf && systemctl daemon-reload'], { input: dropIn })).exitCode, 0);

  const start = await sh('systemctl start app-pod.service');
  t.is(start.exitCode, 0, `${start.stderr}\n${(await sh('journalctl -u app-pod.service --no-pager -o cat')).stdout}`);
  await until('the app has written its line', 60_000, async () => (await sh('journalctl -u app-pod.service --no-pager -o cat')).stdout.includes('app-pod-started'));
  podUuid = await out('cat /run/app-pod/pod-uuid');
  t.regex(await out('rkt status --uuid-file=/run/app-pod/pod-uuid'), /^state=running$/m);
  t.is(await out('systemctl show -p ControlGroup --value app-pod.service'), '/machine.slice/app-pod.service');
  t.is(await out(`machinectl show rkt-${podUuid} -p Unit --value`), 'app-pod.service', 'the pod is a machine, in the unit');

  const stop = await sh('systemctl stop app-pod.service');
  t.is(stop.exitCode, 0, stop.stderr);
  t.is(await out('systemctl show -p ActiveState --value app-pod.service'), 'inactive', 'stopped, not failed');
  t.is(await out('systemctl show -p Result --value app-pod.service'), 'success');
  const status = await out(`rkt status ${podUuid}`);
  t.regex(status, /^state=exited-garbage$/m, 'ExecStopPost=rkt gc --mark-only marked it');
  t.regex(status, /^app-busybox=143$/m, 'the app was stopped by SIGTERM inside the pod');
  t.is((await sh(`machinectl show rkt-${podUuid}`)).exitCode, 1, 'the machine is gone');
});

podSuite.test('rkt-gc.service keeps a marked pod for the grace period; a drop-in shortens it', async (t) => {
  if (podUuid === '') {
    t.fail('no pod from the example service test');
    return;
  }
  t.is((await sh('systemctl start rkt-gc.service')).exitCode, 0);
  t.regex(await out(`rkt status ${podUuid}`), /^state=exited-garbage$/m, 'kept: marked less than 24 h ago');

  const dropIn = '[Service]\nEnvironment=RKT_GC_GRACE_PERIOD=0s\n';
  const w = await h().exec(['sh', '-c', 'mkdir -p /etc/systemd/system/rkt-gc.service.d && cat > /etc/systemd/system/rkt-gc.service.d/grace.conf && systemctl daemon-reload'], { input: dropIn });
  t.is(w.exitCode, 0, w.stderr);
  const s = await sh('systemctl start rkt-gc.service');
  t.is(s.exitCode, 0, s.stderr);
  t.regex(await out('journalctl -u rkt-gc.service --no-pager -o cat'), new RegExp(`garbage collecting pod ${podUuid}`));
  t.not((await sh(`rkt status ${podUuid}`)).exitCode, 0, 'the pod is gone');
  await out('rm -r /etc/systemd/system/rkt-gc.service.d && systemctl daemon-reload');
});

suite.test('hack/install --uninstall: units stopped, disabled and gone; rkt off PATH; data and group kept', async (t) => {
  const r = await h().exec([INSTALL, '--uninstall']);
  t.is(r.exitCode, 0, r.stderr);
  t.is((await sh('test -e /usr/bin/rkt')).exitCode, 1, '/usr/bin/rkt removed');
  t.is(await out('systemctl show -p LoadState --value rkt-gc.service'), 'not-found');
  t.is(await out('systemctl list-timers --all --no-legend rkt-gc.timer'), '');
  t.is(await out('ls /etc/systemd/system/timers.target.wants | grep -c rkt || true'), '0', 'no enablement symlink left');
  for (const f of ['/usr/lib/rkt/hack-install.files', '/usr/lib/tmpfiles.d/rkt.conf', '/usr/lib/sysusers.d/rkt.conf', '/usr/share/doc/rkt/systemd-units.md']) {
    t.is((await sh(`test -e ${f}`)).exitCode, 1, `${f} removed`);
  }
  t.is(await out('stat -c "%a %G" /var/lib/rkt'), '2750 rkt');
});
