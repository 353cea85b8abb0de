// Isolation seen from inside the app (rkt issue #11): the capability sets, no_new_privs and the seccomp filter in
// /proc/self/status, a syscall of the filter failing with its errno (a tiny static C program built here with gcc),
// protected /proc and /sys paths, the ACE device set, --insecure-options lifting each, --readonly-rootfs, image
// isolators against flags, and the errors.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import test, { type TestFn } from 'ava';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO, tempDir } from '../../lib/rkt.js';
import { busyboxImage, INSECURE, podEnv, podTest, sharedImage, title, type ImageSpec } from '../../lib/pods.js';

const execFileP = promisify(execFile);
const busybox = sharedImage();

// The masks /proc/self/status shows (bit n = capability n).
const DEFAULT_CAPS = '00000000a80425fb';
const NSPAWN_CAPS = '00000000fcecafff';

/** The Cap*, NoNewPrivs and Seccomp lines of /proc/self/status, by name. */
const STATUS = "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status";
function status(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of stdout.matchAll(/^(Cap\w+|NoNewPrivs|Seccomp):\s+(\S+)$/gm)) out[m[1] ?? ''] = m[2] ?? '';
  return out;
}

// A static program that makes the system calls named on its command line and prints "NAME ok" or "NAME ERRNO".
const SC_SOURCE = `#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    long r = -1;
    errno = ENOSYS;
    if (!strcmp(argv[i], "get_mempolicy")) r = syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0);
    else if (!strcmp(argv[i], "kcmp")) r = syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0);
    else if (!strcmp(argv[i], "getppid")) r = syscall(SYS_getppid);
    printf("%s %s\\n", argv[i], r < 0 ? strerrorname_np(errno) : "ok");
  }
  return 0;
}
`;
const GCC = '/usr/bin/gcc';
/** Tests that need the probe: skipped, with the reason in the title, where there is no gcc. */
const probeTest: TestFn = existsSync(GCC) ? podTest : (test.skip as unknown as TestFn);
const probeTitle = (s: string): string => title(existsSync(GCC) ? s : `${s} (skipped: needs ${GCC} to build a static probe)`);
let probeImage: Promise<string> | undefined;
/** A busybox image with the probe as /bin/sc, built once per file. */
function syscallProbe(): Promise<string> {
  probeImage ??= (async () => {
    const { dir } = tempDir('rkt-isolation-sc-');
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'sc.c'), SC_SOURCE);
    await execFileP(GCC, ['-static', '-O2', '-o', path.join(dir, 'sc'), path.join(dir, 'sc.c')]);
    return imageWithIsolators(dir, [], {}, { '/bin/sc': path.join(dir, 'sc') });
  })();
  return probeImage;
}

/**
 * A busybox image whose app carries `isolators` and holds copies of host files (`copies`: path in the image →
 * host file); hack/aci builds it from the unpacked busybox image.
 */
async function imageWithIsolators(dir: string, isolators: readonly unknown[], spec: ImageSpec = {}, copies: Readonly<Record<string, string>> = {}): Promise<string> {
  const aci = await busyboxImage(dir, spec);
  const work = path.join(dir, `unpacked-${path.basename(aci, '.aci')}`);
  mkdirSync(work);
  await execFileP('tar', ['-xf', aci, '-C', work]);
  const manifestPath = path.join(work, 'manifest');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { app: Record<string, unknown> };
  manifest.app['isolators'] = isolators;
  writeFileSync(manifestPath, JSON.stringify(manifest));
  for (const [inImage, host] of Object.entries(copies)) copyFileSync(host, path.join(work, 'rootfs', inImage));
  const out = path.join(dir, `isolated-${path.basename(aci)}`);
  await execFileP(path.join(REPO, 'hack/aci'), ['build', '--compression=none', work, out]);
  return out;
}

const sh = (script: string): string[] => ['--exec=/bin/sh', '--', '-c', script];

podTest(title('by default an app holds rkt\'s default capabilities, no no_new_privs, and a seccomp filter'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run([await busybox(), ...sh(STATUS)]);
  t.is(res.exitCode, 0, res.stderr);
  const s = status(res.stdout);
  t.is(s['CapBnd'], DEFAULT_CAPS);
  t.is(s['CapEff'], DEFAULT_CAPS);
  t.is(s['CapAmb'], '0000000000000000');
  t.is(s['NoNewPrivs'], '0');
  t.is(s['Seccomp'], '2');
  t.is(res.stderr, '');
});

podTest(title('--caps-retain and --caps-remove set the bounding set; a non-root app holds a retain set as ambient'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const retain = await env.run([img, '--caps-retain=CAP_NET_BIND_SERVICE,CAP_CHOWN', ...sh(STATUS)]);
  t.is(retain.exitCode, 0, retain.stderr);
  t.is(status(retain.stdout)['CapBnd'], '0000000000000401');
  const remove = await env.run([img, '--caps-remove=CAP_MKNOD,CAP_NET_RAW', ...sh(STATUS)]);
  t.is(remove.exitCode, 0, remove.stderr);
  t.is(status(remove.stdout)['CapBnd'], (0xa80425fbn & ~(1n << 27n) & ~(1n << 13n)).toString(16).padStart(16, '0'));
  const nobody = await env.run([img, '--user=65534', '--group=65534', '--caps-retain=CAP_NET_BIND_SERVICE', ...sh(STATUS)]);
  t.is(nobody.exitCode, 0, nobody.stderr);
  t.is(status(nobody.stdout)['CapAmb'], '0000000000000400');
  t.is(status(nobody.stdout)['CapEff'], '0000000000000400');
  // Without a retain set a non-root app holds no capability.
  const plain = await env.run([img, '--user=65534', '--group=65534', ...sh(STATUS)]);
  t.is(status(plain.stdout)['CapEff'], '0000000000000000');
});

podTest(title('--caps-retain of a capability nspawn leaves out of the pod: the app gets it'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run([await busybox(), '--caps-retain=CAP_SYS_TIME,CAP_NET_ADMIN', ...sh(STATUS)]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(status(res.stdout)['CapBnd'], ((1n << 25n) | (1n << 12n)).toString(16).padStart(16, '0'));
});

podTest(title('--no-new-privileges sets no_new_privs'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run([await busybox(), '--no-new-privileges', ...sh(STATUS)]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(status(res.stdout)['NoNewPrivs'], '1');
});

probeTest(probeTitle('seccomp: the default blocklist fails with EPERM; --seccomp replaces it with its own set and errno'), async (t) => {
  const img = await syscallProbe();
  const env = await podEnv(t);
  const run = (flags: readonly string[], insecure: readonly string[] = []) =>
    env.run([...insecure, img, ...flags, '--exec=/bin/sc', '--', 'get_mempolicy', 'kcmp', 'getppid']);
  const byDefault = await run([]);
  t.is(byDefault.exitCode, 0, byDefault.stderr);
  t.is(byDefault.stdout, 'get_mempolicy EPERM\nkcmp EPERM\ngetppid ok\n');
  const own = await run(['--seccomp=mode=remove,errno=EXDEV,getppid']);
  t.is(own.exitCode, 0, own.stderr);
  t.is(own.stdout, 'get_mempolicy ok\nkcmp ok\ngetppid EXDEV\n');
  const group = await run(['--seccomp=mode=remove,errno=EACCES,@docker/default-blacklist']);
  t.is(group.stdout, 'get_mempolicy EACCES\nkcmp EACCES\ngetppid ok\n');
  const retainAll = await run(['--seccomp=mode=retain,@appc.io/all']);
  t.is(retainAll.stdout, 'get_mempolicy ok\nkcmp ok\ngetppid ok\n');
  const lifted = await run([], ['--insecure-options=seccomp']);
  t.is(lifted.exitCode, 0, lifted.stderr);
  t.is(lifted.stdout, 'get_mempolicy ok\nkcmp ok\ngetppid ok\n');
});

podTest(title('protected paths: /proc/sys and /sys read-only, kernel files hidden; --insecure-options=paths lifts them'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  // /proc/sys/kernel/domainname belongs to the pod's own UTS namespace: writing it where allowed harms nothing.
  const script = [
    'echo rkt-test > /proc/sys/kernel/domainname 2>/dev/null && echo proc-sys-writable || echo proc-sys-read-only',
    'touch /sys/rkt-test 2>/dev/null && echo sys-writable || echo sys-read-only',
    '[ -n "$(ls /sys/firmware 2>/dev/null)" ] && echo firmware-visible || echo firmware-hidden',
    '[ -e /proc/sysrq-trigger ] && { echo x > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable || echo sysrq-refused; } || echo sysrq-absent',
    // The pod's boot ID is a file the stage1 binds under /proc/sys: read-only like the rest of it.
    'echo 00000000-0000-0000-0000-000000000000 > /proc/sys/kernel/random/boot_id 2>/dev/null && echo boot-id-writable || echo boot-id-read-only',
    // Hidden: an empty file of mode 0 (the kernel's log would be mode 400; nspawn's FIFO there would block).
    'echo kmsg-mode-$(stat -c %a /proc/kmsg)-bytes-$(head -c 1 /proc/kmsg | wc -c)',
  ].join('; ');
  const want = /^proc-sys-read-only\nsys-read-only\nfirmware-hidden\nsysrq-(refused|absent)\nboot-id-read-only\nkmsg-mode-0-bytes-0\n$/;
  const res = await env.run([img, ...sh(script)]);
  t.is(res.exitCode, 0, res.stderr);
  t.regex(res.stdout, want);
  // The stage1 makes them once per pod, before its first app: every app of a pod has them (each prints its lines in one write).
  const two = await env.run([img, '--name=one', ...sh(`(${script}) > /tmp/out; cat /tmp/out`), '---', img, '--name=two', ...sh(`(${script}) > /tmp/out; cat /tmp/out`)]);
  t.is(two.exitCode, 0, two.stderr);
  const halves = two.stdout.split(/(?<=kmsg-mode-[0-9]+-bytes-[0-9]+\n)/);
  t.is(halves.length, 2, two.stdout);
  for (const h of halves) t.regex(h, want);
  if (!existsSync('/proc/sysrq-trigger')) t.log('this kernel has no /proc/sysrq-trigger (no CONFIG_MAGIC_SYSRQ): its write is not tested');
  const lifted = await env.run(['--insecure-options=paths', img, ...sh(script.split('; ').slice(0, 1).join('; '))]);
  t.is(lifted.exitCode, 0, lifted.stderr);
  t.is(lifted.stdout, 'proc-sys-writable\n');
  if (readdirSync('/sys/firmware').length > 0) {
    const firmware = await env.run(['--insecure-options=paths', img, ...sh(script.split('; ')[2] ?? '')]);
    t.is(firmware.stdout, 'firmware-visible\n');
  }
});

podTest(title('devices: only the ACE set (nspawn\'s /dev/net/tun is absent) unless --insecure-options=paths'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const script = 'for d in null zero full random urandom tty ptmx; do [ -c /dev/$d ] || echo missing $d; done; [ -c /dev/net/tun ] && echo tun-present || echo tun-absent';
  const res = await env.run([img, ...sh(script)]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'tun-absent\n');
  const lifted = await env.run(['--insecure-options=paths', img, ...sh(script)]);
  t.is(lifted.stdout, 'tun-present\n');
});

podTest(title('--insecure-options=capabilities leaves the app nspawn\'s capability set'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run(['--insecure-options=capabilities', await busybox(), ...sh(STATUS)]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(status(res.stdout)['CapBnd'], NSPAWN_CAPS);
});

podTest(title('--readonly-rootfs: writes to / fail with EROFS while a volume stays writable'), async (t) => {
  const env = await podEnv(t);
  const vol = env.file('vol');
  mkdirSync(vol);
  const res = await env.run([`--volume=data,kind=host,source=${vol}`, await busybox(), '--mount=volume=data,target=/data', '--readonly-rootfs',
    ...sh('touch /rootfile 2>&1; echo written > /data/out && echo volume-ok')]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(res.stdout, 'touch: /rootfile: Read-only file system\nvolume-ok\n');
  t.is(readFileSync(path.join(vol, 'out'), 'utf8'), 'written\n');
});

podTest(title('an image\'s isolators apply, a flag beats them, and an unknown isolator is noted on stderr'), async (t) => {
  const env = await podEnv(t);
  const img = await imageWithIsolators(env.dir, [
    { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_CHOWN'] } },
    { name: 'os/linux/no-new-privileges', value: true },
    { name: 'os/linux/oom-score-adj', value: 250 },
    { name: 'example.com/turbo', value: { on: true } },
  ]);
  const script = `${STATUS}; echo oom=$(cat /proc/self/oom_score_adj)`;
  const fromImage = await env.run([img, ...sh(script)]);
  t.is(fromImage.exitCode, 0, fromImage.stderr);
  t.is(status(fromImage.stdout)['CapBnd'], '0000000000000001');
  t.is(status(fromImage.stdout)['NoNewPrivs'], '1');
  t.regex(fromImage.stdout, /^oom=250$/m);
  t.is(fromImage.stderr, 'rkt: app busybox: isolator example.com/turbo is not supported, ignoring\n');
  const flagged = await env.run([img, '--caps-retain=CAP_KILL', '--oom-score-adj=500', ...sh(script)]);
  t.is(flagged.exitCode, 0, flagged.stderr);
  t.is(status(flagged.stdout)['CapBnd'], '0000000000000020');
  t.regex(flagged.stdout, /^oom=500$/m);
});

podTest(title('resource limits are written into the unit, and stderr says once that this host cannot enforce them'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run([await busybox(), '--memory=64M', '--cpu=500m', '--cpu-shares=512', ...sh('true')]);
  t.is(res.exitCode, 0, res.stderr);
  const notes = res.stderr.split('\n').filter((l) => /cannot enforce/.test(l));
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) { t.log('cgroup v2 host: limits may apply, no note expected'); t.deepEqual(notes, []); return; }
  t.deepEqual(notes, ['rkt: resource limits of app busybox are written into the app units, but this host\'s cgroup v1 setup cannot enforce them inside the pod']);
});

podTest(title('bad isolation flags are usage errors (2, one line and the help pointer), an image isolator naming an unknown syscall fails the run (254, one line): no pod'), async (t) => {
  const env = await podEnv(t);
  const img = await busybox();
  const cases: [readonly string[], RegExp][] = [
    [['--caps-retain=CAP_CHOWN', '--caps-remove=CAP_KILL'], /^rkt: --caps-retain and --caps-remove cannot be used together\nsee 'rkt run --help'\n$/],
    [['--caps-retain=CAP_FLY'], /^rkt: bad --caps-retain value: unknown capability "CAP_FLY"\nsee 'rkt run --help'\n$/],
    [['--seccomp=mode=remove,flyaway'], /^rkt: bad --seccomp value "mode=remove,flyaway": unknown syscall "flyaway"\n/],
    [['--seccomp=mode=remove,errno=EFLY,ptrace'], /^rkt: bad --seccomp value "mode=remove,errno=EFLY,ptrace": unknown errno "EFLY"\n/],
    [['--oom-score-adj=5000'], /^rkt: bad --oom-score-adj value "5000": want an integer from -1000 to 1000\nsee 'rkt run --help'\n$/],
    [['--memory=lots'], /^rkt: bad --memory value "lots"/],
  ];
  for (const [flags, message] of cases) {
    const res = await env.run([img, ...flags, '--exec=/bin/true']);
    t.is(res.exitCode, 2, `${flags.join(' ')}: ${res.stderr}`);
    t.regex(res.stderr, message);
    t.is(res.stdout, '');
  }
  const bad = await imageWithIsolators(env.dir, [{ name: 'os/linux/seccomp-remove-set', value: { set: ['flyaway'] } }]);
  const res = await env.run([bad, '--exec=/bin/true']);
  t.is(res.exitCode, 254);
  t.is(res.stderr, 'rkt: app busybox: unknown syscall "flyaway" (not an x86_64 system call)\n');
  const runDir = path.join(env.data, 'pods/run');
  t.deepEqual(existsSync(runDir) ? readdirSync(runDir) : [], [], 'no pod ran');
});


podTest(title('prepare writes the flags into the pod manifest (cat-manifest shows them) and run-prepared applies them'), async (t) => {
  const env = await podEnv(t);
  const prep = await env.r([INSECURE, 'prepare', await busybox(), '--caps-retain=CAP_SYS_TIME,CAP_KILL', '--no-new-privileges', '--readonly-rootfs',
    ...sh(`${STATUS}; touch /x 2>/dev/null || echo read-only`)]);
  t.is(prep.exitCode, 0, prep.stderr);
  const uuid = prep.stdout.trim();
  const cat = await env.r(['cat-manifest', uuid]);
  t.is(cat.exitCode, 0, cat.stderr);
  const manifest = JSON.parse(cat.stdout) as { apps: { readOnlyRootFS?: boolean; app: { isolators: unknown[] } }[] };
  t.deepEqual(manifest.apps[0]?.app.isolators, [
    { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_SYS_TIME', 'CAP_KILL'] } },
    { name: 'os/linux/no-new-privileges', value: true },
  ]);
  t.true(manifest.apps[0]?.readOnlyRootFS);
  const run = await env.r(['run-prepared', uuid]);
  t.is(run.exitCode, 0, run.stderr);
  t.is(status(run.stdout)['CapBnd'], ((1n << 25n) | (1n << 5n)).toString(16).padStart(16, '0'));
  t.is(status(run.stdout)['NoNewPrivs'], '1');
  t.regex(run.stdout, /^read-only$/m);
});

podTest(title('--pod-manifest: the app entry\'s isolators and readOnlyRootFS apply'), async (t) => {
  const env = await podEnv(t);
  const aci = await busybox();
  const fetched = await env.r([INSECURE, 'fetch', aci]);
  t.is(fetched.exitCode, 0, fetched.stderr);
  // The Image ID in full: the sha512 of the (uncompressed) ACI.
  const id = `sha512-${createHash('sha512').update(readFileSync(aci)).digest('hex')}`;
  const file = env.file('pod.json');
  writeFileSync(file, JSON.stringify({
    acVersion: '0.8.11', acKind: 'PodManifest',
    apps: [{
      name: 'probe', image: { name: 'example.com/busybox', id }, readOnlyRootFS: true,
      app: {
        exec: ['/bin/sh', '-c', `${STATUS}; touch /x 2>/dev/null || echo read-only`], user: '0', group: '0',
        isolators: [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_CHOWN'] } }],
      },
    }],
  }));
  const res = await env.run([`--pod-manifest=${file}`]);
  t.is(res.exitCode, 0, res.stderr);
  t.is(status(res.stdout)['CapBnd'], '0000000000000001');
  t.regex(res.stdout, /^read-only$/m);
});
