/**
 * The systemd units stage0 writes into a pod's stage1 tree (`/etc/systemd/system/`): one service per app, a
 * reaper per app that records its exit status and ends the pod, and the pod's default.target. Pure: data in,
 * unit-file text out (golden-tested in tests/unit/stage1/).
 */

import { isolationDirectives, podProtection, type AppIsolation, type PodProtection } from './isolation.js';

/** Everything a pod's unit needs to know about one app, fully resolved by stage0. */
export interface AppUnitSpec {
  /** AC Name: also the unit's name (`<name>.service`) and the journal identifier. */
  readonly name: string;
  readonly imageName: string;
  readonly exec: readonly string[];
  readonly uid: number;
  readonly gid: number;
  readonly supplementaryGids: readonly number[];
  readonly workingDirectory: string;
  /** The final environment, in order (later entries win). */
  readonly environment: readonly (readonly [string, string])[];
  readonly preStart: readonly (readonly string[])[];
  readonly postStop: readonly (readonly string[])[];
  /** stdin and the terminal are passed through (`rkt run --interactive`, one app). */
  readonly interactive: boolean;
  /**
   * Also log the app's output to the pod's journal (copier units, journald): only worth its cost (≈50 ms and
   * ≈9 MiB per pod) where the host has systemd to read that journal; without, output goes straight to rkt run.
   */
  readonly journal?: boolean;
  /** Where the app's volumes are mounted inside its root (kept mounted until its post-stop handlers ran). */
  readonly volumeTargets?: readonly string[];
  /** Capabilities, seccomp, protected paths, devices, resources, read-only root (see isolation.ts). */
  readonly isolation?: AppIsolation;
}

/** Where, inside the stage1 tree, an app's root filesystem is mounted. */
export function appRootInStage1(app: string): string {
  return `/opt/stage2/${app}/rootfs`;
}

/** The FIFOs apps write their stdout and stderr to (bound from the pod directory's io/). */
export const IO_DIR_IN_STAGE1 = '/rkt/io';

/** Where stage1 records exit statuses (bound from the pod directory's status/). */
export const STATUS_DIR_IN_STAGE1 = '/rkt/status';

/**
 * One argument of an Exec*= line: always double-quoted, with `\` and `"` escaped, `$` doubled (no variable
 * expansion) and `%` doubled (no specifiers). Control characters are written as C escapes.
 */
export function quoteExecArg(arg: string): string {
  return `"${escapeUnitString(arg).replace(/\$/g, '$$$$')}"`;
}

function escapeUnitString(s: string): string {
  return s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/%/g, '%%')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    // eslint-disable-next-line no-control-regex
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A path in a space-separated unit setting: spaces and specifiers escaped. */
function unitPath(p: string): string {
  return p.replace(/\\/g, '\\\\').replace(/ /g, '\\x20').replace(/%/g, '%%');
}

/** A whole command line for an Exec*= setting. */
export function execLine(argv: readonly string[]): string {
  return argv.map(quoteExecArg).join(' ');
}

/** `Environment="K=V"`: quoted, `%` doubled; `$` is not expanded in Environment= so it stays as it is. */
export function environmentLine(name: string, value: string): string {
  return `Environment="${escapeUnitString(`${name}=${value}`)}"`;
}

/** The output streams of an app that reach both rkt run (through /rkt/io) and the pod's journal. */
export const APP_STREAMS = ['stdout', 'stderr'] as const;
export type AppStream = (typeof APP_STREAMS)[number];

/** Where, inside the stage1 (its /run), the FIFO an app writes one stream to is. */
export function appStreamFifo(app: string, stream: AppStream): string {
  return `/run/rkt/io/${app}.${stream}`;
}

/** The unit name of the copier of one app's stream (`io-stdout-<app>.service`). */
export function ioUnitName(app: string, stream: AppStream): string {
  return `io-${stream}-${app}.service`;
}

/** The service unit of one app. */
export function renderAppUnit(app: AppUnitSpec): string {
  // A non-interactive app's stdout and stderr go through a copier unit each (journal + /rkt/io): require them,
  // and start after them (their FIFOs exist once they have started).
  const io = app.interactive || app.journal !== true ? [] : APP_STREAMS.map((st) => ioUnitName(app.name, st));
  const lines = [
    '[Unit]',
    `Description=Application=${app.name} Image=${app.imageName}`,
    'DefaultDependencies=no',
    `Wants=reaper-${app.name}.service`,
    // Required: without its copiers the app would block opening its output FIFOs forever.
    ...(io.length > 0 ? [`Requires=${io.join(' ')}`] : []),
    `After=${[`reaper-${app.name}.service`, ...io].join(' ')}`,
    // Keep the app's root, its output FIFOs and the status dir mounted until it and its handlers are done.
    `RequiresMountsFor=${[appRootInStage1(app.name), IO_DIR_IN_STAGE1, STATUS_DIR_IN_STAGE1,
      ...(app.volumeTargets ?? []).map((t) => `${appRootInStage1(app.name)}${t.startsWith('/') ? '' : '/'}${t}`)].map(unitPath).join(' ')}`,
    // Stopped in order when the pod shuts down (rkt stop, systemctl exit), so ExecStopPost= handlers run.
    'Conflicts=shutdown.target',
    'Before=shutdown.target',
    '',
    '[Service]',
    'Type=simple',
    'Restart=no',
    `RootDirectory=${appRootInStage1(app.name)}`,
    'MountAPIVFS=yes',
    `WorkingDirectory=${app.workingDirectory}`,
    `User=${app.uid}`,
    `Group=${app.gid}`,
  ];
  if (app.supplementaryGids.length > 0) lines.push(`SupplementaryGroups=${app.supplementaryGids.join(' ')}`);
  for (const [k, v] of app.environment) lines.push(environmentLine(k, v));
  // Event handlers run as root ("+"), still inside the app's root: pre-start before the app, post-stop after.
  for (const h of app.preStart) lines.push(`ExecStartPre=+${execLine(h)}`);
  lines.push(`ExecStart=${execLine(app.exec)}`);
  for (const h of app.postStop) lines.push(`ExecStopPost=+${execLine(h)}`);
  if (app.interactive) {
    lines.push('StandardInput=tty-force', 'StandardOutput=tty', 'StandardError=tty', 'TTYPath=/dev/console');
  } else {
    lines.push('StandardInput=null', ...(io.length > 0
      ? [`StandardOutput=file:${appStreamFifo(app.name, 'stdout')}`, `StandardError=file:${appStreamFifo(app.name, 'stderr')}`]
      : [`StandardOutput=file:${IO_DIR_IN_STAGE1}/stdout`, `StandardError=file:${IO_DIR_IN_STAGE1}/stderr`]));
  }
  if (app.isolation !== undefined) lines.push(...isolationDirectives(app.isolation));
  lines.push(`SyslogIdentifier=${app.name}`, 'KillMode=mixed', 'TimeoutStopSec=10s', '');
  return lines.join('\n');
}

/**
 * The copier of one stream of an app: it makes the FIFO the app writes that stream to, then (stage1 helper
 * `/rkt/iotee`) copies every byte to the pod's `/rkt/io/<stream>` (relayed by stage0 to rkt run's own
 * stdout or stderr) and to its own stdout, which is the pod's journal under the app's identifier (priority
 * info for stdout, err for stderr). Ordered before the app, so it stops after the app and its post-stop
 * handlers, draining the FIFO first. Pulls in the pod's journald.
 */
export function renderIoUnit(app: string, stream: AppStream): string {
  const fifo = unitPath(appStreamFifo(app, stream));
  return [
    '[Unit]',
    `Description=${stream} of ${app} to rkt run and the journal`,
    'DefaultDependencies=no',
    'Wants=systemd-journald.socket systemd-journald.service',
    'After=systemd-journald.socket',
    `Before=${app}.service`,
    `RequiresMountsFor=${IO_DIR_IN_STAGE1}`,
    'Conflicts=shutdown.target',
    'Before=shutdown.target',
    '',
    '[Service]',
    'Type=simple',
    'ExecStartPre=/usr/bin/busybox mkdir -p /run/rkt/io',
    `ExecStartPre=/usr/bin/busybox mkfifo -m 0600 ${fifo}`,
    `ExecStart=/rkt/iotee ${fifo} ${IO_DIR_IN_STAGE1}/${stream}`,
    'StandardInput=null',
    'StandardOutput=journal',
    'StandardError=null',
    `SyslogIdentifier=${app}`,
    `SyslogLevel=${stream === 'stdout' ? 'info' : 'err'}`,
    'SyslogLevelPrefix=no',
    'KillMode=mixed',
    'TimeoutStopSec=10s',
    '',
  ].join('\n');
}

/**
 * The reaper of one app: when the app's service stops (for any reason), record its status and maybe end the
 * pod. Before the app starts, it sets up the pod's protected paths (`protection`, once per pod) and leaves
 * the app's started mark.
 */
export function renderReaperUnit(app: string, protection?: PodProtection): string {
  const protect = protection === undefined ? '' : [
    ...protection.readOnly.map((p) => ` --read-only ${unitPath(p)}`),
    ...protection.inaccessible.map((p) => ` --inaccessible ${unitPath(p)}`),
  ].join('');
  return [
    '[Unit]',
    `Description=Exit status recorder for ${app}`,
    'DefaultDependencies=no',
    `BindsTo=${app}.service`,
    `Before=${app}.service`,
    `RequiresMountsFor=${STATUS_DIR_IN_STAGE1}`,
    'Conflicts=shutdown.target',
    'Before=shutdown.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    // Leaves /rkt/status/.started-<app>, the mark that the pod got as far as its apps: stage0 tells a stage1
    // failure from an app's status by it.
    `ExecStart=/rkt/reaper --started ${app}${protect}`,
    `ExecStop=/rkt/reaper ${app}`,
    '',
  ].join('\n');
}

/** The pod's default.target: it wants every app. */
export function renderPodTarget(apps: readonly string[]): string {
  return [
    '[Unit]',
    'Description=rkt pod',
    `Wants=${apps.map((a) => `${a}.service`).join(' ')}`,
    '',
  ].join('\n');
}

/** Every unit file of a pod: file name → text. */
export function renderPodUnits(apps: readonly AppUnitSpec[]): Map<string, string> {
  const files = new Map<string, string>();
  files.set('default.target', renderPodTarget(apps.map((a) => a.name)));
  for (const a of apps) {
    files.set(`${a.name}.service`, renderAppUnit(a));
    const protection = a.isolation === undefined ? undefined : podProtection(a.isolation);
    files.set(`reaper-${a.name}.service`, renderReaperUnit(a.name, protection));
    if (!a.interactive && a.journal === true) for (const st of APP_STREAMS) files.set(ioUnitName(a.name, st), renderIoUnit(a.name, st));
  }
  return files;
}
