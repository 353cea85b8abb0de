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

/** What the launch adds: the pod, its lock, its stdin, and rkt's own NOTIFY_SOCKET (a `Type=notify` unit), told READY=1 just before the app's exec. */
export interface FlyLaunchExtras {
  readonly uuid: string;
  /** The descriptor of the pod lock, inherited through the exec (the app gets it on fd 3). */
  readonly lockFd: number;
  /** The app's stdin is /dev/null (no --interactive). */
  readonly stdinNull: boolean;
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

function mountArgs(m: FlyMounts): string[] {
  const args = ['--root', m.root];
  if (m.overlay !== undefined) args.push('--overlay', m.overlay);
  for (const b of m.binds) args.push(b.readOnly ? '--bind-ro' : '--bind', b.source, b.target);
  return args;
}

const handlerArgs = (flag: string, hs: readonly (readonly string[])[]): string[] => hs.flatMap((h) => [flag, String(h.length), ...h]);

/**
 * The argv (without the program) of `run` as stage0 execs it: the pod to supervise (its lock, the app's stdin),
 * mounts, event handlers, identity, exec.
 */
export function flyRunArgs(app: FlyAppSpec, m: FlyMounts, extras: FlyLaunchExtras): string[] {
  return [
    '--pod', extras.uuid, '--app', app.app, '--lock-fd', String(extras.lockFd),
    ...(extras.stdinNull ? ['--stdin-null'] : []),
    ...mountArgs(m),
    ...handlerArgs('--pre-start', app.preStart),
    ...handlerArgs('--post-stop', app.postStop),
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
