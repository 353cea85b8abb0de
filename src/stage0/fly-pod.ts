/**
 * Pods of the fly stage1 (Documentation/stage1.md, "The fly stage1"): one app, exec'd on the host by the fly
 * `run` entrypoint in a private mount namespace, on the host's network, with no systemd, nspawn, unit, cgroup
 * or machine of its own. This module holds what prepare needs: the refusals (what a fly pod cannot be, decided
 * before any pod exists), the layout (the systemd layout's plan without its stage1 tree, units and launcher),
 * and the app's resolved spec saved beside the pod manifest (`fly.json`), which the launch reads.
 */
import path from 'node:path';
import { RktError } from '../common/errors.js';
import type { GlobalOptions } from '../common/options.js';
import type { PodManifest } from '../image/pod-manifest.js';
import * as layout from '../pod/layout.js';
import { readPodJson } from '../pod/pods.js';
import type { Store } from '../store/store.js';
import type { FlyAppSpec } from '../stage1/fly.js';
import { ociImageRoot } from '../store/oci-lowers.js';
import { applyLayout, planPodLayout, type LayoutStep } from './pod-layout.js';
import { overlaySupported, type PodOptions, type PodRequest } from './prepare.js';
import type { Stage1 } from './stage1-image.js';

/** The resolved app of a fly pod, written at prepare time beside the pod manifest. */
export const FLY_FILE = 'fly.json';

/** What of a pod's plan the fly stage1 has to refuse: the flags as the user gave them. */
export interface FlyPlanFacts {
  /** The apps on the command line (0 with --pod-manifest: counted on the manifest). */
  readonly apps: number;
  /** `--net` values; `netDefaulted`: none was given (rkt's default then is `default`, fly's is `host`). */
  readonly net: readonly string[];
  readonly netDefaulted: boolean;
  readonly ports: number;
  readonly dnsOrHosts: boolean;
  readonly privateUsers: boolean;
  readonly mdsRegister: boolean;
  /** `--slice`, `--memory`, `--cpu` (rkt run's scope settings). */
  readonly scope: boolean;
}

const usage = (message: string, hint?: string) => new RktError('EFLY', message, { exitCode: 2, ...(hint !== undefined ? { hint } : {}) });

/**
 * Refuse, before any pod exists, what a fly pod cannot be (pure): several apps, a network other than the host's
 * (an explicit `--net=default` too: only the implied default becomes `host`), `--port`, DNS and hosts flags,
 * `--private-users`, `--mds-register`, rkt run's scope settings. Each is a usage error (exit 2).
 */
export function checkFlyPlan(f: FlyPlanFacts): void {
  if (f.apps > 1) throw new RktError('EFLY', `the fly stage1 runs one app per pod; this pod has ${f.apps}`, { exitCode: 2, hint: 'run each app in a pod of its own' });
  if (!f.netDefaulted && !(f.net.length === 1 && f.net[0] === 'host')) {
    throw usage(`the fly stage1 runs its app on the host's network: --net=${f.net.join(',')} cannot be given`, 'leave --net out, or give --net=host');
  }
  if (f.ports > 0) throw usage('the fly stage1 runs its app on the host\'s network: --port has nothing to forward', 'leave --port out');
  if (f.dnsOrHosts) throw usage('the fly stage1 uses the host\'s /etc/resolv.conf and /etc/hosts unless the image has its own: --dns, --dns-search, --dns-opt, --dns-domain and --hosts-entry cannot be given');
  if (f.privateUsers) throw usage('the fly stage1 runs its app in the host\'s user namespace: --private-users cannot be given');
  if (f.mdsRegister) throw usage('the fly stage1 does not register pods with the metadata service: --mds-register cannot be given');
  if (f.scope) throw usage('the fly stage1 makes no scope or cgroup of its own (the app stays in rkt\'s own): --slice, --memory and --cpu cannot be given');
}

/** Isolators the fly `run` entrypoint applies; any other is refused (EFLY), never ignored. */
const FLY_ISOLATORS = ['os/linux/no-new-privileges', 'os/linux/oom-score-adj'] as const;

/**
 * Refuse what a fly pod cannot run (pure), on the pod manifest: more than one app (`--pod-manifest`), an
 * isolator it cannot apply (by name: capabilities and seccomp sets, resources, anything but
 * no-new-privileges and oom-score-adj). (A read-only root is applied.)
 */
export function checkFlyManifest(m: PodManifest): void {
  if (m.apps.length !== 1) throw new RktError('EFLY', `the fly stage1 runs one app per pod; this pod has ${m.apps.length}`, { hint: 'run each app in a pod of its own' });
  const a = m.apps[0];
  if (a === undefined) return;
  const refused = [...new Set([...(a.app?.isolators ?? []), ...m.isolators].map((i) => i.name).filter((n) => !(FLY_ISOLATORS as readonly string[]).includes(n)))];
  if (refused.length > 0) {
    throw new RktError('EFLY', `app ${a.name}: the fly stage1 cannot apply the isolator${refused.length > 1 ? 's' : ''} ${refused.join(', ')} (it applies only ${FLY_ISOLATORS.join(' and ')})`, {
      hint: 'drop the flag (or use an image without those isolators), or run the pod with the systemd stage1',
    });
  }
}

/**
 * The fly pod's layout from the systemd layout's steps (pure): everything of the app (its overlay dirs, ACE
 * files, mount points, copied tree with --no-overlay), the status dir, volumes, options.json and the pod
 * manifest; none of the stage1 tree (its copy, upper/work dirs, users, units): the fly stage1 runs from the
 * store's tree. The app's root is a plain directory, `stage1/rootfs/opt/stage2/<app>/rootfs`, as in a
 * systemd pod, so export and gc find it in the same place.
 */
export function flyLayoutSteps(steps: readonly LayoutStep[], pod: string, app: string): LayoutStep[] {
  const s1 = path.join(pod, layout.STAGE1_DIR);
  const stage2 = path.join(s1, 'rootfs', 'opt', 'stage2') + path.sep;
  const under = (p: string, dir: string) => p === dir || p.startsWith(dir + path.sep);
  const kept = steps.filter((s) => {
    const p = 'to' in s ? s.to : s.path;
    return !under(p, s1) || p.startsWith(stage2);
  });
  return [{ op: 'mkdir', path: layout.appRootfs(pod, app) }, ...kept];
}

/** The pod's fly.json text. */
export function flyFileText(spec: FlyAppSpec): string {
  return `${JSON.stringify(spec, null, 1)}\n`;
}

/**
 * Lay out a fly pod in `pod` (its directory, locked by the caller) for the one app of `manifest` (checked by
 * checkFlyManifest), with the stage1 already resolved. Writes the layout and `fly.json`; returns the run options
 * and the spec written (rkt run launches with it, without reading it back).
 */
export async function layOutFlyPod(store: Store, globals: GlobalOptions, pod: string, uuid: string, manifest: PodManifest, given: PodRequest,
  stage1: Stage1, note?: (m: string) => void): Promise<{ options: PodOptions; spec: FlyAppSpec }> {
  let noOverlay = given.noOverlay;
  if (!noOverlay && !(await overlaySupported())) {
    note?.('rkt: overlayfs is not available on this host: copying the image\'s tree into the pod instead (as --no-overlay)');
    noOverlay = true;
  }
  const hostname = given.hostname ?? `rkt-${uuid}`;
  const options: PodOptions = {
    hostname, net: 'host', interactive: given.interactive, noOverlay, stage1Id: stage1.record.id,
    stage1Run: stage1.entrypoints.run, stage1Stop: stage1.entrypoints.stop, stage1Enter: stage1.entrypoints.enter,
  };
  const plan = await planPodLayout({
    pod, manifest, treeOf: (id) => store.layout.tree(id), layeredRootOf: (id) => ociImageRoot(store.layout, id), stage1Id: stage1.record.id,
    hostname, net: 'host', interactive: given.interactive, noOverlay, journal: false,
    // Recorded for readers of options.json (validatePodOptions keeps only what the launch of a systemd pod reads).
    options: { ...options, stage1Flavor: 'fly' },
    insecure: globals.insecure, cgroupV2: false,
    // the volumes buildPodManifest made for unsatisfied mount points, said on stderr as for any pod
    implicitVolumes: new Set(manifest.volumes.filter((v) => !given.volumes.some((g) => g.name === v.name)).map((v) => v.name)),
  });
  for (const n of plan.notes) note?.(`rkt: ${n}`);
  const app = plan.apps[0];
  const entry = manifest.apps[0];
  if (app === undefined || entry === undefined || plan.apps.length !== 1) throw new Error('bug: a fly pod is laid out for exactly one app');
  const isolators = [...(entry.app?.isolators ?? []), ...manifest.isolators];
  const nnp = isolators.find((i) => i.name === 'os/linux/no-new-privileges')?.value;
  const oom = isolators.find((i) => i.name === 'os/linux/oom-score-adj')?.value;
  const spec: FlyAppSpec = {
    app: app.name, exec: app.exec, uid: app.uid, gid: app.gid, supplementaryGids: app.supplementaryGids,
    workingDirectory: app.workingDirectory, environment: app.environment, preStart: app.preStart, postStop: app.postStop,
    noNewPrivileges: nnp === true, ...(typeof oom === 'number' ? { oomScoreAdjust: oom } : {}),
    ...(entry.readOnlyRootFS === true ? { readOnlyRootFS: true } : {}),
  };
  await applyLayout([
    ...flyLayoutSteps(plan.steps, pod, app.name),
    { op: 'writeAtomic', path: path.join(pod, FLY_FILE), content: flyFileText(spec), mode: 0o644 },
  ], given.ephemeral !== true);
  return { options, spec };
}

const isIntArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x));
const isArgv = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');

/** Check a fly.json value: every field present with its type (it is read back from disk). */
export function validateFlySpec(v: unknown, file: string): FlyAppSpec {
  const bad = (what: string) => new RktError('EPODCORRUPT', `${file} is corrupt: ${what}`, { hint: 'remove the pod (rkt rm) and prepare it again' });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o['app'] !== 'string' || o['app'] === '') throw bad('"app" is not a name');
  if (!isArgv(o['exec'])) throw bad('"exec" is not a command line');
  for (const k of ['uid', 'gid'] as const) if (!Number.isInteger(o[k]) || (o[k] as number) < 0) throw bad(`"${k}" is not an id`);
  if (!isIntArray(o['supplementaryGids'])) throw bad('"supplementaryGids" is not a list of ids');
  if (typeof o['workingDirectory'] !== 'string' || !o['workingDirectory'].startsWith('/')) throw bad('"workingDirectory" is not an absolute path');
  const env = o['environment'];
  if (!Array.isArray(env) || !env.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string')) throw bad('"environment" is not a list of [name, value]');
  for (const k of ['preStart', 'postStop'] as const) {
    const h = o[k];
    if (!Array.isArray(h) || !h.every(isArgv)) throw bad(`"${k}" is not a list of command lines`);
  }
  if (typeof o['noNewPrivileges'] !== 'boolean') throw bad('"noNewPrivileges" is not a boolean');
  if (o['oomScoreAdjust'] !== undefined && !Number.isInteger(o['oomScoreAdjust'])) throw bad('"oomScoreAdjust" is not an integer');
  if (o['readOnlyRootFS'] !== undefined && typeof o['readOnlyRootFS'] !== 'boolean') throw bad('"readOnlyRootFS" is not a boolean');
  return o as unknown as FlyAppSpec;
}

/** A pod's fly spec, or undefined for a pod of another stage1 (no fly.json). */
export async function readFlySpec(pod: string): Promise<FlyAppSpec | undefined> {
  const file = path.join(pod, FLY_FILE);
  const value = await readPodJson(file, true);
  return value === undefined ? undefined : validateFlySpec(value, file);
}
