import test from 'ava';
import { RktError, UsageError } from '../../../src/common/errors.js';
import type { InsecureCheck } from '../../../src/common/options.js';
import type { Isolator } from '../../../src/image/isolators.js';
import {
  appEntryIsolators,
  capabilitiesOfMask,
  parseCapsFlag,
  parseIsolationFlags,
  podCapabilities,
  unavailableCapabilityNotes,
  parseCpuFlag,
  parseCpuSharesFlag,
  parseMemoryFlag,
  parseOomScoreAdjFlag,
  parseSeccompFlag,
  resolveAppIsolation,
  unenforcedResourcesNote,
  type IsolationInput,
} from '../../../src/stage0/isolation.js';
import { RKT_DEFAULT_BLOCKLIST } from '../../../src/stage1/seccomp.js';

const none: ReadonlySet<InsecureCheck> = new Set();
const input = (over: Partial<IsolationInput> = {}): IsolationInput => ({
  app: 'web', uid: 0, imageIsolators: [], appIsolators: [], insecure: none, ...over,
});

const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SYS_CHROOT', 'CAP_MKNOD', 'CAP_AUDIT_WRITE', 'CAP_SETFCAP',
];

test('with no isolators an app gets rkt\'s default capabilities and seccomp blocklist, protected paths and the ACE devices', (t) => {
  const iso = resolveAppIsolation(input());
  t.deepEqual(iso.capabilities, DEFAULT_CAPS);
  t.deepEqual(iso.ambientCapabilities, []);
  t.is(iso.seccomp?.mode, 'remove');
  t.is(iso.seccomp?.errno, 'EPERM');
  t.deepEqual([...(iso.seccomp?.syscalls ?? [])].sort(), [...RKT_DEFAULT_BLOCKLIST].sort());
  t.false(iso.noNewPrivileges);
  t.true(iso.protectedPaths);
  t.is(iso.devices, 'ace');
  t.deepEqual(iso.resources, {});
  t.false(iso.readOnlyRootFS);
  t.deepEqual(iso.notes, []);
});

test('a retain set replaces the defaults; a non-root app holds it as ambient capabilities', (t) => {
  const imageIsolators: Isolator[] = [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE', 'CAP_CHOWN'] } }];
  t.deepEqual(resolveAppIsolation(input({ imageIsolators })).capabilities, ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE']);
  t.deepEqual(resolveAppIsolation(input({ imageIsolators })).ambientCapabilities, []);
  t.deepEqual(resolveAppIsolation(input({ imageIsolators, uid: 1000 })).ambientCapabilities, ['CAP_CHOWN', 'CAP_NET_BIND_SERVICE']);
  // The defaults are never ambient: a non-root app without a retain set holds no capability.
  t.deepEqual(resolveAppIsolation(input({ uid: 1000 })).ambientCapabilities, []);
});

test('a remove set takes capabilities out of the defaults', (t) => {
  const iso = resolveAppIsolation(input({ imageIsolators: [{ name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_MKNOD', 'CAP_NET_RAW'] } }] }));
  t.deepEqual(iso.capabilities, DEFAULT_CAPS.filter((c) => c !== 'CAP_MKNOD' && c !== 'CAP_NET_RAW'));
});

test('the app entry wins over the image per isolator, and a flag wins over both', (t) => {
  const imageIsolators: Isolator[] = [
    { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_CHOWN'] } },
    { name: 'os/linux/oom-score-adj', value: 100 },
    { name: 'os/linux/no-new-privileges', value: true },
  ];
  const appIsolators: Isolator[] = [
    { name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_KILL'] } },
    { name: 'os/linux/oom-score-adj', value: 200 },
  ];
  const entry = resolveAppIsolation(input({ imageIsolators, appIsolators }));
  t.deepEqual(entry.capabilities, DEFAULT_CAPS.filter((c) => c !== 'CAP_KILL'));
  t.is(entry.resources.oomScoreAdjust, 200);
  t.true(entry.noNewPrivileges);
  const flagged = resolveAppIsolation(input({ imageIsolators, appIsolators, flags: { capsRetain: ['CAP_SYS_TIME'], oomScoreAdj: -5, noNewPrivileges: false } }));
  t.deepEqual(flagged.capabilities, ['CAP_SYS_TIME']);
  t.is(flagged.resources.oomScoreAdjust, -5);
  t.false(flagged.noNewPrivileges);
});

test('flags become the app entry\'s isolators, replacing the image\'s of the same kind', (t) => {
  const image: Isolator[] = [
    { name: 'os/linux/seccomp-remove-set', value: { set: ['ptrace'] } },
    { name: 'example.com/custom', value: 1 },
  ];
  t.deepEqual(appEntryIsolators(image, { seccomp: { mode: 'retain', errno: 'ENOSYS', set: ['@appc.io/all'] }, memory: '1G' }), [
    { name: 'example.com/custom', value: 1 },
    { name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'], errno: 'ENOSYS' } },
    { name: 'resource/memory', value: { limit: '1G' } },
  ]);
  t.throws(() => appEntryIsolators([], { capsRetain: ['CAP_CHOWN'], capsRemove: ['CAP_KILL'] }), { instanceOf: UsageError, message: /--caps-retain and --caps-remove/ });
});

test('a seccomp set expands its groups and takes its errno', (t) => {
  const iso = resolveAppIsolation(input({ flags: { seccomp: { mode: 'remove', errno: 'ENOTSUP', set: ['@docker/default-blacklist', 'chmod'] } } }));
  t.is(iso.seccomp?.mode, 'remove');
  t.is(iso.seccomp?.errno, 'ENOTSUP');
  t.true(iso.seccomp?.syscalls.includes('chmod'));
  t.true(iso.seccomp?.syscalls.includes('personality'));
  t.true(iso.seccomp?.syscalls.includes('ptrace'));
  const all = resolveAppIsolation(input({ imageIsolators: [{ name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } }] }));
  t.is(all.seccomp?.mode, 'retain');
  t.true((all.seccomp?.syscalls.length ?? 0) > 350);
  t.is(all.seccomp?.errno, 'EPERM');
});

test('both sets of one kind, or an unknown capability, syscall, group or errno, is an error naming it', (t) => {
  const both = (a: Isolator, b: Isolator) => () => resolveAppIsolation(input({ imageIsolators: [a, b] }));
  t.throws(both({ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_CHOWN'] } }, { name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_KILL'] } }),
    { instanceOf: RktError, message: 'app web: os/linux/capabilities-retain-set cannot be combined with os/linux/capabilities-remove-set' });
  t.throws(both({ name: 'os/linux/seccomp-retain-set', value: { set: ['read'] } }, { name: 'os/linux/seccomp-remove-set', value: { set: ['ptrace'] } }),
    { instanceOf: RktError, message: /seccomp-retain-set cannot be combined/ });
  const one = (i: Isolator) => () => resolveAppIsolation(input({ imageIsolators: [i] }));
  t.throws(one({ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_FLY'] } }), { message: 'app web: unknown capability "CAP_FLY"' });
  t.throws(one({ name: 'os/linux/seccomp-remove-set', value: { set: ['fly'] } }), { message: 'app web: unknown syscall "fly" (not an x86_64 system call)' });
  t.throws(one({ name: 'os/linux/seccomp-remove-set', value: { set: ['@rkt/fly'] } }), { message: 'app web: unknown seccomp group "@rkt/fly"' });
  t.throws(one({ name: 'os/linux/seccomp-remove-set', value: { set: ['ptrace'], errno: 'EFLY' } }), { message: 'app web: unknown errno "EFLY"' });
  const err = t.throws(one({ name: 'os/linux/seccomp-remove-set', value: { set: ['fly'] } }));
  t.is((err as RktError).exitCode, 254);
});

test('--insecure-options lifts exactly capabilities, seccomp or paths, and says when it overrides an isolator', (t) => {
  const caps = resolveAppIsolation(input({ insecure: new Set(['capabilities']), flags: { capsRetain: ['CAP_CHOWN'] } }));
  t.is(caps.capabilities, undefined);
  t.truthy(caps.seccomp);
  t.true(caps.protectedPaths);
  t.deepEqual(caps.notes, ['app web: capability isolator ignored (--insecure-options=capabilities)']);
  const sec = resolveAppIsolation(input({ insecure: new Set(['seccomp']) }));
  t.is(sec.seccomp, undefined);
  t.deepEqual(sec.capabilities, DEFAULT_CAPS);
  t.deepEqual(sec.notes, []);
  const paths = resolveAppIsolation(input({ insecure: new Set(['paths']) }));
  t.false(paths.protectedPaths);
  t.is(paths.devices, 'unrestricted');
  t.truthy(paths.seccomp);
});

test('resources: memory in bytes, cpu as a percent quota, shares and OOM score as given', (t) => {
  const iso = resolveAppIsolation(input({
    imageIsolators: [
      { name: 'resource/memory', value: { limit: '1Gi' } },
      { name: 'resource/cpu', value: { request: '100m', limit: '500m' } },
      { name: 'os/linux/cpu-shares', value: 512 },
    ],
    flags: { oomScoreAdj: 300, memory: '100M' },
  }));
  t.deepEqual(iso.resources, { memoryMax: 100_000_000, cpuQuotaPercent: 50, cpuShares: 512, oomScoreAdjust: 300 });
  t.is(unenforcedResourcesNote([{ app: 'web', isolation: iso }], false),
    'resource limits of app web are written into the app units, but this host\'s cgroup v1 setup cannot enforce them inside the pod');
  t.is(unenforcedResourcesNote([{ app: 'web', isolation: iso }], true), undefined);
  t.is(unenforcedResourcesNote([{ app: 'web', isolation: resolveAppIsolation(input()) }], false), undefined);
});

test('unknown isolators and the block and network resources are noted as not supported', (t) => {
  const iso = resolveAppIsolation(input({
    imageIsolators: [
      { name: 'example.com/turbo', value: true },
      { name: 'resource/block-bandwidth', value: { default: true, limit: '1M' } },
      { name: 'resource/network-bandwidth', value: { default: true, limit: '1M' } },
    ],
  }));
  t.deepEqual(iso.notes, [
    'app web: isolator example.com/turbo is not supported, ignoring',
    'app web: isolator resource/block-bandwidth is not supported, ignoring',
    'app web: isolator resource/network-bandwidth is not supported, ignoring',
  ]);
});

test('a read-only root keeps the writable volumes writable; the flag wins over the manifest field', (t) => {
  const iso = resolveAppIsolation(input({ readOnlyRootFS: true, writableVolumes: ['/data'] }));
  t.true(iso.readOnlyRootFS);
  t.deepEqual(iso.writablePaths, ['/data']);
  t.false(resolveAppIsolation(input({ readOnlyRootFS: true, flags: { readOnlyRootFS: false } })).readOnlyRootFS);
  t.true(resolveAppIsolation(input({ flags: { readOnlyRootFS: true } })).readOnlyRootFS);
  t.deepEqual(resolveAppIsolation(input({ writableVolumes: ['/data'] })).writablePaths, []);
});

test('flag parsers: capabilities', (t) => {
  t.deepEqual(parseCapsFlag('--caps-retain', 'CAP_NET_ADMIN,sys_time'), ['CAP_NET_ADMIN', 'CAP_SYS_TIME']);
  t.throws(() => parseCapsFlag('--caps-retain', 'CAP_NET_ADMIN,CAP_FLY'), { instanceOf: UsageError, message: 'bad --caps-retain value: unknown capability "CAP_FLY"' });
  t.throws(() => parseCapsFlag('--caps-remove', ''), { instanceOf: UsageError });
});

test('flag parsers: --seccomp', (t) => {
  t.deepEqual(parseSeccompFlag('mode=remove,errno=ENOTSUP,chmod,@rkt/default-blacklist'), { mode: 'remove', errno: 'ENOTSUP', set: ['chmod', '@rkt/default-blacklist'] });
  t.deepEqual(parseSeccompFlag('mode=retain,@appc.io/all'), { mode: 'retain', set: ['@appc.io/all'] });
  t.throws(() => parseSeccompFlag('chmod'), { instanceOf: UsageError, message: /no mode=retain or mode=remove/ });
  t.throws(() => parseSeccompFlag('mode=keep,chmod'), { message: /mode "keep" is neither retain nor remove/ });
  t.throws(() => parseSeccompFlag('mode=remove,errno=EFLY,chmod'), { message: /unknown errno "EFLY"/ });
  t.throws(() => parseSeccompFlag('mode=remove,flyaway'), { message: /unknown syscall "flyaway"/ });
  t.throws(() => parseSeccompFlag('mode=remove,@fly/away'), { message: /unknown seccomp group "@fly\/away"/ });
  t.throws(() => parseSeccompFlag('mode=remove'), { message: /no syscall or @group/ });
});

test('flag parsers: resources', (t) => {
  t.is(parseMemoryFlag('512M'), '512M');
  t.is(parseCpuFlag('500m'), '500m');
  t.is(parseCpuSharesFlag('1024'), 1024);
  t.is(parseOomScoreAdjFlag('-1000'), -1000);
  t.throws(() => parseMemoryFlag('lots'), { instanceOf: UsageError, message: /bad --memory value "lots"/ });
  t.throws(() => parseCpuFlag('0'), { instanceOf: UsageError });
  t.throws(() => parseCpuSharesFlag('1'), { message: 'bad --cpu-shares value "1": want an integer from 2 to 262144' });
  t.throws(() => parseOomScoreAdjFlag('1001'), { instanceOf: UsageError });
  t.throws(() => parseOomScoreAdjFlag('1.5'), { instanceOf: UsageError });
});

test('the isolation flags as the command line gives them, parsed; both capability sets is a usage error', (t) => {
  t.deepEqual(parseIsolationFlags({
    'caps-retain': 'net_bind_service', seccomp: 'mode=remove,ptrace', 'no-new-privileges': true, memory: '1G', cpu: '2',
    'cpu-shares': '100', 'oom-score-adj': '-1', 'readonly-rootfs': false,
  }), {
    capsRetain: ['CAP_NET_BIND_SERVICE'], seccomp: { mode: 'remove', set: ['ptrace'] }, noNewPrivileges: true, memory: '1G', cpu: '2',
    cpuShares: 100, oomScoreAdj: -1, readOnlyRootFS: false,
  });
  t.deepEqual(parseIsolationFlags({}), {});
  t.throws(() => parseIsolationFlags({ 'caps-retain': 'CAP_CHOWN', 'caps-remove': 'CAP_KILL' }), { instanceOf: UsageError });
});

test('what the host withholds is noted: capabilities rkt lacks, a lowered OOM score without CAP_SYS_RESOURCE', (t) => {
  const host = capabilitiesOfMask('00000000fcecafff');
  t.true(host.has('CAP_SYS_ADMIN'));
  t.false(host.has('CAP_SYS_RESOURCE'));
  const isolation = resolveAppIsolation(input({ flags: { capsRetain: ['CAP_SYS_TIME', 'CAP_CHOWN', 'CAP_SYS_MODULE'], oomScoreAdj: -10 } }));
  t.deepEqual(unavailableCapabilityNotes([{ app: 'web', isolation }], host), [
    'app web: CAP_SYS_MODULE, CAP_SYS_TIME cannot be given: rkt itself does not hold them on this host',
    'app web: oom-score-adj -10 cannot be applied: lowering an OOM score needs CAP_SYS_RESOURCE, which rkt does not hold on this host',
  ]);
  t.deepEqual(unavailableCapabilityNotes([{ app: 'web', isolation: resolveAppIsolation(input()) }], host), []);
});

test('the pod\'s extra capabilities come from its app entries', (t) => {
  t.deepEqual(podCapabilities([
    { name: 'a', isolators: [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_ADMIN'] } }] },
    { name: 'b', isolators: [] },
  ], none), ['CAP_NET_ADMIN']);
});
