/**
 * How stage0 starts a pod's stage1: the systemd-nspawn arguments (handed to the stage1 image's `run`
 * entrypoint) and the command line of the launcher that prepares the pod's mounts and cgroups first. Pure
 * functions.
 */
import { overlayOptions, type OverlayMount } from './overlay.js';

/**
 * How the pod is placed, the one switch between the three cases:
 * - `raw`: no systemd as PID 1: nspawn keeps the caller's (own, per-pod) cgroup and registers nowhere;
 * - `in-unit`: rkt is a service's main process: the pod stays in that unit (its resource settings apply)
 *   and is registered with machined;
 * - `scope`: systemd is PID 1 and rkt runs from a shell: nspawn has machined make it a scope in `slice`.
 */
export type LaunchMode =
  | { readonly kind: 'raw' }
  | { readonly kind: 'in-unit' }
  | { readonly kind: 'scope'; readonly slice: string; readonly properties: readonly string[] };

export interface NspawnSpec {
  readonly uuid: string;
  readonly stage1Root: string;
  readonly hostname: string;
  /** `pod`: the pod's own network namespace, made by stage0 (src/net), at `netnsPath`. */
  readonly net: 'host' | 'none' | 'pod';
  /** With `net: 'pod'`: the namespace file nspawn joins. */
  readonly netnsPath?: string;
  readonly interactive: boolean;
  readonly debug: boolean;
  readonly mode: LaunchMode;
  /**
   * rkt was started with a NOTIFY_SOCKET (a `Type=notify` unit): nspawn passes READY=1 on only once the pod's
   * systemd has started every app, instead of as soon as the container exists.
   */
  readonly notifyReady?: boolean;
  /** Capabilities the pod's stage1 gets beyond nspawn's default set, for apps that retain them. */
  readonly capabilities?: readonly string[];
  /** Host directories bound into the stage1 tree (status dir, volumes). */
  readonly binds: readonly { readonly source: string; readonly target: string; readonly readOnly: boolean }[];
  /**
   * `--private-users`: the pod's own user namespace, its UID/GID 0 being `base` on the host (`range` IDs).
   * nspawn shifts the pod's trees to it (`--private-users-ownership=chown`; overlay mounts with metacopy=on,
   * so only the inodes' metadata is copied up).
   */
  readonly privateUsers?: IdShift;
}

/** A user namespace's ID mapping: IDs 0…range-1 inside are base…base+range-1 on the host. */
export interface IdShift {
  readonly base: number;
  readonly range: number;
}

/** The machine name of a pod, as machined and journalctl -M know it. */
export function machineName(uuid: string): string {
  return `rkt-${uuid}`;
}

function bindArg(b: { source: string; target: string; readOnly: boolean }): string {
  const esc = (p: string) => p.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  return `${b.readOnly ? '--bind-ro' : '--bind'}=${esc(b.source)}:${esc(b.target)}`;
}

/** The argv (without the program) of the stage1's systemd-nspawn for a pod. */
export function nspawnArgs(s: NspawnSpec): string[] {
  const args = [
    '--boot',
    '--quiet',
    `--directory=${s.stage1Root}`,
    `--machine=${machineName(s.uuid)}`,
    `--uuid=${s.uuid}`,
    `--hostname=${s.hostname}`,
    // With a host systemd the pod's journal lives in the host's /var/log/journal/<machine-id>, bound into the
    // pod (try-host: a guest-side journal would sit in the stage1 overlay, which only the launcher's mount
    // namespace sees, and would go with the pod).
    s.mode.kind === 'raw' ? '--link-journal=no' : '--link-journal=try-host',
    s.interactive ? '--console=interactive' : '--console=pipe',
  ];
  if (s.mode.kind === 'raw') args.push('--keep-unit', '--register=no');
  else if (s.mode.kind === 'in-unit') args.push('--keep-unit', '--register=yes');
  else {
    args.push('--register=yes', `--slice=${s.mode.slice}`);
    for (const p of s.mode.properties) args.push(`--property=${p}`);
  }
  if (s.net === 'none') args.push('--private-network');
  // With a user namespace of its own, nspawn would join the pod's network namespace from inside it, which the
  // kernel refuses (the namespace belongs to the host's user namespace): the launcher joins it instead.
  if (s.net === 'pod' && s.netnsPath !== undefined && s.privateUsers === undefined) args.push(`--network-namespace-path=${s.netnsPath}`);
  if (s.notifyReady === true) args.push('--notify-ready=yes');
  if (s.privateUsers !== undefined) args.push(`--private-users=${s.privateUsers.base}:${s.privateUsers.range}`, '--private-users-ownership=chown');
  if ((s.capabilities ?? []).length > 0) args.push(`--capability=${(s.capabilities ?? []).join(',')}`);
  for (const b of s.binds) args.push(bindArg(b));
  args.push('--', s.debug ? '--log-target=console' : '--log-target=null', '--show-status=no');
  if (s.debug) args.push('--log-level=info');
  return args;
}

/** The launcher's exit status when a step before stage1 fails (it has said which on stderr): rkt's own failure. */
export const LAUNCHER_FAILED = 254;


export interface LauncherSpec {
  /**
   * Directory of the pod's stdout/stderr FIFOs (bound into the stage1 as /rkt/io): apps write there, and the
   * launcher's relay copies them to the stdout and stderr rkt was given, whatever they are.
   */
  readonly ioDir?: string;
  /** cgroup directories (one per mounted hierarchy) to move into, so concurrent pods do not collide. */
  readonly cgroups: readonly string[];
  readonly overlays: readonly OverlayMount[];
  /** The stage1 image's run entrypoint (absolute path on the host). */
  readonly entrypoint: string;
  /**
   * Give nspawn a private /run/systemd/nspawn: where /run is not a tmpfs (no host systemd) nspawn refuses to
   * clean its propagation directory there and says so on every run.
   */
  readonly privateNspawnRun?: boolean;
  /**
   * `--private-users`: the host UID/GID of the pod's root. The output FIFOs are given to it (the pod's root
   * opens them), and the overlays are mounted with `metacopy=on`, so that nspawn's shift of their owners
   * copies up metadata, not file contents.
   */
  readonly rootId?: number;
  /**
   * A network namespace the launcher joins before it execs the entrypoint (nspawn then stays in it): for a pod
   * network with `--private-users`, where nspawn cannot join it itself.
   */
  readonly netns?: string;
}

/**
 * The command line (without the program) of the launcher, build/rkt-launch (src/launcher/rkt-launch.c): one
 * static process that makes itself a private mount namespace (so the pod's overlay mounts vanish with it),
 * makes the output FIFOs and starts their relay, joins the pod's own cgroups, makes the mounts, then execs
 * the stage1 run entrypoint with `entrypointArgs` (the nspawn argv) — the same PID from start to end, so the
 * pod lock fd inherited from stage0 stays held exactly as long as the pod lives. The launcher takes its steps
 * in a fixed order (see its source); a failing one is `rkt: cannot start the pod: …` and exit 254.
 */
export function launcherArgs(s: LauncherSpec, entrypointArgs: readonly string[]): string[] {
  const args: string[] = [];
  if (s.ioDir !== undefined) args.push('--io', s.ioDir);
  if (s.rootId !== undefined) args.push('--root-id', String(s.rootId));
  for (const cg of s.cgroups) args.push('--cgroup', cg);
  if (s.privateNspawnRun === true) args.push('--private-nspawn-run');
  // Each lower dir is checked first, so that a removed image is said as such rather than as a failed mount.
  for (const o of s.overlays) for (const l of o.lower) args.push('--image-tree', l);
  for (const o of s.overlays) {
    args.push('--overlay', overlayOptions(o, s.rootId !== undefined), o.target);
  }
  if (s.netns !== undefined) args.push('--netns', s.netns);
  args.push('--', s.entrypoint, ...entrypointArgs);
  return args;
}
