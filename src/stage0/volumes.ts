/**
 * `--volume` and `--mount` as users write them, into pod-manifest volumes and mounts; the implicit volumes of
 * unsatisfied mount points. Pure but for copyImageDir (which fills an implicit volume of an OCI image).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isErrno, UsageError } from '../common/errors.js';
import { copyTree } from '../common/fs-tree.js';
import { isAcName } from '../image/names.js';
import type { Volume, Mount } from '../image/pod-manifest.js';
import type { StackLayer } from '../store/oci-lowers.js';
import { resolveInRoot } from './app-setup.js';

function fields(flag: string, s: string, first: 'name' | 'none'): { name?: string; kv: Map<string, string> } {
  const parts = s.split(',');
  const kv = new Map<string, string>();
  let name: string | undefined;
  parts.forEach((p, i) => {
    const eq = p.indexOf('=');
    if (i === 0 && first === 'name' && eq === -1) { name = p; return; }
    if (eq <= 0) throw new UsageError(`bad ${flag} "${s}": "${p}" is not key=value`);
    const k = p.slice(0, eq);
    if (kv.has(k)) throw new UsageError(`bad ${flag} "${s}": "${k}" given twice`);
    kv.set(k, p.slice(eq + 1));
  });
  return name === undefined ? { kv } : { name, kv };
}

function bool(flag: string, k: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new UsageError(`bad ${flag} value ${k}=${v}: want true or false`);
}

/** `NAME,kind=host,source=/abs[,readOnly=true][,recursive=true]` or `NAME,kind=empty[,mode=0755,uid=0,gid=0]`. */
export function parseVolume(s: string): Volume {
  const { name, kv } = fields('--volume', s, 'name');
  if (name === undefined || !isAcName(name)) throw new UsageError(`bad --volume "${s}": it must start with a volume name (lowercase letters, digits, -)`);
  const allowed = new Set(['kind', 'source', 'readOnly', 'recursive', 'mode', 'uid', 'gid']);
  for (const k of kv.keys()) if (!allowed.has(k)) throw new UsageError(`bad --volume "${s}": unknown key "${k}"`);
  const kind = kv.get('kind');
  const readOnly = bool('--volume', 'readOnly', kv.get('readOnly'));
  const recursive = bool('--volume', 'recursive', kv.get('recursive'));
  const opt = { ...(readOnly !== undefined ? { readOnly } : {}), ...(recursive !== undefined ? { recursive } : {}) };
  if (kind === 'host') {
    const source = kv.get('source');
    if (source === undefined || !source.startsWith('/')) throw new UsageError(`bad --volume "${s}": kind=host needs source=/absolute/path`);
    for (const k of ['mode', 'uid', 'gid']) if (kv.has(k)) throw new UsageError(`bad --volume "${s}": ${k} is for kind=empty`);
    return { name, kind: 'host', source, ...opt };
  }
  if (kind === 'empty') {
    if (kv.has('source')) throw new UsageError(`bad --volume "${s}": source is for kind=host`);
    const mode = kv.get('mode') ?? '0755';
    if (!/^[0-7]{1,4}$/.test(mode)) throw new UsageError(`bad --volume "${s}": mode "${mode}" is not octal`);
    const id = (k: string) => {
      const v = kv.get(k) ?? '0';
      if (!/^\d+$/.test(v)) throw new UsageError(`bad --volume "${s}": ${k} "${v}" is not a number`);
      return Number(v);
    };
    return { name, kind: 'empty', mode, uid: id('uid'), gid: id('gid'), ...opt };
  }
  throw new UsageError(`bad --volume "${s}": kind must be host or empty`);
}

/** `volume=NAME,target=/path`. */
export function parseMount(s: string): Mount {
  const { kv } = fields('--mount', s, 'none');
  for (const k of kv.keys()) if (k !== 'volume' && k !== 'target') throw new UsageError(`bad --mount "${s}": unknown key "${k}"`);
  const volume = kv.get('volume');
  const target = kv.get('target');
  if (volume === undefined || target === undefined || !target.startsWith('/')) {
    throw new UsageError(`bad --mount "${s}": want volume=NAME,target=/absolute/path`);
  }
  return { volume, path: target };
}

// ---------------------------------------------------------------------------------------------------------------
// Implicit volumes: a mount point of an image that no volume satisfies gets an empty volume of its own, as in
// rkt 1.x, written into the pod manifest (kind empty, appc's default mode and owner) and kept in the pod's
// directory, so it goes with the pod (rm, gc). An OCI (Docker) image's implicit volume starts with what the
// image has at that path (Docker's semantics for a VOLUME), an ACI's starts empty.

/**
 * The name of the implicit volume of app `app`'s mount point `mountPoint`: `<app>-<mountPoint>`, as rkt 1.x
 * named it (two apps of one image each get their own), with `-2`, `-3`… if a volume of the pod has that name.
 */
export function implicitVolumeName(app: string, mountPoint: string, taken: ReadonlySet<string>): string {
  const base = `${app}-${mountPoint}`;
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

/** The implicit volume named `name`: kind empty with appc's defaults (0755, root:root). */
export function implicitVolume(name: string): Volume {
  return { name, kind: 'empty', mode: '0755', uid: 0, gid: 0 };
}

/** What rkt tells the user about an implicit volume (stderr); `seeded`: it starts with the image's content. */
export function implicitVolumeWarning(app: string, mountPoint: { readonly name: string; readonly path: string }, volume: string, seeded: boolean): string {
  return `warning: no volume given for mount point "${mountPoint.name}" (${mountPoint.path}) of app ${app}: `
    + `made the empty volume "${volume}"${seeded ? `, holding a copy of what the image has at ${mountPoint.path} (an OCI image's volume)` : ''}; `
    + 'it is removed with the pod (give --volume to keep the data)';
}

/** Where an image's root is read from: a directory on disk, or an OCI image's layers (top first) rendered under `scratch`. */
export type ImageRootSource = { readonly tree: string } | { readonly layers: readonly StackLayer[]; readonly scratch: string };

/**
 * Make `to` a copy of the directory `p` (absolute, as the app sees it: symlinks followed inside the image) of an
 * image's root, with the image's owners, modes, links and xattrs, then its owners moved up by `shift` (a pod in
 * a user namespace of its own). `to` is replaced; where the image has no directory at `p` it is left as it is.
 * Images are untrusted: `p` never leads out of the image's root.
 */
export async function copyImageDir(from: ImageRootSource, p: string, to: string, shift = 0): Promise<void> {
  const copy = async (root: string): Promise<boolean> => {
    const src = await resolveInRoot(root, p);
    if (src === undefined || !(await fs.lstat(src)).isDirectory()) return false;
    await fs.rm(to, { recursive: true, force: true });
    await copyTree(src, to);
    return true;
  };
  let copied: boolean;
  if ('tree' in from) {
    copied = await copy(from.tree);
  } else {
    const { renderStack } = await import('../store/oci.js');
    await fs.mkdir(from.scratch, { recursive: true });
    const dir = await fs.mkdtemp(path.join(from.scratch, 'volume-'));
    try {
      const rootfs = path.join(dir, 'rootfs');
      await fs.mkdir(rootfs);
      // by hard links to the store's layers: only read here, the copy is the pod's
      await renderStack(from.layers, rootfs);
      copied = await copy(rootfs);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  if (copied && shift !== 0) await shiftOwners(to, shift);
}

/** Every entry under `dir` (itself included, links not followed) owned `shift` IDs higher. */
async function shiftOwners(dir: string, shift: number): Promise<void> {
  const st = await fs.lstat(dir);
  await fs.lchown(dir, st.uid + shift, st.gid + shift);
  // lchown clears set-ID bits on some file systems: put the mode back (a symlink has none to keep)
  if (!st.isSymbolicLink()) await fs.chmod(dir, st.mode & 0o7777);
  if (!st.isDirectory()) return;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  for (const n of names) await shiftOwners(path.join(dir, n), shift);
}
