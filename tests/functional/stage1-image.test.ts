// The systemd stage1 image (stage1-image/build), proved end to end without stage0: build it, unpack it with
// GNU tar, put a busybox app and its unit where stage0 would, and boot it with the image's own rkt/run; then
// stop a running pod with rkt/stop and look into a running app with rkt/enter.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, functionalSkipReason, runCmd, tempDir, type Result } from '../lib/rkt.js';
import { sleep, within } from '../lib/wait.js';

const skip = functionalSkipReason() ?? (existsSync('/usr/bin/systemd-nspawn') ? undefined : 'needs systemd-nspawn (hack/setup)');
const t0 = skip === undefined ? test.serial : test.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);

const BUILD = path.join(REPO, 'stage1-image/build');

const BUSYBOX = '/usr/bin/busybox';
/** Each pod gets a cgroup of its own under this one in every mounted hierarchy (there is no host systemd). */
const CG_PARENT = 'rkt-test-stage1';

interface Built { readonly dir: string; readonly aci: string; readonly imageId: string; readonly stderr: string; readonly ms: number; readonly unpacked: string }
let built: Built | undefined;
let buildError: string | undefined;
let cleanupAll: (() => void) | undefined;

test.before(async () => {
  if (skip !== undefined) return;
  const { dir, cleanup } = tempDir('rkt-stage1-');
  cleanupAll = cleanup;
  const aci = path.join(dir, 'stage1.aci');
  const start = Date.now();
  const r = await runCmd(BUILD, [aci], { timeoutMs: 300_000 });
  const ms = Date.now() - start;
  if (r.exitCode !== 0) { buildError = `stage1-image/build exited ${r.exitCode}: ${r.stderr}`; return; }
  const unpacked = path.join(dir, 'unpacked');
  mkdirSync(unpacked);
  const x = await runCmd('tar', ['-xpf', aci, '--numeric-owner', '-C', unpacked]);
  if (x.exitCode !== 0) { buildError = `tar -x failed: ${x.stderr}`; return; }
  built = { dir, aci, imageId: r.stdout.trim(), stderr: r.stderr, ms, unpacked };
});

test.after.always(() => {
  cleanupAll?.();
  for (const h of cgroupHierarchies()) {
    try { rmdirSync(path.join(h, CG_PARENT)); } catch (err) {
      // other pods still there, or never made
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY' && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
});

function image(_t: ExecutionContext): Built {
  if (built === undefined) throw new Error(buildError ?? 'the stage1 image was not built');
  return built;
}

/** The cgroup hierarchies to move a pod's launcher into: the v1 ones nspawn and systemd use, or the v2 root. */
function cgroupHierarchies(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.procs')) return ['/sys/fs/cgroup'];
  return ['systemd', 'unified', 'pids', 'memory'].map((h) => `/sys/fs/cgroup/${h}`).filter((d) => existsSync(d));
}

/** Remove a pod's cgroup tree, deepest first (the pod's systemd made its slices and scopes below it). */
async function removeCgroups(name: string): Promise<void> {
  for (const h of cgroupHierarchies()) {
    const top = path.join(h, CG_PARENT, name);
    const dirs: string[] = [];
    const walk = (d: string) => {
      if (!existsSync(d)) return;
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
      dirs.push(d);
    };
    walk(top);
    for (const d of dirs) {
      // EBUSY while the last processes are reaped (slow on a busy machine): retry, bounded against a hang.
      const deadline = Date.now() + 30_000;
      for (;;) {
        try { rmdirSync(d); break; } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
          if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline) throw err;
          await sleep(20);
        }
      }
    }
  }
}

/** sh -c script: $1 = the pod's cgroup name, the rest the command; moves itself into that cgroup in each hierarchy, then execs. */
function cgWrap(): string {
  return `set -e
name=$1; shift
for h in ${cgroupHierarchies().join(' ')}; do d=$h/${CG_PARENT}/$name; mkdir -p "$d"; echo $$ > "$d/cgroup.procs"; done
exec "$@"`;
}

/** A fresh copy of the unpacked stage1 tree with a busybox app at opt/stage2/app1/rootfs and app1.service. */
async function preparePod(t: ExecutionContext, exec: string, opts: { defaultDependencies?: boolean } = {}): Promise<string> {
  const b = image(t);
  const { dir, cleanup } = tempDir('rkt-stage1-pod-');
  t.teardown(cleanup);
  const root = path.join(dir, 'stage1', 'rootfs');
  mkdirSync(path.dirname(root));
  const cp = await runCmd('cp', ['-a', path.join(b.unpacked, 'rootfs'), root]);
  t.is(cp.exitCode, 0, cp.stderr);
  const app = path.join(root, 'opt/stage2/app1/rootfs');
  for (const d of ['bin', 'usr', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'root']) mkdirSync(path.join(app, d), { recursive: true });
  copyFileSync(BUSYBOX, path.join(app, 'bin/busybox'));
  chmodSync(path.join(app, 'bin/busybox'), 0o755);
  const list = await runCmd(BUSYBOX, ['--list']);
  for (const a of list.stdout.split('\n')) if (a !== '' && a !== 'busybox') symlinkSync('busybox', path.join(app, 'bin', a));
  writeFileSync(path.join(app, 'etc/os-release'), 'ID=app1-rootfs\nNAME="the app1 rootfs"\n');
  const etc = path.join(root, 'etc/systemd/system');
  writeFileSync(path.join(etc, 'default.target'), '[Unit]\nDescription=test pod\nWants=app1.service\n');
  writeFileSync(path.join(etc, 'app1.service'), [
    '[Unit]',
    'Description=app1',
    ...(opts.defaultDependencies === true ? [] : ['DefaultDependencies=no']),
    'SuccessAction=exit-force',
    'FailureAction=exit-force',
    '[Service]',
    'Type=simple',
    'RootDirectory=/opt/stage2/app1/rootfs',
    'MountAPIVFS=yes',
    'StandardOutput=tty',
    'StandardError=tty',
    'TTYPath=/dev/console',
    `ExecStart=${exec}`,
    '',
  ].join('\n'));
  return root;
}

let podCount = 0;
/** The command line that boots the pod in `root` from a cgroup of its own, as stage0 would (minus machined). */
function podCommand(root: string): { cmd: string; args: string[]; cgroup: string } {
  const cgroup = `pod-${process.pid}-${++podCount}`;
  return {
    cmd: '/bin/sh',
    args: ['-c', cgWrap(), 'cg-wrap', cgroup, path.join(root, 'rkt/run'), '--boot', '--register=no', '--keep-unit', '-q',
      '--private-network', '-D', root, '--console=read-only', '--', '--log-target=null', '--show-status=no'],
    cgroup,
  };
}

async function runPod(t: ExecutionContext, root: string): Promise<Result & { ms: number }> {
  const p = podCommand(root);
  t.teardown(() => removeCgroups(p.cgroup));
  const start = process.hrtime.bigint();
  const r = await runCmd(p.cmd, p.args, { timeoutMs: 60_000 });
  return { ...r, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

interface Running { readonly child: ChildProcess; readonly pid1: number; output(): string; readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

/** Boot the pod in the background; resolves once `marker` shows on its console, with the pod's PID 1 as the host sees it. */
async function startPod(t: ExecutionContext, root: string, marker: string): Promise<Running> {
  const p = podCommand(root);
  const child = spawn(p.cmd, p.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { out += s; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => { done = true; });
  t.teardown(async () => {
    if (!done) { child.kill('SIGKILL'); await exited; }
    await removeCgroups(p.cgroup);
  });
  const nspawn = child.pid ?? 0;
  // Bounded (60 s) only against a pod that never starts.
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    if (done) break;
    if (out.includes(marker)) {
      // nspawn (the launcher's PID after its execs) has one child left: the pod's systemd.
      const kids = readFileSync(`/proc/${nspawn}/task/${nspawn}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '');
      const pid1 = Number(kids[0]);
      if (kids.length === 1 && readFileSync(`/proc/${pid1}/comm`, 'utf8').trim() === 'systemd') {
        return { child, pid1, output: () => out, exited };
      }
    }
    await sleep(50);
  }
  throw new Error(`the pod did not start (marker "${marker}" not seen): ${out}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

t0(title('stage1-image/build: an ACI with the stage1 manifest, entrypoints and a self-contained tree'), async (t) => {
  const b = image(t);
  t.regex(b.imageId, /^sha512-[0-9a-f]{128}$/);
  t.regex(b.stderr, /\d+ bytes .* \d+ files .* built in \d+ ms/);
  const m = JSON.parse(readFileSync(path.join(b.unpacked, 'manifest'), 'utf8')) as {
    name: string; labels: { name: string; value: string }[]; annotations: { name: string; value: string }[]; app?: unknown;
  };
  t.is(m.name, 'coreos.com/rkt/stage1-systemd');
  t.is(m.app, undefined);
  const labels = Object.fromEntries(m.labels.map((l) => [l.name, l.value]));
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  t.deepEqual(labels, { version: pkg.version, os: 'linux', arch: process.arch === 'x64' ? 'amd64' : process.arch });
  const ann = Object.fromEntries(m.annotations.map((a) => [a.name, a.value]));
  t.is(ann['coreos.com/rkt/stage1/run'], '/rkt/run');
  t.is(ann['coreos.com/rkt/stage1/enter'], '/rkt/enter');
  t.is(ann['coreos.com/rkt/stage1/gc'], '/rkt/gc');
  t.is(ann['coreos.com/rkt/stage1/stop'], '/rkt/stop');
  t.is(ann['coreos.com/rkt/stage1/interface-version'], '5');
  t.regex(ann['coreos.com/rkt/stage1/systemd-version'] ?? '', /^\d+$/);
  t.regex(ann['created'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const root = path.join(b.unpacked, 'rootfs');
  const links: [string, string][] = [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64'], ['var/run', '../run'],
    ['usr/lib/systemd/system/default.target', 'rkt-pod.target']];
  for (const [link, target] of links) {
    t.is(readlinkSync(path.join(root, link)), target, link);
  }
  for (const f of ['usr/lib/systemd/systemd', 'usr/lib/systemd/systemd-shutdown', 'usr/bin/systemctl', 'usr/lib/systemd/systemd-journald',
    'usr/bin/systemd-nspawn', 'usr/bin/busybox', 'rkt/run', 'rkt/enter', 'rkt/stop', 'rkt/gc']) {
    t.true(lstatSync(path.join(root, f)).isFile() && (lstatSync(path.join(root, f)).mode & 0o111) !== 0, `${f} is an executable file`);
  }
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'var/log', 'root', 'opt/stage2', 'rkt/status', 'etc/systemd/system']) {
    t.true(lstatSync(path.join(root, d)).isDirectory(), d);
  }
  t.deepEqual(readdirSync(path.join(root, 'opt/stage2')), []);
  t.deepEqual(readdirSync(path.join(root, 'etc/systemd/system')), [], 'nothing for stage0 to collide with in /etc');
  t.is(readFileSync(path.join(root, 'etc/machine-id'), 'utf8'), '');
  t.regex(readFileSync(path.join(root, 'etc/group'), 'utf8'), /^systemd-journal:x:\d+:$/m);
  t.notRegex(readFileSync(path.join(root, 'usr/lib/systemd/system/rkt-pod.target'), 'utf8'), /^(Wants|Requires)=/m);
  for (const u of ['exit.target', 'systemd-exit.service', 'halt.target', 'systemd-halt.service', 'poweroff.target', 'systemd-poweroff.service',
    'shutdown.target', 'final.target', 'umount.target', 'systemd-journald.service', 'systemd-journald.socket', 'systemd-journald-dev-log.socket']) {
    t.true(existsSync(path.join(root, 'usr/lib/systemd/system', u)), u);
  }
  // Every symlink is relative, so the tree resolves the same from the host (where rkt/run runs) as inside the pod.
  const found = await runCmd('find', [root, '-type', 'l', '-lname', '/*']);
  t.is(found.stdout, '', 'no absolute symlinks');
  // rkt/run: the image's own nspawn through the image's own loader, with nothing from the host's libraries.
  const ver = await runCmd(path.join(root, 'rkt/run'), ['--version']);
  t.is(ver.exitCode, 0, ver.stderr);
  t.regex(ver.stdout, new RegExp(`^systemd ${ann['coreos.com/rkt/stage1/systemd-version'] ?? 'x'} `));
  const run = readFileSync(path.join(root, 'rkt/run'), 'utf8');
  const loader = /exec "\$root\/([^"]+)"/.exec(run)?.[1] ?? '';
  const libpath = /--library-path "([^"]+)"/.exec(run)?.[1]?.replaceAll('$root', root) ?? '';
  const list = await runCmd(path.join(root, loader), ['--inhibit-cache', '--library-path', libpath, '--list', path.join(root, 'usr/bin/systemd-nspawn')]);
  t.is(list.exitCode, 0, list.stderr);
  const resolved = list.stdout.split('\n').filter((l) => l.includes('=>')).map((l) => l.split('=>')[1]?.trim().split(' ')[0] ?? '');
  t.true(resolved.length > 5);
  for (const r of resolved) t.true(r.startsWith(root + '/') || r.startsWith('./'), `nspawn library from outside the image: ${r}`);
  t.log(`build: ${b.ms} ms; ${b.stderr.trim()}`);
});

t0(title('stage1-image/build is idempotent: a rebuild over the same file gives the same Image ID'), async (t) => {
  const b = image(t);
  const r = await runCmd(BUILD, [b.aci], { timeoutMs: 300_000 });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout.trim(), b.imageId);
  const id = await runCmd(path.join(REPO, 'hack/aci'), ['id', b.aci]);
  t.is(id.stdout.trim(), b.imageId);
});

t0(title('a pod boots on the stage1, runs its app and exits with the app\'s status'), async (t) => {
  const root = await preparePod(t, "/bin/sh -c 'echo hello-from-app; exit 7'");
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await runPod(t, root);
    t.is(r.exitCode, 7, r.stdout + r.stderr);
    t.regex(r.stdout, /hello-from-app/);
    times.push(r.ms);
  }
  t.log(`boot-to-exit of a one-app pod: median ${median(times).toFixed(0)} ms (${times.map((x) => x.toFixed(0)).join(', ')})`);
});

t0(title('a pod whose app has default dependencies (so journald\'s sockets and service start) boots and exits with the app\'s status'), async (t) => {
  const root = await preparePod(t, "/bin/sh -c 'echo hello-with-journald; exit 5'", { defaultDependencies: true });
  const r = await runPod(t, root);
  t.is(r.exitCode, 5, r.stdout + r.stderr);
  t.regex(r.stdout, /hello-with-journald/);
  t.log(`boot-to-exit with journald: ${r.ms.toFixed(0)} ms`);
});

t0(title('rkt/stop PID makes a running pod exit cleanly (status 0); --force kills it'), async (t) => {
  // The app would sleep a day: the pod ending at all (bounded at 60 s against a hung test) is the stop's doing.
  const root = await preparePod(t, "/bin/sh -c 'echo app-started; exec sleep 86400'");
  const pod = await startPod(t, root, 'app-started');
  const start = Date.now();
  const stop = await runCmd(path.join(root, 'rkt/stop'), [String(pod.pid1)]);
  t.is(stop.exitCode, 0, stop.stderr);
  const res = await within(pod.exited, 60_000);
  t.deepEqual(res, { code: 0, signal: null }, `the pod did not stop cleanly: ${pod.output()}`);
  t.log(`graceful stop: ${Date.now() - start} ms`);

  const root2 = await preparePod(t, "/bin/sh -c 'echo app-started; exec sleep 86400'");
  const pod2 = await startPod(t, root2, 'app-started');
  const kill = await runCmd(path.join(root2, 'rkt/stop'), [String(pod2.pid1), '--force']);
  t.is(kill.exitCode, 0, kill.stderr);
  const res2 = await within(pod2.exited, 60_000);
  t.not(res2, undefined, `the pod did not end after rkt/stop --force: ${pod2.output()}`);
  t.not(res2?.code, 0, 'a killed pod does not exit 0');

  const bad = await runCmd(path.join(root, 'rkt/stop'), ['not-a-pid']);
  t.is(bad.exitCode, 254);
});

t0(title('rkt/enter PID APP CMD runs CMD in the running app\'s root, in the pod\'s namespaces'), async (t) => {
  const root = await preparePod(t, "/bin/sh -c 'echo app-started; exec sleep 100'");
  const pod = await startPod(t, root, 'app-started');
  const enter = path.join(root, 'rkt/enter');
  const r = await runCmd(enter, [String(pod.pid1), 'app1', '/bin/cat', '/etc/os-release'], { cwd: path.dirname(root) });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'ID=app1-rootfs\nNAME="the app1 rootfs"\n');
  // The pod's PID namespace (its systemd is PID 1), the app's /proc; exit status and environment pass through.
  const sh = await runCmd(enter, [String(pod.pid1), 'app1', '/bin/sh', '-c', 'cat /proc/1/comm; echo "FOO=$FOO"; [ -e /proc/self/exe ] && exit 3'],
    { env: { PATH: '/usr/bin:/bin', FOO: 'bar' }, cwd: path.dirname(root) });
  t.is(sh.exitCode, 3, sh.stderr);
  t.is(sh.stdout, 'systemd\nFOO=bar\n');
  const env = await runCmd(enter, [String(pod.pid1), 'app1', '/bin/env'], { env: { PATH: '/bin', FOO: 'bar' }, cwd: path.dirname(root) });
  t.deepEqual(env.stdout.split('\n').filter((l) => l !== '').sort(), ['FOO=bar', 'PATH=/bin']);
  const none = await runCmd(enter, [String(pod.pid1), 'app2', '/bin/true']);
  t.is(none.exitCode, 254);
  t.regex(none.stderr, /no app "app2"/);
  await runCmd(path.join(root, 'rkt/stop'), [String(pod.pid1)]);
  t.deepEqual(await pod.exited, { code: 0, signal: null });
});

t0(title('rkt/gc exits 0'), async (t) => {
  const b = image(t);
  const r = await runCmd(path.join(b.unpacked, 'rootfs/rkt/gc'), [], { cwd: b.dir });
  t.is(r.exitCode, 0);
});
