/**
 * Launching a fly pod: stage0 execs the fly stage1's `run` entrypoint (from the stage1 image's tree in the
 * store; appc's stage0 hands a pod to its stage1 so), with the argv src/stage1/fly.ts builds, the app's
 * environment as its own, cwd the pod directory and the pod lock inherited. `run` takes over rkt run's process
 * (its pid, its place in the caller's unit, its exit status): it forks the app, records its pid, `started`, its
 * exit status and `exited`, runs the post-stop handlers, and exits with the app's status (stage1-image/fly/
 * fly-run.c). Nothing of Node waits beside a running fly pod.
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { describe, RktError } from '../common/errors.js';
import { nativeAddon } from '../common/native.js';
import { trace } from '../common/trace.js';
import type { PodManifest } from '../image/pod-manifest.js';
import * as layout from '../pod/layout.js';
import { closePodDir } from '../pod/lock.js';
import { writeTimestamp } from '../pod/pods.js';
import type { Store } from '../store/store.js';
import { overlayOptions } from '../stage1/overlay.js';
import { flyRunArgs, type FlyAppSpec, type FlyMounts } from '../stage1/fly.js';
import { readFlySpec } from './fly-pod.js';
import type { PodOptions } from './prepare.js';
import { volumeBinds } from './prepare.js';
import { podOverlays } from './overlays.js';

export interface FlyLaunchOptions {
  readonly store: Store;
  readonly pod: string;
  readonly uuid: string;
  readonly manifest: PodManifest;
  readonly options: PodOptions;
  /** The open pod directory whose flock is held; handed to the stage1 through the exec. */
  readonly lockFd: number;
  /** The pod's fly.json as prepare wrote it, when this process did (rkt run); read from the pod otherwise. */
  readonly spec?: FlyAppSpec;
  /** Called just before the exec: what rkt wrote reaches its descriptors first. */
  readonly beforeExec?: () => Promise<void>;
}

/** The app's root and what is bound into it (the pod's one overlay, its volumes with targets inside the app). */
export function flyMounts(store: Store, pod: string, manifest: PodManifest, options: PodOptions): FlyMounts {
  const app = manifest.apps[0];
  if (app === undefined) throw new Error('bug: a fly pod has one app');
  const root = layout.appRootfs(pod, app.name);
  const prefix = path.posix.join('/opt/stage2', app.name, 'rootfs');
  const binds = volumeBinds(pod, manifest).map((b) => ({ ...b, target: b.target.slice(prefix.length) || '/' }));
  if (options.noOverlay) return { root, binds };
  const o = podOverlays(store, pod, manifest, options.stage1Id)[1];
  if (o === undefined) throw new Error('bug: no overlay for the app of a fly pod');
  for (const l of o.lower) {
    if (!existsSync(l)) {
      throw new RktError('ESTAGE1', `pod ${path.basename(pod)}: the image tree ${l} is missing (was the image removed?)`, { hint: 'rkt image verify, or fetch the image again' });
    }
  }
  return { root, binds, overlay: overlayOptions(o) };
}

/**
 * Hand the fly pod in `o.pod` (in run/, locked by `o.lockFd`) to the fly stage1: returns only by throwing.
 * A failure before the exec (a damaged pod, an image tree gone) closes the lock; so does a failed exec, which
 * is an ELAUNCH error, and the pod is left exited. What `run` reports after the exec (a failure before the
 * app's exec: `rkt: pod UUID failed before its app started: REASON`, 254) is its own.
 */
export async function launchFlyPod(o: FlyLaunchOptions): Promise<never> {
  let spec: FlyAppSpec | undefined;
  let mounts: FlyMounts;
  try {
    spec = o.spec ?? await readFlySpec(o.pod);
    if (spec === undefined) throw new RktError('EPODCORRUPT', `pod ${o.uuid} was prepared for the fly stage1 but has no ${path.join(o.pod, 'fly.json')}`, { hint: 'remove the pod (rkt rm) and prepare it again' });
    mounts = flyMounts(o.store, o.pod, o.manifest, o.options);
  } catch (err) {
    closePodDir(o.lockFd);
    throw err;
  }
  const entrypoint = path.join(o.store.layout.tree(o.options.stage1Id), 'rootfs', o.options.stage1Run);
  // Under a Type=notify unit the app's process itself says READY=1, once everything before its exec succeeded.
  const notifySocket = process.env['NOTIFY_SOCKET'];
  const args = flyRunArgs(spec, mounts, {
    uuid: o.uuid, lockFd: o.lockFd, stdinNull: !o.options.interactive,
    ...(notifySocket !== undefined && notifySocket !== '' ? { notifySocket } : {}),
  });
  const env = spec.environment.map(([k, v]) => `${k}=${v}`);
  trace('fly stage1 exec');
  await o.beforeExec?.();
  let cause: unknown;
  const cwd = process.cwd();
  try {
    process.chdir(o.pod);
    nativeAddon().execve(entrypoint, [entrypoint, ...args], env, [o.lockFd]);
  } catch (err) {
    cause = err;
  }
  try { process.chdir(cwd); } catch { /* where rkt was is gone: nothing more is read relative to it */ }
  closePodDir(o.lockFd);
  await writeTimestamp(o.pod, layout.EXITED_FILE, new Date()).catch((err: unknown) => trace(`cannot record the pod's exit time: ${describe(err)}, ignoring`));
  if (cause instanceof RktError) throw cause;
  throw new RktError('ELAUNCH', `cannot start the pod: cannot run the fly stage1 entrypoint ${entrypoint}: ${describe(cause)}`, {
    cause, hint: 'the stage1 tree in the store is damaged: "rkt image verify" repairs it',
  });
}
