/**
 * Turning `rkt run`/`rkt prepare` arguments into a prepared pod: images fetched, the pod manifest resolved
 * and written, the stage1 tree laid out with one systemd unit per app. Nothing runs yet.
 */
import { accessSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { isErrno, RktError } from '../common/errors.js';
import { fromStore } from '../fetch/source.js';
import type { GlobalOptions } from '../common/options.js';
import { isAcName } from '../image/names.js';
import type { App, ImageManifest } from '../image/manifest.js';
import { parseImageManifest } from '../image/manifest.js';
import { serializePodManifest, validatePodManifest, type Mount, type PodManifest, type RuntimeApp, type Volume } from '../image/pod-manifest.js';
import type { Store } from '../store/store.js';
import { touchRecord, type ImageRecord } from '../store/records.js';
import type { PullPolicy } from '../fetch/pull-policy.js';
import { aceEnvironment } from './app-setup.js';
import { appEntryIsolators, capabilitiesOfMask, resolveAppIsolation, type IsolationFlags } from './isolation.js';
import type { NetworkPlan } from '../net/networks.js';
import { applyLayout, OPTIONS_FILE, planPodLayout } from './pod-layout.js';
import { implicitVolume, implicitVolumeName } from './volumes.js';
import type { IdShift } from '../stage1/launch.js';
import { ociImageRoot } from '../store/oci-lowers.js';
import { resolveStage1, type Stage1, type Stage1Choice } from './stage1-image.js';

export interface AppRequest {
  readonly image: string;
  readonly exec?: string;
  readonly name?: string;
  readonly user?: string;
  readonly group?: string;
  readonly workingDir?: string;
  readonly environment: readonly (readonly [string, string])[];
  readonly mounts: readonly Mount[];
  readonly args: readonly string[];
  /** `--caps-retain`, `--seccomp`, `--readonly-rootfs`, …: written into the app entry (they win over the image's). */
  readonly isolation?: IsolationFlags;
}

export interface PodRequest {
  readonly apps: readonly AppRequest[];
  readonly volumes: readonly Volume[];
  /** Mounts given before the first image: for every app. */
  readonly podMounts: readonly Mount[];
  readonly setEnv: readonly (readonly [string, string])[];
  readonly setEnvFile: readonly (readonly [string, string])[];
  readonly inheritEnv: boolean;
  readonly hostname?: string;
  /** `pod`: networks of its own (src/net), planned in `netPlan`. */
  readonly net: 'host' | 'none' | 'pod';
  readonly netPlan?: NetworkPlan;
  readonly interactive: boolean;
  readonly noOverlay: boolean;
  /** `--private-users`: the pod in a user namespace of its own (its IDs shifted on the host). */
  readonly privateUsers?: boolean;
  /** Log the apps' output to the pod's journal too (where the host has systemd to read it). */
  readonly journal?: boolean;
  readonly pullPolicy: PullPolicy;
  readonly stage1: Stage1Choice;
  /** A pod manifest given whole (--pod-manifest): apps and volumes come from it. */
  readonly podManifest?: PodManifest;
  /** `--mds-register`: every app's AC_METADATA_URL. */
  readonly metadataUrl?: string;
  /** Every app's /etc/resolv.conf: this text, or `null` to write none (`--dns`; src/net/dns.ts). */
  readonly resolvConf?: string | null;
  /** Every app's /etc/hosts: this text (`--hosts-entry`). */
  readonly hosts?: string;
  /**
   * The pod's own files (manifest, options) written without fsync: the pod of a foreground `rkt run`, which
   * does not outlive the machine (src/pod/README.md, "What is fsynced"). A pod prepared to be run later is durable.
   */
  readonly ephemeral?: boolean;
}

/** Run-time choices kept beside the pod manifest, for run-prepared. */
export interface PodOptions {
  readonly hostname: string;
  readonly net: 'host' | 'none' | 'pod';
  /** With `net: 'pod'`: the networks to set up when the pod runs (plain JSON, see src/net). */
  readonly netPlan?: NetworkPlan;
  /**
   * With `net: 'pod'` and no `--dns` flag: each app whose image has no /etc/resolv.conf gets the name servers
   * the CNI results carry, written when the pod runs (the results exist only then).
   */
  readonly cniDns?: boolean;
  readonly interactive: boolean;
  readonly noOverlay: boolean;
  /** `--private-users`: the pod's UID/GID mapping (its 0 is `base` on the host), chosen at prepare time. */
  readonly privateUsers?: IdShift;
  readonly stage1Id: string;
  readonly stage1Run: string;
  readonly stage1Stop: string;
  readonly stage1Enter: string;
}

export { OPTIONS_FILE };

/** The default app name: the image name's last path element (`example.com/busybox` → `busybox`). */
export function defaultAppName(imageName: string): string {
  return imageName.split('/').pop() ?? imageName;
}

/** The app an image runs, after --exec, -- args, --user, --group and --working-dir. */
export function effectiveApp(image: ImageManifest, req: AppRequest, env: readonly (readonly [string, string])[]): App {
  const base: App | undefined = image.app;
  if (base === undefined && req.exec === undefined) {
    throw new RktError('EAPP', `image ${image.name} has no app to run`, { hint: 'give one with --exec after the image' });
  }
  const baseExec = base?.exec ?? [];
  const exec = req.exec !== undefined
    ? [req.exec, ...req.args]
    : [...baseExec.slice(0, 1), ...(req.args.length > 0 ? req.args : baseExec.slice(1))];
  if (exec.length === 0) throw new RktError('EAPP', `image ${image.name} has no exec`, { hint: 'give one with --exec after the image' });
  return {
    exec,
    user: req.user ?? base?.user ?? '0',
    group: req.group ?? base?.group ?? '0',
    supplementaryGIDs: base?.supplementaryGIDs ?? [],
    eventHandlers: base?.eventHandlers ?? [],
    ...(req.workingDir ?? base?.workingDirectory ? { workingDirectory: req.workingDir ?? base?.workingDirectory } : {}),
    environment: env.map(([name, value]) => ({ name, value })),
    isolators: appEntryIsolators(base?.isolators ?? [], req.isolation ?? {}),
    mountPoints: base?.mountPoints ?? [],
    ports: base?.ports ?? [],
  };
}

/**
 * The app's mounts: its own and the pod-wide ones, plus one for each mount point the image declares that a
 * volume of the same name satisfies. A mount point no volume satisfies gets an implicit empty volume of its own
 * (volumes.ts), appended to `implicit` (rkt 1.x did the same). A mount of an unknown volume is an error.
 */
export function resolveMounts(appName: string, image: ImageManifest, app: App, mounts: readonly Mount[], volumes: readonly Volume[], implicit: Volume[] = []): Mount[] {
  const out = [...mounts];
  for (const m of out) {
    if (!volumes.some((v) => v.name === m.volume)) {
      throw new RktError('EVOLUME', `app ${appName}: mount of unknown volume "${m.volume}"`, { hint: `add --volume ${m.volume},kind=host,source=/path (or kind=empty)` });
    }
  }
  for (const mp of app.mountPoints) {
    if (out.some((m) => m.path === mp.path || m.volume === mp.name)) continue;
    if (volumes.some((v) => v.name === mp.name)) {
      out.push({ volume: mp.name, path: mp.path });
      continue;
    }
    const v = implicitVolume(implicitVolumeName(appName, mp.name, new Set([...volumes, ...implicit].map((x) => x.name))));
    implicit.push(v);
    out.push({ volume: v.name, path: mp.path });
  }
  return out;
}

async function readManifestOf(store: Store, rec: ImageRecord): Promise<ImageManifest> {
  return parseImageManifest(readFileSync(path.join(store.layout.tree(rec.id), 'manifest')));
}

/** Fetch the images and build the pod manifest (fully resolved: images by ID, every mount point satisfied). */
export async function buildPodManifest(store: Store, globals: GlobalOptions, req: PodRequest, note?: (m: string) => void): Promise<PodManifest> {
  if (req.podManifest !== undefined) {
    for (const a of req.podManifest.apps) {
      const rec = await store.get(a.image.id);
      if (rec === undefined) throw new RktError('ENOIMAGE', `pod manifest app ${a.name}: image ${a.image.id} is not in the store`, { hint: `fetch it first: rkt fetch ${a.image.name ?? a.image.id}` });
    }
    checkIsolation(req.podManifest, globals);
    return req.podManifest;
  }
  if (req.apps.length === 0) throw new RktError('EUSAGE', 'no image given: rkt run [flags] IMAGE [app flags] [--- IMAGE ...]', { exitCode: 2 });
  const inherited = req.inheritEnv ? process.env : undefined;
  const apps: RuntimeApp[] = [];
  const implicit: Volume[] = [];
  for (const a of req.apps) {
    // An image the store has (by ID, or by name unless --pull-policy=update) needs none of the fetch code.
    const rec = await fromStore(store.layout, a.image, req.pullPolicy)
      ?? await (await import('../fetch/fetch.js')).fetchImage({ store, globals, pullPolicy: req.pullPolicy, ...(note !== undefined ? { note } : {}) }, a.image);
    await touchRecord(store.layout, rec);
    const image = await readManifestOf(store, rec);
    const name = a.name ?? defaultAppName(image.name);
    if (!isAcName(name)) {
      throw new RktError('EAPP', `app name "${name}" (from image ${image.name}) is not a valid AC Name`, { hint: 'give one with --name after the image (lowercase letters, digits and -)' });
    }
    if (apps.some((x) => x.name === name)) {
      throw new RktError('EAPP', `two apps are named "${name}"`, { hint: 'give each a different --name after its image' });
    }
    const env = aceEnvironment({
      app: name, ...(inherited !== undefined ? { inherited } : {}), image: image.app?.environment ?? [],
      setEnvFile: req.setEnvFile, setEnv: req.setEnv, appEnvironment: a.environment,
    });
    const app = effectiveApp(image, a, env);
    const mounts = resolveMounts(name, image, app, [...req.podMounts, ...a.mounts], req.volumes, implicit);
    apps.push({
      name, image: { name: image.name, id: rec.id, labels: image.labels }, app,
      ...(a.isolation?.readOnlyRootFS !== undefined ? { readOnlyRootFS: a.isolation.readOnlyRootFS } : {}), mounts, annotations: [],
    });
  }
  const manifest = validatePodManifest(JSON.parse(serializePodManifest({
    acVersion: '0.8.11', acKind: 'PodManifest', apps, volumes: [...req.volumes, ...implicit], isolators: [], annotations: [], ports: [],
  })) as unknown);
  checkIsolation(manifest, globals);
  return manifest;
}

/** Fail now, before any pod exists, on isolators that cannot be resolved (an unknown syscall, both sets). */
function checkIsolation(manifest: PodManifest, globals: GlobalOptions): void {
  for (const a of manifest.apps) {
    resolveAppIsolation({ app: a.name, uid: 0, imageIsolators: [], appIsolators: a.app?.isolators ?? [], insecure: globals.insecure });
  }
}

/**
 * The binds nspawn makes for the apps' mounts: each volume's host directory (a host source, or the pod's own
 * directory for an empty volume, shared by every app that mounts it) straight into the app's root inside the
 * stage1 tree. (systemd's BindPaths= would take the source inside the app's RootDirectory, where the
 * stage1's paths are not.) `inRoot` maps an app's mount (mountKey) to its path with the image's symlinks
 * followed inside the app's root (mountTargetsInRoots): nspawn would follow them from the stage1's root, where
 * `/data -> ../../../../etc` is the stage1's own /etc.
 */
export function volumeBinds(pod: string, manifest: PodManifest, inRoot?: ReadonlyMap<string, string>): { source: string; target: string; readOnly: boolean }[] {
  const out: { source: string; target: string; readOnly: boolean }[] = [];
  for (const a of manifest.apps) {
    for (const m of a.mounts) {
      const v = m.appVolume ?? manifest.volumes.find((x) => x.name === m.volume);
      if (v === undefined) continue;
      const mp = a.app?.mountPoints.find((p) => p.path === m.path || p.name === m.volume);
      out.push({
        source: v.kind === 'host' ? v.source : path.join(pod, 'volumes', v.name),
        target: path.posix.join('/opt/stage2', a.name, 'rootfs', inRoot?.get(mountKey(a.name, m.path)) ?? m.path),
        readOnly: v.readOnly === true || mp?.readOnly === true,
      });
    }
  }
  return out;
}

/** The key of an app's mount in the map `volumeBinds` takes. */
export function mountKey(app: string, mountPath: string): string {
  return `${app}\n${mountPath}`;
}

/** The capabilities in this process's bounding set (/proc/self/status `CapBnd:`). */
async function ownCapabilities(): Promise<ReadonlySet<string>> {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return capabilitiesOfMask(m?.[1] ?? '0');
}

/** Whether the host mounts the unified cgroup hierarchy (v2) alone at /sys/fs/cgroup. */
async function unifiedCgroups(): Promise<boolean> {
  try {
    accessSync('/sys/fs/cgroup/cgroup.controllers');
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/** Whether this kernel has overlayfs (as /proc/filesystems lists it); without it pods copy their trees. */
/** IDs per pod user namespace (as nspawn's `pick`), and the host range the bases are drawn from. */
const ID_RANGE = 0x10000;
const ID_BASE_MIN = 0x80000;
const ID_BASE_MAX = 0x6fff0000;

/**
 * A UID/GID range for a pod's own user namespace: a random 64 Ki-aligned base in nspawn's `pick` span
 * (524288…1879048192) that no other pod in `podsRoot` (prepared or run) has. Unique among rkt's pods; like
 * nspawn's `pick`, it does not look at other users of the host's ID space.
 */
export async function pickIdShift(podsRoot: string, random: () => number = Math.random): Promise<IdShift> {
  const taken = new Set<number>();
  for (const state of ['prepared', 'run']) {
    let uuids: string[] = [];
    try {
      uuids = await fs.readdir(path.join(podsRoot, state));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    for (const u of uuids) {
      try {
        const o = JSON.parse(await fs.readFile(path.join(podsRoot, state, u, OPTIONS_FILE), 'utf8')) as { privateUsers?: { base?: unknown } };
        if (typeof o.privateUsers?.base === 'number') taken.add(o.privateUsers.base);
      } catch (err) {
        void err; // a pod being made or removed has none yet, or no longer: it cannot hold a range then
      }
    }
  }
  const slots = (ID_BASE_MAX - ID_BASE_MIN) / ID_RANGE;
  for (let i = 0; i < 64; i++) {
    const base = ID_BASE_MIN + Math.floor(random() * slots) * ID_RANGE;
    if (!taken.has(base)) return { base, range: ID_RANGE };
  }
  throw new RktError('EPRIVATEUSERS', `no free UID range for the pod's user namespace (${taken.size} pods hold one)`, { hint: 'rkt gc the exited pods' });
}

export async function overlaySupported(filesystems?: string): Promise<boolean> {
  let text = filesystems;
  try {
    text ??= readFileSync('/proc/filesystems', 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    text = '';
  }
  return /\toverlay$/m.test(text);
}

/**
 * Lay out the pod's tree in `pod` (its directory, locked by the caller): see pod-layout.ts. With `noOverlay`
 * (or a kernel without overlayfs), the stage1 and app trees are copied instead of overlay-mounted.
 */
export async function layOutPod(store: Store, globals: GlobalOptions, pod: string, uuid: string, manifest: PodManifest, given: PodRequest,
  note?: (m: string) => void): Promise<{ stage1: Stage1; options: PodOptions }> {
  let req = given;
  if (!req.noOverlay && !(await overlaySupported())) {
    note?.('rkt: overlayfs is not available on this host: copying the images\' trees into the pod instead (as --no-overlay)');
    req = { ...req, noOverlay: true };
  }
  const stage1 = await resolveStage1(store, globals, req.stage1);
  const hostname = req.hostname ?? `rkt-${uuid}`;
  const privateUsers = req.privateUsers === true ? await pickIdShift(path.dirname(path.dirname(pod))) : undefined;
  const options: PodOptions = {
    hostname, net: req.net, ...(req.netPlan !== undefined ? { netPlan: req.netPlan } : {}),
    ...(req.net === 'pod' && req.resolvConf === undefined ? { cniDns: true } : {}), interactive: req.interactive, noOverlay: req.noOverlay,
    ...(privateUsers !== undefined ? { privateUsers } : {}), stage1Id: stage1.record.id,
    stage1Run: stage1.entrypoints.run, stage1Stop: stage1.entrypoints.stop, stage1Enter: stage1.entrypoints.enter,
  };
  const { steps, notes } = await planPodLayout({
    pod, manifest, treeOf: (id) => store.layout.tree(id), layeredRootOf: (id) => ociImageRoot(store.layout, id), stage1Id: stage1.record.id, hostname, net: req.net,
    ...(req.resolvConf !== undefined ? { resolvConf: req.resolvConf } : {}), ...(req.hosts !== undefined ? { hosts: req.hosts } : {}),
    interactive: req.interactive, noOverlay: req.noOverlay, journal: req.journal === true, options,
    ...(req.metadataUrl !== undefined ? { metadataUrl: req.metadataUrl } : {}),
    insecure: globals.insecure, cgroupV2: await unifiedCgroups(), hostCapabilities: await ownCapabilities(),
    ...(privateUsers !== undefined ? { idShift: privateUsers.base } : {}),
    // the volumes buildPodManifest made for unsatisfied mount points (none in a manifest given whole)
    implicitVolumes: new Set(manifest.volumes.filter((v) => !req.volumes.some((g) => g.name === v.name)).map((v) => v.name)),
  });
  for (const n of notes) note?.(`rkt: ${n}`);
  await applyLayout(steps, req.ephemeral !== true);
  return { stage1, options };
}
