// stage0's launcher (build/rkt-launch, src/launcher/rkt-launch.c) on its own, without a pod: its entrypoint is
// /bin/sh here, so each test sees what the launcher made (FIFOs, relay, cgroups, mounts, network namespace) from
// the process that would be nspawn, and each failing step's one line and exit status 254.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { functionalSkipReason, REPO, runCmd, tempDir } from '../lib/rkt.js';

const skip = functionalSkipReason();
const rootTest = skip === undefined ? test : test.skip;
const title = (s: string): string => (skip === undefined ? s : `${s} (skipped: ${skip})`);
const LAUNCHER = path.join(REPO, 'build', 'rkt-launch');

function launch(args: readonly string[], cwd?: string) {
  return runCmd(LAUNCHER, args, cwd !== undefined ? { cwd } : {});
}

function temp(t: { teardown: (f: () => void) => void }): string {
  const { dir, cleanup } = tempDir('rkt-launch-test-');
  t.teardown(cleanup);
  return dir;
}

rootTest(title('the relay copies the pod\'s stdout and stderr FIFOs apart, to the end, and the entrypoint\'s status is the launcher\'s'), async (t) => {
  const dir = temp(t);
  const io = path.join(dir, 'io');
  mkdirSync(io);
  // A writer that outlives the entrypoint (as the pod's processes outlive nspawn's exec) is still copied: the
  // launcher's output pipes close only once the relay has seen the end of both FIFOs.
  const script = `ls -l ${io} >${io}/stdout; exec 7>${io}/stdout; (sleep 0.3; echo late >&7) & echo out >${io}/stdout; echo err >${io}/stderr; exit 7`;
  const res = await launch(['--io', io, '--', '/bin/sh', '-c', script]);
  t.is(res.exitCode, 7, res.stderr);
  t.is(res.stderr, 'err\n');
  const lines = res.stdout.split('\n');
  t.deepEqual(lines.slice(-3), ['out', 'late', '']);
  t.regex(res.stdout, /^prw------- 1 root root 0 .* stderr$/m, 'FIFOs of mode 0600');
  t.regex(res.stdout, /^prw------- 1 root root 0 .* stdout$/m);
});

rootTest(title('--root-id: the FIFOs belong to the pod\'s root on the host'), async (t) => {
  const dir = temp(t);
  const res = await launch(['--io', dir, '--root-id', '524288', '--', '/bin/true']);
  t.is(res.exitCode, 0, res.stderr);
  for (const f of ['stdout', 'stderr']) {
    const st = statSync(path.join(dir, f));
    t.true(st.isFIFO());
    t.is(`${st.uid}:${st.gid}`, '524288:524288');
  }
});

rootTest(title('the launcher joins each --cgroup, its relay stays outside them'), async (t) => {
  const base = existsCgroupV1() ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup';
  const cg = path.join(base, `rkt-launch-test-${process.pid}`);
  mkdirSync(cg);
  t.teardown(() => rmdirSync(cg));
  const dir = temp(t);
  // Shell builtins only: a child of the shell would be in the cgroup too.
  const res = await launch(['--io', dir, '--cgroup', cg, '--', '/bin/sh', '-c', `while read -r p; do echo "$p"; done <${cg}/cgroup.procs; echo "$$"`]);
  t.is(res.exitCode, 0, res.stderr);
  const procs = res.stdout.trim().split('\n');
  const self = procs.pop();
  t.deepEqual(procs, [self], 'only the process that becomes nspawn');
});

rootTest(title('the mounts (tmpfs on /run/systemd/nspawn, overlays) are made in a private mount namespace'), async (t) => {
  const dir = temp(t);
  const lower = path.join(dir, 'lower');
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  const target = path.join(dir, 'target');
  for (const d of [lower, upper, work, target]) mkdirSync(d);
  writeFileSync(path.join(lower, 'file'), 'from the image\n');
  mkdirSync('/run/systemd/nspawn', { recursive: true });
  const res = await launch(['--private-nspawn-run', '--image-tree', lower, '--overlay', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, target, '--',
    '/bin/sh', '-c', `cat ${target}/file; grep -c '^tmpfs /run/systemd/nspawn tmpfs' /proc/self/mounts`]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'from the image\n1\n');
  t.false(readFileSync('/proc/self/mounts', 'utf8').includes(target), 'the overlay is not on the host');
});

rootTest(title('--netns: the entrypoint runs in that network namespace'), async (t) => {
  const name = `rkt-launch-test-${process.pid}`;
  execFileSync('ip', ['netns', 'add', name]);
  t.teardown(() => execFileSync('ip', ['netns', 'delete', name]));
  const ns = `/run/netns/${name}`;
  const res = await launch(['--netns', ns, '--', '/bin/readlink', '/proc/self/ns/net']);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, `net:[${statSync(ns).ino}]\n`);
});

rootTest(title('each failing step is one line "rkt: cannot start the pod: …" and exit 254'), async (t) => {
  const dir = temp(t);
  const cases: [readonly string[], string][] = [
    [['--io', path.join(dir, 'none')], `cannot make the output FIFOs in ${path.join(dir, 'none')}: No such file or directory`],
    [['--cgroup', path.join(dir, 'no-cgroup')], `cannot join the cgroup ${path.join(dir, 'no-cgroup')}: No such file or directory`],
    [['--image-tree', path.join(dir, 'gone')], `the image tree ${path.join(dir, 'gone')} is missing (was the image removed? rkt image verify, or fetch it again)`],
    [['--overlay', `lowerdir=${dir}/a,upperdir=${dir}/b,workdir=${dir}/c`, dir], `cannot mount the overlay on ${dir}: No such file or directory`],
    [['--netns', path.join(dir, 'netns')], `the pod's network namespace ${path.join(dir, 'netns')} is missing`],
    [['--netns', dir], `cannot join the pod's network namespace ${dir}: Invalid argument`],
    [['--bogus'], 'rkt-launch: unknown option "--bogus"'],
    [['--root-id', 'x'], 'rkt-launch: bad --root-id "x"'],
  ];
  for (const [opts, line] of cases) {
    const res = await launch([...opts, '--', '/bin/true']);
    t.is(res.exitCode, 254, opts.join(' '));
    t.is(res.stderr, `rkt: cannot start the pod: ${line}\n`, opts.join(' '));
    t.is(res.stdout, '');
  }
  const none = await launch(['--', path.join(dir, 'run')]);
  t.is(none.exitCode, 254);
  t.is(none.stderr, `rkt: cannot start the pod: cannot run the stage1 entrypoint ${path.join(dir, 'run')}: No such file or directory\n`);
  const noArgs = await launch(['--io', dir]);
  t.is(noArgs.stderr, 'rkt: cannot start the pod: rkt-launch: no entrypoint after --\n');
});

function existsCgroupV1(): boolean {
  try {
    return statSync('/sys/fs/cgroup/pids').isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
