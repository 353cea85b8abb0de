/**
 * The systemd units stage0 writes into a pod's stage1 tree (`/etc/systemd/system/`): one service per app, a
 * reaper per app that records its exit status and ends the pod, and the pod's default.target. Pure: data in,
 * unit-file text out (golden-tested in tests/unit/stage1/).
 */

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
  /** Where the app's volumes are mounted inside its root (kept mounted until its post-stop handlers ran). */
  readonly volumeTargets?: readonly string[];
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

/** The service unit of one app. */
export function renderAppUnit(app: AppUnitSpec): string {
  const lines = [
    '[Unit]',
    `Description=Application=${app.name} Image=${app.imageName}`,
    'DefaultDependencies=no',
    `Wants=reaper-${app.name}.service`,
    `After=reaper-${app.name}.service`,
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
    lines.push('StandardInput=null', `StandardOutput=file:${IO_DIR_IN_STAGE1}/stdout`, `StandardError=file:${IO_DIR_IN_STAGE1}/stderr`);
  }
  lines.push(`SyslogIdentifier=${app.name}`, 'KillMode=mixed', 'TimeoutStopSec=10s', '');
  return lines.join('\n');
}

/** The reaper of one app: when the app's service stops (for any reason), record its status and maybe end the pod. */
export function renderReaperUnit(app: string): string {
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
    'ExecStart=/usr/bin/busybox true',
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
    files.set(`reaper-${a.name}.service`, renderReaperUnit(a.name));
  }
  return files;
}
