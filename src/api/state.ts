/**
 * Reading what the service serves: pods through src/pod (as `rkt list`/`rkt status` read them), images through
 * src/store (as `rkt image list` reads them). Reads only: no lock is taken (src/pod tests locks without
 * taking them), nothing is written.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isErrno, RktError } from '../common/errors.js';
import { getPod, listPods, type PodInfo } from '../pod/pods.js';
import { POD_MANIFEST, STATUS_DIR } from '../pod/layout.js';
import { parsePodManifest, type PodManifest } from '../image/pod-manifest.js';
import { parseImageManifest, type ImageManifest } from '../image/manifest.js';
import { readNetInfo, type NetInfo } from '../net/net-info.js';
import { StoreLayout } from '../store/layout.js';
import { listRecords, type ImageRecord } from '../store/records.js';
import { findImages, looksLikeImageId } from '../store/resolve.js';
import { v1Image, v1Pod, type PodSnapshot, type V1Image, type V1Pod } from './mapping.js';

/** Where a problem with one pod or image is reported (the service's stderr); it never hides the others. */
export type Warn = (message: string) => void;

function readIfThere(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  }
}

/** The pod's manifest (bytes and parsed), if it has one yet; a damaged one is warned about and left out. */
function podManifest(p: PodInfo, warn: Warn): { manifest?: PodManifest; manifestBytes?: Buffer } {
  const file = path.join(p.dir, POD_MANIFEST);
  let bytes: Buffer | undefined;
  try {
    bytes = readIfThere(file);
  } catch (err) {
    warn(`pod ${p.uuid}: cannot read ${file}: ${(err as Error).message}`);
    return {};
  }
  if (bytes === undefined) return {};
  try {
    return { manifest: parsePodManifest(bytes), manifestBytes: bytes };
  } catch (err) {
    if (!(err instanceof RktError)) throw err;
    warn(`pod ${p.uuid}: ${file}: ${err.message}`);
    return { manifestBytes: bytes };
  }
}

/**
 * The cgroup of the pod's PID 1 from /proc/<pid>/cgroup: the name=systemd hierarchy's (cgroup v1), else the
 * unified one's, without systemd's trailing `/init.scope` (a systemd PID 1 sits in it; the pod is its parent).
 */
export function cgroupOf(procCgroup: string): string | undefined {
  let unified: string | undefined;
  for (const line of procCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    const cg = (m[2] ?? '').replace(/\/init\.scope$/, '');
    if ((m[1] ?? '').split(',').includes('name=systemd')) return cg;
    if (m[1] === '') unified = cg;
  }
  return unified;
}

function podCgroup(pid: number | undefined): string | undefined {
  if (pid === undefined) return undefined;
  try {
    return cgroupOf(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) return undefined; // the pod ended meanwhile
    throw err;
  }
}

/** When the pod directory was renamed into exited-garbage/ or garbage/ (its ctime: nothing writes it after). */
function gcMarkedAt(p: PodInfo): Date | undefined {
  if (p.state !== 'exited-garbage' && p.state !== 'garbage') return undefined;
  try {
    return lstatSync(p.dir).ctime;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** A PodInfo as v1alpha's Pod, reading the rest (manifest, networks, cgroup) from the pod directory. */
export async function readV1Pod(p: PodInfo, warn: Warn): Promise<V1Pod> {
  const m = p.state === 'embryo' ? {} : podManifest(p, warn);
  let net: NetInfo | undefined;
  if (p.state === 'running') {
    try {
      net = await readNetInfo(p.dir);
    } catch (err) {
      if (!(err instanceof RktError) || err.code !== 'ENETINFO') throw err;
      warn(`pod ${p.uuid}: ${err.message}`);
    }
  }
  const cgroup = p.state === 'running' ? podCgroup(p.pid) : undefined;
  const marked = gcMarkedAt(p);
  return v1Pod(p, { ...m, ...(net !== undefined ? { net } : {}), ...(cgroup !== undefined ? { cgroup } : {}), ...(marked !== undefined ? { gcMarkedAt: marked } : {}) });
}

/** Every pod under `dataDir`, in every state, as v1alpha's Pods. */
export async function readV1Pods(dataDir: string, warn: Warn): Promise<V1Pod[]> {
  const out: V1Pod[] = [];
  for (const p of await listPods(dataDir)) out.push(await readV1Pod(p, warn));
  return out;
}

/** One pod by UUID (or unique prefix, as the CLI takes it): ENOPOD, EAMBIGUOUS as getPod throws them. */
export async function readV1PodById(dataDir: string, id: string, warn: Warn): Promise<V1Pod> {
  return readV1Pod(await getPod(dataDir, id), warn);
}

/** The image manifest of a stored image, from its rendered tree (bytes and parsed); undefined if unreadable. */
function imageManifest(layout: StoreLayout, r: ImageRecord, warn: Warn): { manifest?: ImageManifest; bytes?: Buffer } {
  const file = path.join(layout.tree(r.id), 'manifest');
  let bytes: Buffer | undefined;
  try {
    bytes = readIfThere(file);
  } catch (err) {
    warn(`image ${r.id}: cannot read ${file}: ${(err as Error).message}`);
    return {};
  }
  if (bytes === undefined) return {};
  try {
    return { manifest: parseImageManifest(bytes), bytes };
  } catch (err) {
    if (!(err instanceof RktError)) throw err;
    warn(`image ${r.id}: ${file}: ${err.message}`);
    return { bytes };
  }
}

function toV1Image(layout: StoreLayout, r: ImageRecord, warn: Warn): V1Image {
  const m = imageManifest(layout, r, warn);
  return v1Image(r, m.manifest, m.bytes);
}

/** Every image in the store, oldest import first. */
export async function readV1Images(dataDir: string, warn: Warn): Promise<V1Image[]> {
  const layout = new StoreLayout(dataDir);
  return (await listRecords(layout)).map((r) => toV1Image(layout, r, warn));
}

/**
 * One image by Image ID or a unique prefix of one (`sha512-` + at least 12 hex digits). Not an ID → EUSAGE;
 * none → ENOIMAGE; several → EAMBIGUOUS.
 */
export async function readV1ImageById(dataDir: string, id: string, warn: Warn): Promise<V1Image> {
  if (!looksLikeImageId(id)) throw new RktError('EUSAGE', `"${id}" is not an Image ID (sha512- and at least 12 hex digits)`);
  const layout = new StoreLayout(dataDir);
  const found = await findImages(layout, id);
  const [first] = found;
  if (first === undefined) throw new RktError('ENOIMAGE', `no image "${id}" in the store`);
  if (found.length > 1) throw new RktError('EAMBIGUOUS', `image ID prefix "${id}" is ambiguous: it matches ${found.map((r) => r.id).join(', ')}`);
  return toV1Image(layout, first, warn);
}

/** The apps of a pod that have started (`status/.started-<app>`) or exited (`status/<app>`). */
function startedApps(p: PodInfo): Set<string> {
  const out = new Set<string>(p.appStatuses.keys());
  let names: string[];
  try {
    names = readdirSync(path.join(p.dir, STATUS_DIR));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return out;
    throw err;
  }
  for (const n of names) if (n.startsWith('.started-')) out.add(n.slice('.started-'.length));
  return out;
}

/** The pods as the event watcher compares them from one look to the next. */
export async function podSnapshots(dataDir: string): Promise<Map<string, PodSnapshot>> {
  const out = new Map<string, PodSnapshot>();
  for (const p of await listPods(dataDir)) out.set(p.uuid, { state: p.state, exited: p.appStatuses, started: startedApps(p) });
  return out;
}

/** The images as the event watcher compares them: Image ID → name. */
export async function imageSnapshots(dataDir: string): Promise<Map<string, string>> {
  return new Map((await listRecords(new StoreLayout(dataDir))).map((r) => [r.id, r.name]));
}
