/**
 * How stage0 starts a fly pod: the arguments of the fly stage1's `run` entrypoint (stage1-image/fly/fly-run.c,
 * Documentation/stage1.md "The fly stage1"). Pure: data in, argv out.
 */

/** Everything the fly `run` entrypoint needs about the pod's one app, resolved by stage0 at prepare time. */
export interface FlyAppSpec {
  readonly app: string;
  readonly exec: readonly string[];
  readonly uid: number;
  readonly gid: number;
  readonly supplementaryGids: readonly number[];
  readonly workingDirectory: string;
  /** The app's whole environment, in order (it is the entrypoint's own environment, passed on by execve). */
  readonly environment: readonly (readonly [string, string])[];
  readonly preStart: readonly (readonly string[])[];
  readonly postStop: readonly (readonly string[])[];
  readonly noNewPrivileges: boolean;
  readonly oomScoreAdjust?: number;
  /** The app's root is read-only (its volumes are not), after the pre-start handlers. */
  readonly readOnlyRootFS?: boolean;
}

/** What the launch adds: rkt's own NOTIFY_SOCKET (a `Type=notify` unit), told READY=1 just before the app's exec. */
export interface FlyLaunchExtras {
  readonly notifySocket?: string;
}

/** Where the app's root comes from and what is bound into it, known when the pod is launched. */
export interface FlyMounts {
  /** The app's root on the host (the pod's `stage1/rootfs/opt/stage2/<app>/rootfs`). */
  readonly root: string;
  /** The overlayfs options of the app's root (lowerdir=…,upperdir=…,workdir=…); none with --no-overlay. */
  readonly overlay?: string;
  /** Volumes: host source, target inside the app, read-only. */
  readonly binds: readonly { readonly source: string; readonly target: string; readonly readOnly: boolean }[];
}

/** The descriptor on which `run` reports a failure before the app's exec (close-on-exec: EOF means exec'd). */
export const FLY_STATUS_FD = 4;

function mountArgs(m: FlyMounts): string[] {
  const args = ['--root', m.root];
  if (m.overlay !== undefined) args.push('--overlay', m.overlay);
  for (const b of m.binds) args.push(b.readOnly ? '--bind-ro' : '--bind', b.source, b.target);
  return args;
}

const handlerArgs = (flag: string, hs: readonly (readonly string[])[]): string[] => hs.flatMap((h) => [flag, String(h.length), ...h]);

/** The argv (without the program) of `run` for the app itself: mounts, pre-start handlers, identity, exec. */
export function flyRunArgs(app: FlyAppSpec, m: FlyMounts, extras: FlyLaunchExtras = {}): string[] {
  return [
    '--status-fd', String(FLY_STATUS_FD),
    ...mountArgs(m),
    ...handlerArgs('--pre-start', app.preStart),
    '--uid', String(app.uid), '--gid', String(app.gid),
    ...(app.supplementaryGids.length > 0 ? ['--groups', app.supplementaryGids.join(',')] : []),
    '--workdir', app.workingDirectory,
    ...(app.noNewPrivileges ? ['--no-new-privileges'] : []),
    ...(app.oomScoreAdjust !== undefined ? ['--oom-score-adj', String(app.oomScoreAdjust)] : []),
    ...(extras.notifySocket !== undefined ? ['--notify-socket', extras.notifySocket] : []),
    ...(app.readOnlyRootFS === true ? ['--read-only-root'] : []),
    '--', ...app.exec,
  ];
}

/** The argv of `run --handlers-only`: the same mounts, then the post-stop handlers (after the app ended). */
export function flyPostStopArgs(app: FlyAppSpec, m: FlyMounts): string[] {
  return [...mountArgs(m), '--workdir', app.workingDirectory, ...handlerArgs('--post-stop', app.postStop), '--handlers-only'];
}
