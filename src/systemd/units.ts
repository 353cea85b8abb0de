/**
 * Names systemd and machined give a pod, from its UUID. Pure; no D-Bus here (see dbus.ts).
 */

/** The machine name of a pod, as machined, machinectl and journalctl -M know it (as stage1/launch.ts names it). */
export function podMachineName(uuid: string): string {
  return `rkt-${uuid}`;
}

/** The transient service `rkt run --detach` starts a pod in. */
export function podServiceName(uuid: string): string {
  return `rkt-${uuid}.service`;
}

/**
 * systemd's escaping of a string for a unit name element (`systemd-escape`): `/` → `-`, and every byte that
 * is not ASCII alphanumeric, `:`, `_` or a non-leading `.` → `\xNN` (so `-` → `\x2d`).
 */
export function escapeUnitElement(s: string): string {
  let out = '';
  const bytes = Buffer.from(s, 'utf8');
  bytes.forEach((b, i) => {
    const c = String.fromCharCode(b);
    if (c === '/') out += '-';
    else if (/[A-Za-z0-9:_]/.test(c) || (c === '.' && i > 0)) out += c;
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  });
  return out;
}

/** The scope machined makes for a pod run from a shell: `machine-rkt\x2d<uuid>.scope`. */
export function podScopeName(uuid: string): string {
  return `machine-${escapeUnitElement(podMachineName(uuid))}.scope`;
}

/** The UUID of a machine name `rkt-<uuid>`, or undefined for any other machine. */
export function uuidOfMachine(name: string): string | undefined {
  const m = /^rkt-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(name);
  return m?.[1];
}
