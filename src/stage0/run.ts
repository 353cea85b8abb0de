/**
 * Launching a prepared pod tree: the launcher (build/rkt-launch: private mount namespace, output relay,
 * cgroups, mounts) exec'ing the stage1's run entrypoint with the nspawn arguments, the pod lock handed to it,
 * and the wait for its end.
 */
import { closeSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, isErrno, RktError } from '../common/errors.js';
import { nativeAddon } from '../common/native.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { packageDir } from '../common/package-dir.js';
import { trace } from '../common/trace.js';
import type { PodManifest } from '../image/pod-manifest.js';
import type { Store } from '../store/store.js';
import { ociImageRoot, type RootLookup } from '../store/oci-lowers.js';
import * as layout from '../pod/layout.js';
import { closePodDir } from '../pod/lock.js';
import { readPodJson, writeTimestamp } from '../pod/pods.js';
import { LAUNCHER_FAILED, launcherArgs, nspawnArgs, type LaunchMode } from '../stage1/launch.js';
import { podOverlays } from './overlays.js';
import { cgroupDirsFor, removeCgroups } from './cgroups.js';
import { mountKey, OPTIONS_FILE, volumeBinds, type PodOptions } from './prepare.js';
import { podCapabilities } from './isolation.js';
import { networkPlanProblem, type NetworkPlan } from '../net/networks.js';
import type { CniDns } from '../net/dns.js';
import type { NetInfo } from '../net/net-info.js';
import { resolveInRoot, resolvePathInRoot } from './app-setup.js';

export interface LaunchOptions {
  readonly store: Store;
  readonly pod: string;
  readonly uuid: string;
  readonly manifest: PodManifest;
  readonly options: PodOptions;
  /** The open pod directory whose flock is held; handed to stage1 and closed here. */
  readonly lockFd: number;
  readonly debug: boolean;
  readonly mode: LaunchMode;
  /** Where the pod's console goes: inherit our stdio. */
  readonly stdin: 'inherit' | 'ignore';
  /** Called with a function that asks the pod to stop (SIGTERM/SIGINT to rkt run). */
  readonly onStopRequest?: (stop: () => void) => void;
}



/** How long, after nspawn has exited, rkt run waits for the output relay to finish copying. */
const RELAY_WAIT_MS = 1000;

/**
 * The launcher binary, `build/rkt-launch` in rkt's own package directory (hack/build-launcher, run by `npm run
 * build`; hack/install copies it), found from `from` (this module's directory; src/common/package-dir.ts). An
 * RktError naming it and the fix when it is missing.
 */
export async function launcherPath(from = path.dirname(fileURLToPath(import.meta.url))): Promise<string> {
  const dir = packageDir(from) ?? from;
  const bin = path.join(dir, 'build', 'rkt-launch');
  try {
    await fs.access(bin, fs.constants.X_OK);
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'EACCES')) throw err;
    throw new RktError('ELAUNCH', `cannot start the pod: rkt's launcher ${bin} is ${isErrno(err, 'ENOENT') ? 'missing' : 'not executable'}`, {
      cause: err, hint: `build it: npm run build in ${dir}`,
    });
  }
  return bin;
}

/** Check the run options read from a pod directory: every field present with its type. */
export function validatePodOptions(value: unknown, file: string): PodOptions {
  const bad = (what: string) => new RktError('EPODCORRUPT', `${file} is corrupt: ${what}`, { hint: 'remove the pod (rkt rm) and prepare it again' });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('not a JSON object');
  const o = value as Record<string, unknown>;
  for (const k of ['hostname', 'stage1Id', 'stage1Run', 'stage1Stop', 'stage1Enter'] as const) {
    if (typeof o[k] !== 'string' || o[k] === '') throw bad(`"${k}" is not a non-empty string`);
  }
  for (const k of ['interactive', 'noOverlay'] as const) if (typeof o[k] !== 'boolean') throw bad(`"${k}" is not a boolean`);
  if (o['net'] !== 'host' && o['net'] !== 'none' && o['net'] !== 'pod') throw bad('"net" is not host, none or pod');
  const planProblem = o['net'] === 'pod' ? networkPlanProblem(o['netPlan']) : undefined;
  if (planProblem !== undefined) throw bad(`"netPlan": ${planProblem}`);
  if (o['cniDns'] !== undefined && typeof o['cniDns'] !== 'boolean') throw bad('"cniDns" is not a boolean');
  const pu = o['privateUsers'] as { base?: unknown; range?: unknown } | undefined;
  if (pu !== undefined && (typeof pu !== 'object' || pu === null || !Number.isInteger(pu.base) || !Number.isInteger(pu.range)
    || (pu.base as number) <= 0 || (pu.range as number) <= 0)) throw bad('"privateUsers" is not {"base": N, "range": N}');
  return {
    hostname: o['hostname'] as string, net: o['net'], ...(o['net'] === 'pod' ? { netPlan: o['netPlan'] as NetworkPlan } : {}),
    ...(o['cniDns'] === true ? { cniDns: true } : {}),
    interactive: o['interactive'] as boolean, noOverlay: o['noOverlay'] as boolean,
    ...(pu !== undefined ? { privateUsers: { base: pu.base as number, range: pu.range as number } } : {}),
    stage1Id: o['stage1Id'] as string, stage1Run: o['stage1Run'] as string, stage1Stop: o['stage1Stop'] as string,
    stage1Enter: o['stage1Enter'] as string,
  };
}

/** Read a pod's run options (written at prepare time). */
export async function readPodOptions(pod: string): Promise<PodOptions> {
  const file = path.join(pod, OPTIONS_FILE);
  return validatePodOptions(await readPodJson(file, false), file);
}

/**
 * Whether the pod got as far as starting its apps: each app's reaper leaves `.started-<app>` in the status
 * directory before its app starts, and records `<app>` when it ends.
 */
async function appsStarted(pod: string): Promise<boolean> {
  try {
    return (await fs.readdir(path.join(pod, layout.STATUS_DIR))).length > 0;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/**
 * Where each app's mounts are inside its root, the image's symlinks followed there (resolvePathInRoot), for
 * volumeBinds: the app's tree as the launcher will mount it, its own upper layer (what stage0 wrote) over the
 * image's (an ACI's tree, an OCI image's layers), or the copy --no-overlay made.
 */
export async function mountTargetsInRoots(store: Store, pod: string, manifest: PodManifest, noOverlay: boolean): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const a of manifest.apps) {
    if (a.mounts.length === 0) continue;
    let root: string | RootLookup;
    if (noOverlay) root = layout.appRootfs(pod, a.name);
    else {
      const upper = layout.overlayUpperDir(pod, a.name);
      const oci = await ociImageRoot(store.layout, a.image.id);
      const lower: RootLookup = oci !== undefined ? oci.lookup : async (rel) => path.join(store.layout.tree(a.image.id), 'rootfs', rel);
      root = async (rel) => {
        const mine = path.join(upper, rel);
        try {
          await fs.lstat(mine);
          return mine;
        } catch (err) {
          if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return lower(rel);
          throw err;
        }
      };
    }
    for (const m of a.mounts) out.set(mountKey(a.name, m.path), await resolvePathInRoot(root, m.path));
  }
  return out;
}

/**
 * The name servers the pod's CNI results carry (no `--dns` flag decided), as /etc/resolv.conf of each app whose
 * image has none, in the app's writable layer. Nothing when the results carry no DNS (the built-in networks).
 */
async function writeCniResolvConf(o: LaunchOptions, info: NetInfo | undefined): Promise<void> {
  const { resolvConfText } = await import('../net/dns.js');
  const text = resolvConfText({ mode: 'default' }, (info?.networks ?? []).map((n) => n.result?.['dns'] as CniDns | undefined));
  if (text === undefined) return;
  for (const a of o.manifest.apps) {
    // Looked up as the app will see it: an OCI image through its layers (a file a later layer whites out is gone).
    const root = (await ociImageRoot(o.store.layout, a.image.id))?.lookup ?? path.join(o.store.layout.tree(a.image.id), 'rootfs');
    if ((await resolveInRoot(root, '/etc/resolv.conf')) !== undefined) continue;
    const etc = path.join(o.options.noOverlay ? layout.appRootfs(o.pod, a.name) : layout.overlayUpperDir(o.pod, a.name), 'etc');
    await fs.mkdir(etc, { recursive: true, mode: 0o755 });
    try {
      await fs.writeFile(path.join(etc, 'resolv.conf'), text, { mode: 0o644, flag: 'wx' });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err; // one of its own, or run before: kept
    }
  }
}

/** The pod's PID 1 (the stage1 systemd) as seen from the host: nspawn's child, once it exists. */
async function findPodPid1(nspawnPid: number, exited: () => boolean): Promise<number | undefined> {
  for (let i = 0; i < 500 && !exited(); i++) {
    try {
      const children = (await fs.readFile(`/proc/${nspawnPid}/task/${nspawnPid}/children`, 'utf8')).trim().split(/\s+/).filter((s) => s !== '');
      for (const c of children) {
        const status = await fs.readFile(`/proc/${c}/status`, 'utf8');
        // The container's init is PID 1 in its own PID namespace: NSpid lists the host pid and 1.
        if (/^NSpid:\s+\d+\s+1$/m.test(status)) return Number(c);
      }
    } catch (err) {
      if (exited()) return undefined;
      void err;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return undefined;
}

/**
 * Start the pod and wait for it to end. Returns the pod's exit status (the first failing app's, or 0).
 * The lock fd is handed to the launcher (which becomes nspawn) and closed here at once, so the lock is held
 * exactly as long as the pod's stage1 process lives, even if this process dies.
 */
export async function launchPod(o: LaunchOptions): Promise<number> {
  // Only without a host systemd does the pod need cgroups of its own; otherwise the unit it lives in
  // (the caller's service, or the scope machined makes) is its cgroup.
  const launcher = await launcherPath();
  const native = nativeAddon();
  const cgroups = o.mode.kind === 'raw' ? await cgroupDirsFor(o.uuid) : [];
  const s1root = layout.stage1Rootfs(o.pod);
  const ioDir = path.join(o.pod, 'io');
  await fs.rm(ioDir, { recursive: true, force: true });
  await fs.mkdir(ioDir, { mode: 0o700 });
  // In a pod of its own user namespace, the pod's root opens the FIFOs in there: its host UID owns the directory.
  const rootId = o.options.privateUsers?.base;
  if (rootId !== undefined) await fs.chown(ioDir, rootId, rootId);
  for (const cg of cgroups) await fs.mkdir(cg, { recursive: true });
  if (o.mode.kind === 'raw') await fs.mkdir('/run/systemd/nspawn', { recursive: true });
  const podNet = o.options.net === 'pod' && o.options.netPlan !== undefined ? await import('../net/pod-network.js') : undefined;
  const binds = [
    { source: path.join(o.pod, layout.STATUS_DIR), target: '/rkt/status', readOnly: false },
    ...(o.options.interactive ? [] : [{ source: ioDir, target: '/rkt/io', readOnly: false }]),
    ...volumeBinds(o.pod, o.manifest, await mountTargetsInRoots(o.store, o.pod, o.manifest, o.options.noOverlay)),
  ];
  // The pod's own networks (src/net), made last before the launch so that nothing after them can fail
  // before the teardown in the finally below is armed; setUpPodNetwork leaves nothing when it fails.
  const args = launcherArgs({
    cgroups,
    ...(o.options.interactive ? {} : { ioDir }),
    privateNspawnRun: o.mode.kind === 'raw',
    ...(rootId !== undefined ? { rootId } : {}),
    ...(rootId !== undefined && podNet !== undefined ? { netns: podNet.podNetnsPath(o.pod) } : {}),
    overlays: o.options.noOverlay ? [] : podOverlays(o.store, o.pod, o.manifest, o.options.stage1Id),
    entrypoint: path.join(s1root, o.options.stage1Run),
  }, nspawnArgs({
    uuid: o.uuid, stage1Root: s1root, hostname: o.options.hostname, net: o.options.net,
    ...(podNet !== undefined ? { netnsPath: podNet.podNetnsPath(o.pod) } : {}),
    interactive: o.options.interactive, debug: o.debug, mode: o.mode, binds,
    notifyReady: process.env['NOTIFY_SOCKET'] !== undefined,
    ...(o.options.privateUsers !== undefined ? { privateUsers: o.options.privateUsers } : {}),
    capabilities: podCapabilities(o.manifest.apps.map((a) => ({ name: a.name, isolators: a.app?.isolators ?? [] })), new Set()),
  }));
  if (podNet !== undefined && o.options.netPlan !== undefined) {
    // pods/run/<uuid> → pods/: no other pod there may forward the same host ports.
    const info = await podNet.setUpPodNetwork(o.pod, o.uuid, o.options.netPlan, { podsRoot: path.dirname(path.dirname(o.pod)) });
    trace('pod networks set up');
    if (o.options.cniDns === true) {
      await writeCniResolvConf(o, info).catch(async (err: unknown) => {
        await podNet.tearDownPodNetwork(o.pod);
        throw err;
      });
    }
  }
  // fd 4, a pipe every process of the launch inherits (nspawn, the output relay): its end of file means that all
  // of them are gone, so everything the pod wrote has reached our stdout and stderr. The launcher is started by
  // posix_spawn (src/common/native.ts), not node:child_process: no fork of Node's memory, no streams loaded.
  const [relayRead, relayWrite] = native.pipe();
  let childPid: number | undefined;
  let exit: Promise<number>;
  let done = false;
  try {
    childPid = native.spawn(launcher, [launcher, ...args], [o.stdin === 'inherit' ? 0 : -1, 1, 2, o.lockFd, relayWrite], o.pod);
    // Normally the relay ends within milliseconds of nspawn (every writer died with the pod's PID namespace). If
    // nspawn itself was killed, the pod's orphaned processes keep it alive: not waited for longer than
    // RELAY_WAIT_MS (the relay still holds our stdout and stderr, nothing it copies is lost).
    exit = native.waitExit(childPid, relayRead, RELAY_WAIT_MS).then(({ code, signal }) => code ?? 128 + (signal ?? 0));
  } catch (err) {
    exit = Promise.reject(new RktError('ELAUNCH', `cannot start the pod: cannot run rkt's launcher ${launcher}: ${describe(err)}`, { cause: err }));
  } finally {
    closeSync(relayWrite);
    closePodDir(o.lockFd);
  }
  exit = exit.finally(() => { done = true; closeSync(relayRead); });
  trace('stage1 launched');
  // A stop request is "halt" to the pod's systemd once it is known (what nspawn sends on SIGTERM): asking twice
  // is harmless. Until then, SIGTERM to nspawn, which halts the pod; but a second SIGTERM to nspawn kills the
  // pod at once, without the apps' statuses, and under KillMode=control-group systemd sends nspawn its own.
  let podPid1: number | undefined;
  o.onStopRequest?.(() => {
    if (done) return;
    if (podPid1 !== undefined) {
      try {
        process.kill(podPid1, HALT_SIGNAL);
        return;
      } catch (err) {
        if (!isErrno(err, 'ESRCH')) throw err;
      }
    }
    if (childPid !== undefined) process.kill(childPid, 'SIGTERM');
  });
  let recordPid1: Promise<void> = Promise.resolve();
  if (childPid !== undefined) {
    recordPid1 = findPodPid1(childPid, () => done).then(async (pid) => {
      if (pid === undefined) return;
      podPid1 = pid;
      trace(`pod PID 1 is ${pid}`);
      // As the timestamps (src/pod/pods.ts writeTimestamp): atomic, not fsynced.
      await writeFileAtomic(path.join(o.pod, layout.PID_FILE), `${pid}\n`, 0o644, false);
      await writeTimestamp(o.pod, layout.STARTED_FILE, new Date());
    }).catch((err: unknown) => trace(`cannot record the pod's PID 1: ${describe(err)}, ignoring`));
  }
  try {
    const code = await exit;
    // Only the apps' own status passes through: a launcher, nspawn or stage1 failure before any app started
    // is rkt's failure (254), whatever status the failing step had.
    if (await appsStarted(o.pod)) return code;
    throw new RktError('ESTAGE1', `pod ${o.uuid} failed before any app started${code === LAUNCHER_FAILED ? '' : ` (stage1 exited with status ${code})`}`, {
      hint: 'see the messages above; rkt --debug run … shows the pod\'s boot',
    });
  } finally {
    await recordPid1; // (rkt exits as soon as the command returns: src/bin/rkt.ts)
    trace('pod exited');
    await writeTimestamp(o.pod, layout.EXITED_FILE, new Date())
      .catch((err: unknown) => trace(`cannot record the pod's exit time: ${describe(err)}, ignoring`));
    if (cgroups.length > 0) {
      await removeCgroups(cgroups).catch((err: unknown) => trace(`cannot remove the pod's cgroups: ${describe(err)}, ignoring (gc retries)`));
      trace('pod cgroups removed');
    }
    // Best-effort (each failure traced "…, ignoring" by src/net); rkt gc retries what is left.
    if (podNet !== undefined) await podNet.tearDownPodNetwork(o.pod);
  }
}

/** SIGRTMIN+3 (glibc's SIGRTMIN is 34): systemd's "halt", what nspawn sends the pod on SIGTERM; the apps' statuses decide rkt's exit. */
const HALT_SIGNAL = 37;
