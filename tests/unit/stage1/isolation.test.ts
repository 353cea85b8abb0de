import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { resolveAppIsolation } from '../../../src/stage0/isolation.js';
import { capabilityMask, DEFAULT_APP_CAPABILITIES, LINUX_CAPABILITIES, NSPAWN_DEFAULT_CAPABILITIES } from '../../../src/stage1/capabilities.js';
import { extraPodCapabilities, isolationDirectives, podProtection } from '../../../src/stage1/isolation.js';
import { renderAppUnit, renderPodUnits } from '../../../src/stage1/units.js';
import { DOCKER_DEFAULT_BLOCKLIST, ERRNO_NUMBERS, RKT_DEFAULT_BLOCKLIST, X86_64_SYSCALLS, expandSeccompSet } from '../../../src/stage1/seccomp.js';

const resolve = (over: Partial<Parameters<typeof resolveAppIsolation>[0]> = {}) =>
  resolveAppIsolation({ app: 'web', uid: 0, imageIsolators: [], appIsolators: [], insecure: new Set(), ...over });

test('the default isolation as unit directives', (t) => {
  t.deepEqual(isolationDirectives(resolve()), [
    'CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT CAP_MKNOD CAP_AUDIT_WRITE CAP_SETFCAP',
    'SystemCallFilter=~ptrace uselib ustat sysfs pivot_root _sysctl adjtimex settimeofday mount umount2 swapon swapoff reboot iopl ioperm create_module init_module delete_module get_kernel_syms query_module quotactl nfsservctl lookup_dcookie clock_settime mbind set_mempolicy get_mempolicy kexec_load add_key request_key keyctl unshare move_pages perf_event_open name_to_handle_at open_by_handle_at clock_adjtime setns process_vm_readv process_vm_writev kcmp finit_module kexec_file_load bpf userfaultfd',
    'SystemCallErrorNumber=EPERM',
    'BindPaths=/proc:/proc',
    'ReadOnlyPaths=-+/sys -+/proc/sys/kernel/random/boot_id',
  ]);
});

test('every setting as unit directives', (t) => {
  const iso = resolve({
    uid: 1000,
    flags: {
      capsRetain: ['CAP_NET_BIND_SERVICE'], seccomp: { mode: 'retain', errno: 'ENOSYS', set: ['read', 'write', 'exit_group'] },
      noNewPrivileges: true, memory: '64Mi', cpu: '1.5', cpuShares: 512, oomScoreAdj: 500, readOnlyRootFS: true,
    },
    writableVolumes: ['/data', '/my logs'],
  });
  t.deepEqual(isolationDirectives(iso), [
    'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
    'AmbientCapabilities=CAP_NET_BIND_SERVICE',
    'NoNewPrivileges=yes',
    'SystemCallFilter=read write exit_group',
    'SystemCallErrorNumber=ENOSYS',
    'BindPaths=/proc:/proc',
    'ReadOnlyPaths=-+/sys -+/proc/sys/kernel/random/boot_id',
    'OOMScoreAdjust=500',
    'CPUShares=512',
    'CPUQuota=150%',
    'MemoryMax=67108864',
    'ReadOnlyPaths=+/',
    'ReadWritePaths=-+/data -+/my\\x20logs',
  ]);
});

test('the pod\'s stage1 protects /proc, /sys and /dev paths once, before the app starts; the app binds its /proc', (t) => {
  t.deepEqual(podProtection(resolve()), {
    readOnly: ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus'],
    inaccessible: ['/proc/kcore', '/proc/kmsg', '/sys/firmware', '/sys/fs/selinux', '/dev/net'],
  });
  t.is(podProtection(resolve({ insecure: new Set(['paths']) })), undefined);
  const spec = {
    name: 'web', imageName: 'example.com/web', exec: ['/bin/true'], uid: 0, gid: 0, supplementaryGids: [], workingDirectory: '/',
    environment: [], preStart: [], postStop: [], interactive: false,
  };
  const reaper = (insecure: string[]) => renderPodUnits([{ ...spec, isolation: resolve({ insecure: new Set(insecure) as Set<never> }) }]).get('reaper-web.service') ?? '';
  t.regex(reaper([]), /^ExecStart=\/rkt\/reaper --started web --read-only \/proc\/sys --read-only \/proc\/sysrq-trigger --read-only \/proc\/irq --read-only \/proc\/bus --inaccessible \/proc\/kcore --inaccessible \/proc\/kmsg --inaccessible \/sys\/firmware --inaccessible \/sys\/fs\/selinux --inaccessible \/dev\/net$/m);
  t.regex(reaper(['paths']), /^ExecStart=\/rkt\/reaper --started web$/m);
});

test('an empty retain set drops every capability (an empty CapabilityBoundingSet= is the empty set)', (t) => {
  t.deepEqual(isolationDirectives(resolve({ imageIsolators: [{ name: 'os/linux/capabilities-remove-set', value: { set: [...DEFAULT_APP_CAPABILITIES] } }] }))[0], 'CapabilityBoundingSet=');
});

test('--insecure-options=capabilities,seccomp,paths leaves the unit without isolation directives', (t) => {
  t.deepEqual(isolationDirectives(resolve({ insecure: new Set(['capabilities', 'seccomp', 'paths']) })), []);
});

test('capability masks are as /proc/self/status shows them', (t) => {
  t.is(capabilityMask(NSPAWN_DEFAULT_CAPABILITIES), '00000000fcecafff');
  t.is(capabilityMask(DEFAULT_APP_CAPABILITIES), '00000000a80425fb');
  t.is(capabilityMask([]), '0000000000000000');
  t.is(LINUX_CAPABILITIES.indexOf('CAP_CHECKPOINT_RESTORE'), 40);
});

test('the pod gets the capabilities its apps need beyond nspawn\'s set', (t) => {
  t.deepEqual(extraPodCapabilities([resolve()]), []);
  t.deepEqual(extraPodCapabilities([
    resolve({ flags: { capsRetain: ['CAP_SYS_TIME', 'CAP_NET_ADMIN', 'CAP_CHOWN'] } }),
    resolve({ flags: { oomScoreAdj: -100 } }),
  ]), ['CAP_NET_ADMIN', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME']);
});

test('seccomp groups name only x86_64 system calls; errno names have numbers', (t) => {
  for (const s of [...RKT_DEFAULT_BLOCKLIST, ...DOCKER_DEFAULT_BLOCKLIST]) t.true(X86_64_SYSCALLS.includes(s), s);
  t.is(new Set(X86_64_SYSCALLS).size, X86_64_SYSCALLS.length);
  t.deepEqual(expandSeccompSet(['@appc.io/empty']), { syscalls: [] });
  t.deepEqual(expandSeccompSet(['getpid', 'read', 'read']), { syscalls: ['read', 'getpid'] });
  t.deepEqual(expandSeccompSet(['stime']), { unknown: 'stime' });
  t.is(ERRNO_NUMBERS['EPERM'], 1);
  t.is(ERRNO_NUMBERS['ENOTSUP'], 95);
  t.is(ERRNO_NUMBERS['EHWPOISON'], 133);
});

const HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
const haveHeader = existsSync(HEADER);
(haveHeader ? test : test.skip)(`the syscall list holds every name of the installed x86_64 kernel headers, in order${haveHeader ? '' : ` (skipped: no ${HEADER}, linux-libc-dev)`}`, (t) => {
  const names = [...readFileSync(HEADER, 'utf8').matchAll(/^#define __NR_([a-z0-9_]+)\s+\d+/gm)].map((m) => m[1]);
  t.true(names.length > 300);
  t.deepEqual(X86_64_SYSCALLS.slice(0, names.length), names);
});

test('an app unit carries its isolation directives in [Service], after its streams', (t) => {
  const unit = renderAppUnit({
    name: 'web', imageName: 'example.com/web', exec: ['/bin/true'], uid: 0, gid: 0, supplementaryGids: [], workingDirectory: '/',
    environment: [], preStart: [], postStop: [], interactive: false, isolation: resolve({ flags: { readOnlyRootFS: true } }),
  });
  const lines = unit.split('\n');
  const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
  t.true(at('[Service]') < at('CapabilityBoundingSet='));
  t.true(at('StandardError=') < at('CapabilityBoundingSet='));
  t.true(at('ReadOnlyPaths=+/') < at('SyslogIdentifier='));
  t.is(lines.filter((l) => l.startsWith('SystemCallFilter=~')).length, 1);
});
