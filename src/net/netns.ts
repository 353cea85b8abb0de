/**
 * A pod's network namespace as a file in the pod directory: `unshare --net=<file>` creates the namespace and
 * bind-mounts it onto the file, so it outlives every process and `rkt gc` finds it with the pod. The only
 * code that creates or removes namespaces.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RktError, isErrno } from '../common/errors.js';

function run(cmd: string, args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr: stderr.trim() }));
  });
}

/** Mount points of this mount namespace (decoded from /proc/self/mountinfo). */
async function mountPoints(): Promise<Set<string>> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined) out.add(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/** True if `file` is a mount point here (a live bind-mounted namespace). */
export async function isNetnsMounted(file: string): Promise<boolean> {
  const points = await mountPoints();
  if (points.has(file)) return true;
  // mountinfo names the real path: the pod directory may have been reached through a symlink.
  let real: string;
  try {
    real = path.join(await fs.realpath(path.dirname(file)), path.basename(file));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
  return points.has(real);
}

/**
 * Create a new network namespace bound onto `file` (which must not exist) with loopback up. On failure
 * nothing is left: no file, no mount. Throws `ENETNS`.
 */
export async function createNetns(file: string): Promise<void> {
  try {
    await (await fs.open(file, 'wx', 0o444)).close();
  } catch (err) {
    if (isErrno(err, 'EEXIST')) throw new RktError('ENETNS', `cannot create the pod's network namespace: ${file} already exists`);
    throw err;
  }
  let res: { code: number | null; stderr: string };
  try {
    res = await run('unshare', [`--net=${file}`, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await removeNetns(file);
    throw new RktError('ENETNS', `cannot create the pod's network namespace (unshare): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (res.code !== 0) {
    await removeNetns(file);
    throw new RktError('ENETNS', `cannot create the pod's network namespace ${file}: ${res.stderr || `unshare exited ${res.code}`}`);
  }
}

/** Unmount and remove a namespace file made by createNetns. Idempotent: a missing file is fine. */
export async function removeNetns(file: string): Promise<void> {
  for (let i = 0; i < 8 && (await isNetnsMounted(file)); i++) {
    const res = await run('umount', [file]);
    if (res.code !== 0 && (await isNetnsMounted(file))) {
      throw new RktError('ENETNS', `cannot unmount the pod's network namespace ${file}: ${res.stderr}`);
    }
  }
  try {
    await fs.unlink(file);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}
