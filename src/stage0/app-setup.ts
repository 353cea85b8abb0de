/**
 * Per-app facts stage0 works out before writing units: the ACE environment, numeric user and group, and
 * whether the exec exists in the image. File lookups happen inside the app's rootfs with symlinks resolved
 * against that root, never the host's. The file system calls are synchronous: a few small lookups per app,
 * where a thread-pool round trip would cost more than the call (src/common/fs-atomic.ts).
 */
import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { isErrno, RktError, UsageError } from '../common/errors.js';
import type { RootLookup } from '../store/oci-lowers.js';

export const ACE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface EnvSources {
  readonly app: string;
  /** The caller's environment, when --inherit-env. */
  readonly inherited?: Readonly<Record<string, string | undefined>>;
  readonly image: readonly { readonly name: string; readonly value: string }[];
  readonly setEnvFile: readonly (readonly [string, string])[];
  readonly setEnv: readonly (readonly [string, string])[];
  readonly appEnvironment: readonly (readonly [string, string])[];
}

/**
 * The app's environment, lowest precedence first: the caller's (with --inherit-env), the ACE defaults (PATH,
 * AC_APP_NAME, container=rkt), the image's, --set-env-file, --set-env, then the app's --environment. Later
 * wins; the result keeps first-appearance order.
 */
export function aceEnvironment(s: EnvSources): [string, string][] {
  const env = new Map<string, string>();
  for (const [k, v] of Object.entries(s.inherited ?? {})) if (v !== undefined) env.set(k, v);
  env.set('PATH', ACE_PATH);
  env.set('AC_APP_NAME', s.app);
  env.set('container', 'rkt');
  for (const e of s.image) env.set(e.name, e.value);
  for (const [k, v] of s.setEnvFile) env.set(k, v);
  for (const [k, v] of s.setEnv) env.set(k, v);
  for (const [k, v] of s.appEnvironment) env.set(k, v);
  // AC_APP_NAME is the runtime's to set.
  env.set('AC_APP_NAME', s.app);
  return [...env];
}

/** `K=V` as --set-env and --environment take it. */
export function parseAssignment(flag: string, s: string): [string, string] {
  const eq = s.indexOf('=');
  const name = eq === -1 ? '' : s.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`bad ${flag} "${s}": want NAME=VALUE with NAME a valid variable name`);
  return [name, s.slice(eq + 1)];
}

/** The lines of an environment file (`K=V`, `#` comments and blank lines skipped). */
export function parseEnvFile(file: string, text: string): [string, string][] {
  const out: [string, string][] = [];
  text.split('\n').forEach((line, i) => {
    const l = line.trim();
    if (l === '' || l.startsWith('#')) return;
    try {
      out.push(parseAssignment('--set-env-file', l));
    } catch (err) {
      throw new UsageError(`${file}:${i + 1}: bad line "${l}": want NAME=VALUE`, { cause: err });
    }
  });
  return out;
}

/**
 * Walk `p` (absolute, as seen inside the app) inside `root`, following symlinks as the app would see them:
 * absolute targets restart at `root`, `..` never climbs above it. Stops at the first component that does not
 * exist: `found` holds the components resolved (in the root's terms), `missing` what is left of the path as
 * written from there (empty when the whole path exists). A loop of links is an error.
 */
async function walkInRoot(root: string | RootLookup, p: string, depth = 0): Promise<{ found: string[]; missing: string[] }> {
  if (depth > 40) throw new RktError('ESYMLINKLOOP', `too many levels of symbolic links resolving ${p}`);
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  const found: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    if (part === '..') { found.pop(); continue; }
    const host = typeof root === 'string' ? path.join(root, ...found, part) : await root([...found, part].join('/'));
    let st;
    try {
      st = host === undefined ? undefined : lstatSync(host);
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
    }
    if (host === undefined || st === undefined) return { found, missing: parts.slice(i) };
    if (st.isSymbolicLink()) {
      const target = readlinkSync(host);
      const rest = parts.slice(i + 1).join('/');
      return walkInRoot(root, target.startsWith('/') ? `${target}/${rest}` : `/${[...found, target, rest].join('/')}`, depth + 1);
    }
    found.push(part);
  }
  return { found, missing: [] };
}

/**
 * Resolve `p` to a host path inside `root` as the app would (walkInRoot), or undefined when a component does
 * not exist. `root` is a directory, or a lookup through an OCI image's layers (oci-lowers.ts).
 */
export async function resolveInRoot(root: string | RootLookup, p: string): Promise<string | undefined> {
  const { found, missing } = await walkInRoot(root, p);
  if (missing.length > 0) return undefined;
  return typeof root === 'string' ? path.join(root, ...found) : root(found.join('/'));
}

/**
 * Where `p` is inside `root` once every symlink on the way is followed as the app would follow it (chrooted:
 * absolute targets and `..` stay inside the root): an absolute path in the root's terms. The part that does
 * not exist yet is kept as written (`..` in it taken lexically). So a mount point `/data` that an image makes
 * a symlink to `../../../../etc` is the app's own `/etc`, never a path above its root.
 */
export async function resolvePathInRoot(root: string | RootLookup, p: string): Promise<string> {
  const { found, missing } = await walkInRoot(root, p);
  return path.posix.join('/', ...found, ...missing);
}

interface Entry { readonly name: string; readonly id: number }

/** Entries of an /etc/passwd or /etc/group text: name and numeric id (third field). */
export function parseIdFile(text: string): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#')) continue;
    const id = Number(f[2]);
    if (f[0] !== undefined && f[0] !== '' && Number.isInteger(id) && id >= 0) out.push({ name: f[0], id });
  }
  return out;
}

/**
 * The numeric id for an app's `user` or `group` as appc allows it: a number; a name looked up in the image's
 * own /etc/passwd or /etc/group; or an absolute path, meaning the owner (group) of that file in the image.
 */
export async function resolveId(kind: 'user' | 'group', spec: string, rootfs: string | RootLookup, app: string): Promise<number> {
  if (/^\d+$/.test(spec)) return Number(spec);
  if (spec.startsWith('/')) {
    const host = await resolveInRoot(rootfs, spec);
    if (host === undefined) throw new RktError('EAPP', `app ${app}: ${kind} "${spec}": no such file in the image`);
    const st = statSync(host);
    return kind === 'user' ? st.uid : st.gid;
  }
  const file = kind === 'user' ? '/etc/passwd' : '/etc/group';
  const host = await resolveInRoot(rootfs, file);
  const text = host === undefined ? '' : readFileSync(host, 'utf8');
  const found = parseIdFile(text).find((e) => e.name === spec);
  if (found === undefined) throw new RktError('EAPP', `app ${app}: ${kind} "${spec}" not found in the image's ${file}`);
  return found.id;
}

/** Fail, with rkt's words, if the app's executable is not in its image. */
export async function checkExec(rootfs: string | RootLookup, exec: string, imageName: string): Promise<void> {
  if (!exec.startsWith('/')) throw new RktError('EAPP', `exec ${exec}: not an absolute path (image ${imageName})`);
  const host = await resolveInRoot(rootfs, exec);
  if (host === undefined) throw new RktError('EAPP', `exec ${exec}: no such file in image ${imageName}`);
  const st = statSync(host);
  if (!st.isFile() || (st.mode & 0o111) === 0) throw new RktError('EAPP', `exec ${exec}: not an executable file in image ${imageName}`);
}
