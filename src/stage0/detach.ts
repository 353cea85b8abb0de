/**
 * `rkt run --detach`: a prepared pod run by systemd as the transient service `rkt-<uuid>.service`, whose main
 * process is `rkt run-prepared <uuid>` (so the pod is in that unit and registered with machined, as under
 * `systemd-run rkt run`). rkt returns once systemd has queued the start.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RktError } from '../common/errors.js';
import type { TransientServiceProps } from '../systemd/dbus.js';

/** Refuse --detach where systemd is not PID 1, before anything is prepared. */
export async function checkDetachPossible(): Promise<void> {
  const { systemdBooted } = await import('../systemd/detect.js');
  if (!(await systemdBooted())) {
    throw new RktError('ENOSYSTEMD', '--detach needs systemd as PID 1 (no /run/systemd/system here): it runs the pod as a systemd service', {
      hint: 'run the pod in the foreground, or under a supervisor of your own',
    });
  }
}

/** The transient service's properties and command line. Pure. */
export function detachedService(uuid: string, node: string, rkt: string, globals: { dir: string; debug: boolean; systemConfig?: string; localConfig?: string }, slice?: string): { name: string; argv: string[]; props: TransientServiceProps } {
  const argv = [node, rkt, `--dir=${globals.dir}`];
  if (globals.systemConfig !== undefined) argv.push(`--system-config=${globals.systemConfig}`);
  if (globals.localConfig !== undefined) argv.push(`--local-config=${globals.localConfig}`);
  if (globals.debug) argv.push('--debug');
  argv.push('run-prepared', uuid);
  return {
    name: `rkt-${uuid}.service`,
    argv,
    props: {
      description: `rkt pod ${uuid}`,
      type: 'exec',
      // SIGTERM to rkt only (systemctl stop): it stops the pod gracefully, then systemd kills what is left.
      killMode: 'mixed',
      slice: slice ?? 'machine.slice',
      delegate: true,
      // rkt run-prepared stopped by SIGTERM exits 143 (the apps' 128+15).
      successExitStatus: [143],
    },
  };
}

/** The rkt entry point this process runs (the bundle's dist/bin/rkt.js, or tsc's next to it). */
export function rktScript(): string {
  for (const rel of ['../rkt.js', './rkt.js', '../bin/rkt.js', '../../bin/rkt.js']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new RktError('EDETACH', 'cannot find the rkt entry point (dist/bin/rkt.js) to start the pod with');
}

/** Start the prepared pod `uuid` as `rkt-<uuid>.service`. */
export async function startDetached(uuid: string, globals: { dir: string; debug: boolean; systemConfig?: string; localConfig?: string }, slice?: string): Promise<void> {
  const { connectSystemBus } = await import('../systemd/dbus.js');
  const svc = detachedService(uuid, process.execPath, rktScript(), globals, slice);
  const bus = await connectSystemBus();
  try {
    await bus.startTransientService(svc.name, svc.argv, svc.props);
  } finally {
    bus.close();
  }
}
