// The fly stage1's refusals and layout (src/stage0/fly-pod.ts): pure checks on the plan and the pod manifest,
// the systemd layout's steps without the stage1 tree, and fly.json read back.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { validatePodManifest } from '../../../src/image/pod-manifest.js';
import { checkFlyManifest, checkFlyPlan, flyFileText, flyLayoutSteps, readFlySpec, validateFlySpec, type FlyPlanFacts } from '../../../src/stage0/fly-pod.js';
import type { LayoutStep } from '../../../src/stage0/pod-layout.js';

const ok: FlyPlanFacts = { apps: 1, net: ['default'], netDefaulted: true, ports: 0, dnsOrHosts: false, privateUsers: false, mdsRegister: false, scope: false };
const IMAGE = 'sha512-' + 'a'.repeat(128);

function refusal(f: () => void): RktError {
  const err = t0(f);
  if (!(err instanceof RktError)) throw new Error('not an RktError');
  return err;
}
function t0(f: () => void): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

test('plan: one app on the implied network passes; --net=host given passes', (t) => {
  t.notThrows(() => checkFlyPlan(ok));
  t.notThrows(() => checkFlyPlan({ ...ok, net: ['host'], netDefaulted: false }));
});

test('plan: each refusal is EFLY, exit 2, naming what', (t) => {
  const cases: [Partial<FlyPlanFacts>, RegExp][] = [
    [{ apps: 3 }, /^the fly stage1 runs one app per pod; this pod has 3$/],
    [{ net: ['default'], netDefaulted: false }, /--net=default cannot be given/],
    [{ net: ['host', 'default'], netDefaulted: false }, /--net=host,default cannot be given/],
    [{ net: ['none'], netDefaulted: false }, /--net=none cannot be given/],
    [{ ports: 1 }, /--port/],
    [{ dnsOrHosts: true }, /--dns, --dns-search, --dns-opt, --dns-domain and --hosts-entry/],
    [{ privateUsers: true }, /--private-users/],
    [{ mdsRegister: true }, /--mds-register/],
    [{ scope: true }, /--slice, --memory and --cpu/],
  ];
  for (const [over, message] of cases) {
    const err = refusal(() => checkFlyPlan({ ...ok, ...over }));
    t.is(err.code, 'EFLY');
    t.is(err.exitCode, 2);
    t.regex(err.message, message);
  }
});

const manifest = (isolators: unknown[], more: Record<string, unknown> = {}, apps = 1) => validatePodManifest({
  acVersion: '0.8.11', acKind: 'PodManifest',
  apps: Array.from({ length: apps }, (_, i) => ({ name: `app${i}`, image: { id: IMAGE }, app: { exec: ['/bin/x'], user: '0', group: '0', isolators }, ...more })),
});

test('manifest: no-new-privileges, oom-score-adj and a read-only root pass; any other isolator is refused by name', (t) => {
  t.notThrows(() => checkFlyManifest(manifest([{ name: 'os/linux/no-new-privileges', value: true }, { name: 'os/linux/oom-score-adj', value: 100 }])));
  const caps = refusal(() => checkFlyManifest(manifest([{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_ADMIN'] } }, { name: 'resource/memory', value: { limit: '1G' } }])));
  t.is(caps.code, 'EFLY');
  t.is(caps.exitCode, 254);
  t.regex(caps.message, /^app app0: the fly stage1 cannot apply the isolators os\/linux\/capabilities-retain-set, resource\/memory /);
  t.regex(refusal(() => checkFlyManifest(manifest([{ name: 'example.com/unknown', value: {} }]))).message, /isolator example.com\/unknown/);
  t.notThrows(() => checkFlyManifest(manifest([], { readOnlyRootFS: true })), 'a read-only root is applied');
  t.regex(refusal(() => checkFlyManifest(manifest([], {}, 2))).message, /this pod has 2$/);
});

test('layout: the stage1 tree\'s steps go (its copy, upper/work, users, units); the app\'s root dir and everything else stay', (t) => {
  const pod = '/p';
  const steps: LayoutStep[] = [
    { op: 'mkdir', path: '/p/stage1/rootfs' }, { op: 'mkdir', path: '/p/stage1/upper' }, { op: 'mkdir', path: '/p/stage1/work' },
    { op: 'remove', path: '/p/stage1/rootfs' }, { op: 'copyTree', from: '/store/s1', to: '/p/stage1/rootfs' },
    { op: 'mkdir', path: '/p/status' },
    { op: 'mkdir', path: '/p/stage1/upper/opt/stage2/web/rootfs' },
    { op: 'copyTree', from: '/store/img', to: '/p/stage1/rootfs/opt/stage2/web/rootfs' },
    { op: 'mkdir', path: '/p/overlay/web/upper' },
    { op: 'write', path: '/p/overlay/web/upper/etc/hostname', content: 'x\n', mode: 0o644 },
    { op: 'write', path: '/p/stage1/upper/etc/passwd', content: '', mode: 0o644 },
    { op: 'write', path: '/p/stage1/upper/etc/systemd/system/web.service', content: '', mode: 0o644 },
    { op: 'writeAtomic', path: '/p/options.json', content: '{}', mode: 0o644 },
  ];
  t.deepEqual(flyLayoutSteps(steps, pod, 'web').map((s) => `${s.op} ${'to' in s ? s.to : s.path}`), [
    'mkdir /p/stage1/rootfs/opt/stage2/web/rootfs',
    'mkdir /p/status',
    'copyTree /p/stage1/rootfs/opt/stage2/web/rootfs',
    'mkdir /p/overlay/web/upper',
    'write /p/overlay/web/upper/etc/hostname',
    'writeAtomic /p/options.json',
  ]);
});

test('fly.json: written, read back, and a corrupt one is EPODCORRUPT naming the field', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rkt-fly-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.is(await readFlySpec(dir), undefined, 'no fly.json: not a fly pod');
  const spec = {
    app: 'web', exec: ['/bin/web'], uid: 0, gid: 0, supplementaryGids: [], workingDirectory: '/', environment: [['A', 'b']] as [string, string][],
    preStart: [], postStop: [['/bin/p']], noNewPrivileges: false,
  };
  writeFileSync(path.join(dir, 'fly.json'), flyFileText(spec));
  t.deepEqual(await readFlySpec(dir), spec);
  const err = t.throws(() => validateFlySpec({ ...spec, uid: -1 }, 'f'));
  t.is((err as RktError).code, 'EPODCORRUPT');
  t.regex((err as RktError).message, /"uid" is not an id/);
  t.throws(() => validateFlySpec({ ...spec, exec: [] }, 'f'), { message: /"exec"/ });
  t.throws(() => validateFlySpec({ ...spec, environment: [['A']] }, 'f'), { message: /"environment"/ });
  writeFileSync(path.join(dir, 'fly.json'), '{');
  await t.throwsAsync(readFlySpec(dir), { message: /fly.json is corrupt/ });
});
