/**
 * A pod's tree as data, then applied in one place. `planPodLayout` reads what it needs (the images' trees,
 * host volume sources, the stage1's passwd) and returns the steps that make the pod's directory: the stage1
 * upper dir with the units, the apps' overlay dirs and ACE files, empty volumes, the status dir, options.json
 * and the manifest. `applyLayout` performs them in order; it is the only code here that writes.
 */
import { chmodSync, chownSync, copyFileSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, isErrno, RktError } from '../common/errors.js';
import { writeFileAtomicSync } from '../common/fs-atomic.js';
import { serializePodManifest, type PodManifest } from '../image/pod-manifest.js';
import * as layout from '../pod/layout.js';
import { podListingText, readTimestamp } from '../pod/pods.js';
import { renderPodUnits, type AppUnitSpec } from '../stage1/units.js';
import type { InsecureCheck } from '../common/options.js';
import type { LayeredRoot, RootLookup, StackLayer } from '../store/oci-lowers.js';
import { aceEnvironment, checkExec, resolveId, resolveInRoot, resolvePathInRoot } from './app-setup.js';
import { resolveAppIsolation, unavailableCapabilityNotes, unenforcedResourcesNote, type AppIsolation } from './isolation.js';
import { copyImageDir, implicitVolumeWarning, type ImageRootSource } from './volumes.js';

/** The pod's run options (PodOptions), beside its manifest. */
export const OPTIONS_FILE = 'options.json';

/** One thing to make in the pod's directory. Paths are absolute. */
export type LayoutStep =
  /** A directory (and its parents, 0755); `mode`/`owner` are then set exactly. */
  | { readonly op: 'mkdir'; readonly path: string; readonly mode?: number; readonly owner?: { readonly uid: number; readonly gid: number } }
  /** Remove a path that an earlier step made (a directory a copy replaces). */
  | { readonly op: 'remove'; readonly path: string }
  /** Copy a whole tree (owners, modes, links kept) to `to`, which must not exist. */
  | { readonly op: 'copyTree'; readonly from: string; readonly to: string }
  /** An OCI image's layers (top first) rendered into `to`, which must not exist, as a copy the pod owns. */
  | { readonly op: 'renderLayers'; readonly layers: readonly StackLayer[]; readonly scratch: string; readonly to: string }
  /** A file with this content (`append`: created if missing, kept if present). */
  | { readonly op: 'write'; readonly path: string; readonly content: string; readonly mode: number; readonly append?: boolean }
  /** A file written atomically (temp, fsync unless the pod is ephemeral, rename): the records others read. */
  | { readonly op: 'writeAtomic'; readonly path: string; readonly content: string; readonly mode: number }
  /** A copy of a host file; a missing source is skipped. */
  | { readonly op: 'copyFileIfPresent'; readonly from: string; readonly to: string }
  /** An implicit volume `to` replaced by a copy of the image's directory `path` (volumes.ts copyImageDir). */
  | { readonly op: 'seedVolume'; readonly from: ImageRootSource; readonly path: string; readonly to: string; readonly shift: number }
  | { readonly op: 'symlink'; readonly target: string; readonly path: string };

/** What the pod's tree is built from, every choice made. */
export interface LayoutInput {
  readonly pod: string;
  readonly manifest: PodManifest;
  /** The store's rendered tree of an image, by Image ID (its `rootfs/` is the image's root). */
  readonly treeOf: (imageId: string) => string;
  /**
   * An OCI image's root as its layers give it (its tree then has no rootfs/), or undefined for an ACI. Not
   * given: every image's root is its tree's rootfs/.
   */
  readonly layeredRootOf?: (imageId: string) => Promise<LayeredRoot | undefined>;
  readonly stage1Id: string;
  readonly hostname: string;
  readonly net: 'host' | 'none' | 'pod';
  /** Every app's /etc/resolv.conf from the flags: the text (replacing the image's), or null to write none. */
  readonly resolvConf?: string | null;
  /** Every app's /etc/hosts from the flags (replacing the image's). */
  readonly hosts?: string;
  readonly interactive: boolean;
  readonly noOverlay: boolean;
  readonly journal: boolean;
  /** `--insecure-options` checks lifted (capabilities, seccomp, paths). */
  readonly insecure: ReadonlySet<InsecureCheck>;
  /** The pod's systemd runs on the unified cgroup hierarchy (v2), where its resource limits apply. */
  readonly cgroupV2: boolean;
  /** The capabilities rkt itself holds (its bounding set): no app can get more. Unknown: not checked. */
  readonly hostCapabilities?: ReadonlySet<string>;
  /** options.json's content. */
  readonly options: unknown;
  /** The pod's AC_METADATA_URL (--mds-register): set in every app's environment. */
  readonly metadataUrl?: string;
  /**
   * `--private-users`: the host UID/GID of the pod's root. What the pod writes to and nspawn does not shift
   * itself (the status directory, empty volumes, both bound from the pod directory) is owned from it.
   */
  readonly idShift?: number;
  /** The empty volumes rkt made for mount points no volume satisfied (prepare.ts resolveMounts). */
  readonly implicitVolumes?: ReadonlySet<string>;
}

/** A directory made like `like` (its mode and owner), or plain 0755. */
async function mkdirLike(dir: string, like?: string): Promise<LayoutStep> {
  if (like === undefined) return { op: 'mkdir', path: dir };
  const st = statSync(like);
  return { op: 'mkdir', path: dir, mode: st.mode & 0o7777, owner: { uid: st.uid, gid: st.gid } };
}

/** Files an app gets per the ACE when its image lacks them: /etc/hosts, /etc/hostname, /etc/resolv.conf, /etc/mtab. */
async function aceFiles(imageRoot: string | RootLookup, upper: string, hostname: string, net: 'host' | 'none' | 'pod', given: { resolvConf?: string | null; hosts?: string } = {}): Promise<LayoutStep[]> {
  const etcLower = await resolveInRoot(imageRoot, '/etc');
  const etcDirect = typeof imageRoot === 'string' ? path.join(imageRoot, 'etc') : await imageRoot('etc');
  const lowerEtcIsDir = etcLower !== undefined && lstatSync(etcLower).isDirectory() && etcLower === etcDirect;
  const etc = path.join(upper, 'etc');
  const missing = async (p: string) => (await resolveInRoot(imageRoot, p)) === undefined;
  const steps: LayoutStep[] = [await mkdirLike(etc, lowerEtcIsDir ? etcLower : undefined)];
  if (given.hosts !== undefined) steps.push({ op: 'write', path: path.join(etc, 'hosts'), content: given.hosts, mode: 0o644 });
  else if (await missing('/etc/hosts')) {
    steps.push({ op: 'write', path: path.join(etc, 'hosts'), content: `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, mode: 0o644 });
  }
  steps.push({ op: 'write', path: path.join(etc, 'hostname'), content: `${hostname}\n`, mode: 0o644 });
  if (typeof given.resolvConf === 'string') steps.push({ op: 'write', path: path.join(etc, 'resolv.conf'), content: given.resolvConf, mode: 0o644 });
  else if (given.resolvConf === undefined && net === 'host' && (await missing('/etc/resolv.conf'))) steps.push({ op: 'copyFileIfPresent', from: '/etc/resolv.conf', to: path.join(etc, 'resolv.conf') });
  if (await missing('/etc/mtab')) steps.push({ op: 'symlink', target: '../proc/self/mounts', path: path.join(etc, 'mtab') });
  return steps;
}

/**
 * The pod's systemd resolves `User=`/`Group=` against the stage1's own /etc/passwd and /etc/group, even for
 * numbers: give every uid and gid the apps use an entry there (in the pod's copy), as rkt's stage1 did.
 */
async function identities(stage1Image: string, s1Root: string, apps: readonly AppUnitSpec[]): Promise<LayoutStep[]> {
  const read = (f: string) => {
    try {
      return readFileSync(path.join(stage1Image, 'etc', f), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return '';
      throw err;
    }
  };
  const passwd = read('passwd');
  const group = read('group');
  const have = (text: string) => new Set(text.split('\n').map((l) => Number(l.split(':')[2])).filter(Number.isInteger));
  const uids = have(passwd);
  const gids = have(group);
  const addP: string[] = [];
  const addG: string[] = [];
  for (const a of apps) {
    if (!uids.has(a.uid)) { uids.add(a.uid); addP.push(`rkt-uid-${a.uid}:x:${a.uid}:${a.gid}:rkt app user:/:/sbin/nologin`); }
    for (const g of [a.gid, ...a.supplementaryGids]) {
      if (!gids.has(g)) { gids.add(g); addG.push(`rkt-gid-${g}:x:${g}:`); }
    }
  }
  if (addP.length === 0 && addG.length === 0) return [];
  const withEnd = (t: string) => (t === '' || t.endsWith('\n') ? t : `${t}\n`);
  return [
    { op: 'mkdir', path: path.join(s1Root, 'etc') },
    { op: 'write', path: path.join(s1Root, 'etc', 'passwd'), content: withEnd(passwd) + addP.map((l) => `${l}\n`).join(''), mode: 0o644 },
    { op: 'write', path: path.join(s1Root, 'etc', 'group'), content: withEnd(group) + addG.map((l) => `${l}\n`).join(''), mode: 0o644 },
  ];
}

/** A host volume's source must be an existing file or directory. */
async function checkHostSource(name: string, source: string): Promise<boolean> {
  try {
    const st = statSync(source);
    if (st.isDirectory()) return false;
    if (st.isFile()) return true;
    throw new Error('not a file or directory');
  } catch (err) {
    throw new RktError('EVOLUME', `volume ${name}: host source ${source} ${isErrno(err, 'ENOENT') ? 'does not exist' : `is unusable: ${describe(err)}`}`, {
      hint: 'create it, or fix source= in --volume',
    });
  }
}

/**
 * The steps that lay out the pod's tree (see the module comment) and the app unit specs they render. Reads
 * the images' trees and the host, writes nothing. Errors (an exec not in the image, an unknown user, a
 * missing host volume source) come before any step is applied.
 */
export async function planPodLayout(i: LayoutInput): Promise<{ steps: LayoutStep[]; apps: AppUnitSpec[]; notes: string[] }> {
  const { pod, manifest } = i;
  const s1 = path.join(pod, layout.STAGE1_DIR);
  const stage1Tree = path.join(i.treeOf(i.stage1Id), 'rootfs');
  const steps: LayoutStep[] = ['rootfs', 'upper', 'work'].map((d) => ({ op: 'mkdir', path: path.join(s1, d) }));
  const s1Root = i.noOverlay ? path.join(s1, 'rootfs') : path.join(s1, 'upper');
  if (i.noOverlay) steps.push({ op: 'remove', path: path.join(s1, 'rootfs') }, { op: 'copyTree', from: stage1Tree, to: path.join(s1, 'rootfs') });
  const shift = i.idShift ?? 0;
  steps.push({ op: 'mkdir', path: path.join(pod, layout.STATUS_DIR), ...(shift !== 0 ? { owner: { uid: shift, gid: shift } } : {}) });
  const fileSources = new Map<string, boolean>();
  for (const v of manifest.volumes) {
    if (v.kind === 'empty') steps.push({ op: 'mkdir', path: path.join(pod, 'volumes', v.name), mode: parseInt(v.mode, 8), owner: { uid: v.uid + shift, gid: v.gid + shift } });
    else fileSources.set(v.name, await checkHostSource(v.name, v.source));
  }
  const apps: AppUnitSpec[] = [];
  const isolations: { app: string; isolation: AppIsolation }[] = [];
  const volumeNotes: string[] = [];
  for (const a of manifest.apps) {
    const app = a.app;
    if (app === undefined) throw new RktError('EAPP', `app ${a.name} has no app section`);
    // An OCI image is looked at through its layers (its tree has no rendered rootfs/); an ACI through its tree.
    const layered = await i.layeredRootOf?.(a.image.id);
    const imageRoot: string | RootLookup = layered?.lookup ?? path.join(i.treeOf(a.image.id), 'rootfs');
    const imageName = a.image.name ?? a.image.id;
    await checkExec(imageRoot, app.exec[0] ?? '', imageName);
    const uid = await resolveId('user', app.user, imageRoot, a.name);
    const gid = await resolveId('group', app.group, imageRoot, a.name);
    const mountTarget = path.join(s1Root, 'opt', 'stage2', a.name, 'rootfs');
    let upper: string;
    if (i.noOverlay) {
      steps.push({ op: 'mkdir', path: path.dirname(mountTarget) }, layered !== undefined
        ? { op: 'renderLayers', layers: layered.stack, scratch: layered.scratch, to: mountTarget }
        : { op: 'copyTree', from: path.join(i.treeOf(a.image.id), 'rootfs'), to: mountTarget });
      upper = mountTarget;
    } else {
      upper = layout.overlayUpperDir(pod, a.name);
      const rootDir = typeof imageRoot === 'string' ? imageRoot : await imageRoot('');
      if (rootDir === undefined) throw new RktError('EAPP', `image ${imageName} has no layers: app ${a.name} has no root`);
      const rootSt = statSync(rootDir);
      steps.push({ op: 'mkdir', path: mountTarget }, { op: 'mkdir', path: upper, mode: rootSt.mode & 0o7777 }, { op: 'mkdir', path: layout.overlayWorkDir(pod, a.name) });
    }
    steps.push(...await aceFiles(imageRoot, upper, i.hostname, i.net, {
      ...(i.resolvConf !== undefined ? { resolvConf: i.resolvConf } : {}), ...(i.hosts !== undefined ? { hosts: i.hosts } : {}),
    }));
    // An implicit volume is said, and an OCI image's starts with what the image has there (Docker's VOLUME).
    for (const m of a.mounts) {
      if (i.implicitVolumes?.has(m.volume) !== true) continue;
      const mp = app.mountPoints.find((p) => p.path === m.path) ?? { name: m.volume, path: m.path };
      const at = layered === undefined ? undefined : await resolveInRoot(imageRoot, m.path);
      const seed = layered !== undefined && at !== undefined && statSync(at).isDirectory();
      if (seed) steps.push({ op: 'seedVolume', from: { layers: layered.stack, scratch: layered.scratch }, path: m.path, to: path.join(pod, 'volumes', m.volume), shift });
      volumeNotes.push(implicitVolumeWarning(a.name, mp, m.volume, seed));
    }
    // Mount points must exist in the app's root: create any the image lacks (in the app's own upper layer),
    // where the image's symlinks on the way lead inside its root (as stage0 binds them: volumeBinds), so that
    // a symlink is neither shadowed by a new directory nor followed out of the app's root.
    for (const m of a.mounts) {
      if ((await resolveInRoot(imageRoot, m.path)) !== undefined) continue;
      const isFile = fileSources.get(m.volume) === true;
      const target = path.join(upper, await resolvePathInRoot(imageRoot, m.path));
      steps.push({ op: 'mkdir', path: isFile ? path.dirname(target) : target });
      if (isFile) steps.push({ op: 'write', path: target, content: '', mode: 0o644, append: true });
    }
    // The app entry's isolators are the image's overlaid with the flags' (buildPodManifest).
    const isolation = resolveAppIsolation({
      app: a.name, uid, imageIsolators: [], appIsolators: app.isolators, insecure: i.insecure,
      ...(a.readOnlyRootFS !== undefined ? { readOnlyRootFS: a.readOnlyRootFS } : {}),
      writableVolumes: a.mounts.filter((m) => {
        const v = m.appVolume ?? manifest.volumes.find((x) => x.name === m.volume);
        return v?.readOnly !== true && app.mountPoints.find((p) => p.path === m.path || p.name === m.volume)?.readOnly !== true;
      }).map((m) => m.path),
    });
    isolations.push({ app: a.name, isolation });
    apps.push({
      name: a.name, imageName, exec: app.exec, uid, gid, supplementaryGids: app.supplementaryGIDs,
      workingDirectory: app.workingDirectory ?? '/',
      // A manifest given whole (--pod-manifest) gets the ACE defaults too; for ours this changes nothing.
      environment: [
        ...aceEnvironment({ app: a.name, image: app.environment, setEnvFile: [], setEnv: [], appEnvironment: [] }).filter(([k]) => i.metadataUrl === undefined || k !== 'AC_METADATA_URL'),
        // The runtime's to set, as AC_APP_NAME: only in the unit, never in the (world-readable) pod manifest.
        ...(i.metadataUrl !== undefined ? [['AC_METADATA_URL', i.metadataUrl] as [string, string]] : []),
      ],
      preStart: app.eventHandlers.filter((h) => h.name === 'pre-start').map((h) => h.exec),
      postStop: app.eventHandlers.filter((h) => h.name === 'post-stop').map((h) => h.exec),
      interactive: i.interactive,
      journal: i.journal,
      volumeTargets: a.mounts.map((m) => m.path),
      isolation,
    });
  }
  const notes = [...volumeNotes, ...isolations.flatMap((x) => x.isolation.notes)];
  const resourceNote = unenforcedResourcesNote(isolations, i.cgroupV2);
  if (resourceNote !== undefined) notes.push(resourceNote);
  if (i.hostCapabilities !== undefined) notes.push(...unavailableCapabilityNotes(isolations, i.hostCapabilities));
  steps.push(...await identities(stage1Tree, s1Root, apps));
  const unitDir = path.join(s1Root, 'etc', 'systemd', 'system');
  steps.push({ op: 'mkdir', path: unitDir }, { op: 'remove', path: path.join(unitDir, 'default.target') });
  for (const [file, text] of renderPodUnits(apps)) steps.push({ op: 'write', path: path.join(unitDir, file), content: text, mode: 0o644 });
  steps.push(
    { op: 'writeAtomic', path: path.join(pod, OPTIONS_FILE), content: JSON.stringify(i.options, null, 1) + '\n', mode: 0o644 },
    { op: 'writeAtomic', path: path.join(pod, layout.POD_MANIFEST), content: serializePodManifest(manifest, true) + '\n', mode: 0o644 },
  );
  // What rkt list shows, after the manifest it is taken from (a pod without it is listed from the manifest).
  const created = await readTimestamp(pod, layout.CREATED_FILE);
  if (created !== undefined) {
    const listed = manifest.apps.map((a) => ({ name: a.name, image: a.image.name ?? '', id: a.image.id }));
    steps.push({ op: 'writeAtomic', path: path.join(pod, layout.LISTING_FILE), content: podListingText({ created, apps: listed }), mode: 0o644 });
  }
  return { steps, apps, notes };
}

/**
 * Perform the steps in order. The caller holds the pod's lock; a failure leaves a pod that gc removes. The small
 * steps (directories, files, links) are synchronous calls: one after the other anyway, each as a promise cost a
 * thread-pool round trip, for some forty steps per pod. With `durable` false the atomic writes are not fsynced
 * (the pod of a foreground rkt run: PodRequest.ephemeral).
 */
export async function applyLayout(steps: readonly LayoutStep[], durable = true): Promise<void> {
  for (const s of steps) {
    switch (s.op) {
      case 'mkdir':
        mkdirSync(s.path, { recursive: true, mode: 0o755 });
        if (s.mode !== undefined) chmodSync(s.path, s.mode);
        if (s.owner !== undefined) chownSync(s.path, s.owner.uid, s.owner.gid);
        break;
      case 'remove':
        rmSync(s.path, { recursive: true, force: true });
        break;
      case 'copyTree': {
        const { copyTree } = await import('../common/fs-tree.js');
        await copyTree(s.from, s.to);
        break;
      }
      case 'renderLayers': {
        const { renderStackCopy } = await import('../store/oci.js');
        await renderStackCopy(s.layers, s.scratch, s.to);
        break;
      }
      case 'write':
        writeFileSync(s.path, s.content, { mode: s.mode, ...(s.append === true ? { flag: 'a' } : {}) });
        break;
      case 'writeAtomic':
        writeFileAtomicSync(s.path, s.content, s.mode, durable);
        break;
      case 'seedVolume':
        await copyImageDir(s.from, s.path, s.to, s.shift);
        break;
      case 'copyFileIfPresent':
        try {
          copyFileSync(s.from, s.to);
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
        }
        break;
      case 'symlink':
        symlinkSync(s.target, s.path);
        break;
    }
  }
}
