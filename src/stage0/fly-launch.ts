/**
 * Launching a fly pod: the fly stage1's `run` entrypoint (from the stage1 image's tree in the store) with the
 * argv src/stage1/fly.ts builds, the app's environment as its own and the pod lock on fd 3. It execs its way
 * to the app, so the process spawned here is the pod for its whole life: its pid is recorded at once, the
 * lock is held as long as the app lives (also if rkt run dies), and its exit status is the app's.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, RktError } from '../common/errors.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { trace } from '../common/trace.js';
import type { PodManifest } from '../image/pod-manifest.js';
import * as layout from '../pod/layout.js';
import { closePodDir } from '../pod/lock.js';
import { writeTimestamp } from '../pod/pods.js';
import type { Store } from '../store/store.js';
import { overlayPath } from '../stage1/launch.js';
import { FLY_STATUS_FD, flyPostStopArgs, flyRunArgs, type FlyAppSpec, type FlyMounts } from '../stage1/fly.js';
import { readFlySpec } from './fly-pod.js';
import type { PodOptions } from './prepare.js';
import { volumeBinds } from './prepare.js';
import { podOverlays } from './run.js';

export interface FlyLaunchOptions {
  readonly store: Store;
  readonly pod: string;
  readonly uuid: string;
  readonly manifest: PodManifest;
  readonly options: PodOptions;
  /** The open pod directory whose flock is held; handed to the app and closed here. */
  readonly lockFd: number;
  /** Called with a function that asks the pod to stop (SIGTERM/SIGINT to rkt run): SIGTERM to the app. */
  readonly onStopRequest?: (stop: () => void) => void;
}

/** The app's exit status as a shell reports it: its code, or 128+N for a signal. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal === null ? 0 : (osConstants.signals as Record<string, number>)[signal] ?? 0);
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
  return { root, binds, overlay: `lowerdir=${o.lower.map(overlayPath).join(':')},upperdir=${overlayPath(o.upper)},workdir=${overlayPath(o.work)}` };
}

/**
 * Run the fly pod in `o.pod` (in run/, locked by `o.lockFd`) and wait for its app. Returns the app's exit
 * status (recorded as `status/<app>`); a failure before the app's exec (mounts, user, working directory, exec,
 * a pre-start handler) is an ESTAGE1 error (254) with the entrypoint's reason, and no status is recorded.
 * Post-stop handlers, if any, run after the app (the lock is kept until they are done).
 */
export async function launchFlyPod(o: FlyLaunchOptions): Promise<number> {
  let lockOpen = true;
  const closeLock = () => { if (lockOpen) { lockOpen = false; closePodDir(o.lockFd); } };
  let spec: FlyAppSpec | undefined;
  let mounts: FlyMounts;
  try {
    spec = await readFlySpec(o.pod);
    if (spec === undefined) throw new RktError('EPODCORRUPT', `pod ${o.uuid} was prepared for the fly stage1 but has no ${path.join(o.pod, 'fly.json')}`, { hint: 'remove the pod (rkt rm) and prepare it again' });
    mounts = flyMounts(o.store, o.pod, o.manifest, o.options);
  } catch (err) {
    closeLock();
    throw err;
  }
  const app = spec;
  const entrypoint = path.join(o.store.layout.tree(o.options.stage1Id), 'rootfs', o.options.stage1Run);
  // Under a Type=notify unit the app's process itself says READY=1, once everything before its exec succeeded.
  const notifySocket = process.env['NOTIFY_SOCKET'];
  const child = spawn(entrypoint, flyRunArgs(app, mounts, notifySocket !== undefined && notifySocket !== '' ? { notifySocket } : {}), {
    cwd: o.pod,
    env: Object.fromEntries(app.environment),
    stdio: [o.options.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit', o.lockFd, 'pipe'],
  });
  // With post-stop handlers the pod stays locked (running) until they have run; otherwise only the app holds it.
  if (app.postStop.length === 0) closeLock();
  trace('fly stage1 launched');
  const statusPipe = child.stdio[FLY_STATUS_FD] as import('node:stream').Readable | null | undefined;
  let failure = '';
  const execDone = new Promise<void>((resolve) => {
    if (statusPipe === null || statusPipe === undefined) { resolve(); return; }
    statusPipe.setEncoding('utf8').on('data', (s: string) => { failure += s; }).on('close', () => resolve()).on('error', () => resolve());
  });
  let done = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', (err) => { done = true; reject(new RktError('ELAUNCH', `cannot start the pod: cannot run the fly stage1 entrypoint ${entrypoint}: ${describe(err)}`, { cause: err, hint: 'the stage1 tree in the store is damaged: "rkt image verify" repairs it' })); });
    child.on('exit', (code, signal) => { done = true; resolve({ code, signal }); });
  });
  o.onStopRequest?.(() => { if (!done && child.pid !== undefined) process.kill(child.pid, 'SIGTERM'); });
  try {
    // The pid and the app's status, as the timestamps (src/pod/pods.ts writeTimestamp): atomic, not fsynced.
    if (child.pid !== undefined) await writeFileAtomic(path.join(o.pod, layout.PID_FILE), `${child.pid}\n`, 0o644, false);
    await Promise.race([execDone, exit.then(() => undefined, () => undefined)]);
    await execDone;
    if (failure === '') {
      trace('fly app exec\'d');
      await writeTimestamp(o.pod, layout.STARTED_FILE, new Date());
    }
    const { code, signal } = await exit;
    if (failure !== '') {
      throw new RktError('ESTAGE1', `pod ${o.uuid} failed before its app started: ${failure.trim()}`);
    }
    const status = exitStatus(code, signal);
    await writeFileAtomic(layout.appStatusFile(o.pod, app.app), `${status}\n`, 0o644, false);
    if (app.postStop.length > 0) await runPostStop(entrypoint, app, mounts, o.pod);
    return status;
  } finally {
    closeLock();
    trace('pod exited');
    await writeTimestamp(o.pod, layout.EXITED_FILE, new Date())
      .catch((err: unknown) => trace(`cannot record the pod's exit time: ${describe(err)}, ignoring`));
  }
}

/** The post-stop handlers, as root in the app's root (mounted again: the app's namespace went with it). */
async function runPostStop(entrypoint: string, app: FlyAppSpec, mounts: FlyMounts, pod: string): Promise<void> {
  const child = spawn(entrypoint, flyPostStopArgs(app, mounts), { cwd: pod, env: Object.fromEntries(app.environment), stdio: ['ignore', 'inherit', 'inherit'] });
  await new Promise<void>((resolve) => {
    child.on('error', (err) => { trace(`cannot run the post-stop handlers of app ${app.app}: ${describe(err)}, ignoring`); resolve(); });
    child.on('exit', () => resolve());
  });
}
