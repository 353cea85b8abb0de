/**
 * Pods on disk: listing and resolving them, creating them, and moving them from state to state. A pod's state
 * is the directory it is in plus whether its lock is held (README.md). Every transition checks the current
 * state, takes the lock, renames and fsyncs both parent directories (but for a foreground rkt run's own pod,
 * see createEmbryo), so a crash leaves the pod in the old state or the new one, never in between.
 */
import { chmodSync, existsSync, fstatSync, lstatSync, mkdirSync, promises as fs, readdirSync, readFileSync, renameSync, rmSync, statSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { RktError, describe, isErrno } from '../common/errors.js';
import { fsyncDir, fsyncDirSync, writeFileAtomic, writeFileAtomicSync } from '../common/fs-atomic.js';
import {
  CREATED_FILE,
  EXITED_FILE,
  LISTING_FILE,
  PID_FILE,
  POD_DIRS,
  STARTED_FILE,
  STATUS_DIR,
  UUID_FILE,
  podDir,
  podStateDir,
  podsDir,
  stateOf,
  type PodDirState,
  type PodState,
  type TimestampName,
} from './layout.js';
import { closePodDir, holdsLock, isLocked, openPodDir, tryLockFd } from './lock.js';
import { isPodUuid, newPodUuid } from './uuid.js';

/** What `rkt list` and `rkt status` show of a pod, read at one moment. */
export interface PodInfo {
  readonly uuid: string;
  readonly state: PodState;
  /** The pod directory at the time it was read (it moves on each transition). */
  readonly dir: string;
  /** Whether the pod's lock was held: preparing, running, or (briefly) a prepared pod being run or collected. */
  readonly locked: boolean;
  readonly created?: Date;
  readonly started?: Date;
  readonly exited?: Date;
  /** The pod's PID 1 as seen from the host. */
  readonly pid?: number;
  /** Exit status of each app that has exited, by app name. */
  readonly appStatuses: Map<string, number>;
}

/** Mode of pod directories and of the `pods/<state>/` directories rkt creates. */
const DIR_MODE = 0o750;

// ---------------------------------------------------------------------------------------------------------
// Small files in a pod directory

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Read a one-line file; undefined if it is missing or still empty (written by a non-atomic writer). The small
 * files of a pod are read synchronously: `rkt list` reads thousands of them, and Node's asynchronous reads cost
 * far more than the read itself for a file of a few bytes (thread pool, a file handle, promises to collect).
 */
function readLine(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new RktError('EPODREAD', `cannot read ${file}: ${describe(err)}`, { cause: err });
  }
  const line = text.trim();
  return line === '' ? undefined : line;
}

/**
 * Write timestamp `name` (`created`, `started`, `exited`) of the pod in `dir`: RFC 3339, one line, atomically
 * (a crash of rkt leaves the old content or the new). Not fsynced: a pod's bookkeeping files cost two fsyncs
 * each otherwise, ≈ 2 ms apiece on this machine class, and one lost to a power failure reads as not written
 * (see README.md, "Files").
 */
export async function writeTimestamp(dir: string, name: TimestampName, date: Date): Promise<void> {
  writeTimestampSync(dir, name, date);
}

function writeTimestampSync(dir: string, name: TimestampName, date: Date): void {
  writeFileAtomicSync(path.join(dir, name), `${date.toISOString()}\n`, 0o644, false);
}

/** Timestamp `name` of the pod in `dir`, or undefined if not (yet) written. A malformed one is an EPODCORRUPT error. */
export async function readTimestamp(dir: string, name: TimestampName): Promise<Date | undefined> {
  return readTimestampSync(dir, name);
}

/** `readTimestamp`, synchronously (listPods reads thousands: a promise per file costs more than the read). */
function readTimestampSync(dir: string, name: TimestampName): Date | undefined {
  const file = `${dir}/${name}`; // (dir is a pod directory as listed: normalized, no trailing slash; path.join would normalize it again)
  const line = readLine(file);
  if (line === undefined) return undefined;
  const date = RFC3339.test(line) ? new Date(line.replace(' ', 'T').toUpperCase()) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new RktError('EPODCORRUPT', `${file} holds "${line}", not an RFC 3339 timestamp`);
  }
  return date;
}

/**
 * One of a pod's JSON files (options.json, fly.json, the metadata identity …) as the value it holds: a file
 * that cannot be read is EPODREAD, one that is not JSON EPODCORRUPT (the fix: remove the pod, prepare it
 * again). With `optional`, a missing file is undefined. What the value must be is the caller's to check.
 */
export async function readPodJson(file: string, optional: boolean): Promise<unknown> {
  return readPodJsonSync(file, optional);
}

/** `readPodJson`, synchronously (`rkt list` reads one per pod). */
function readPodJsonSync(file: string, optional: boolean): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (optional && isErrno(err, 'ENOENT')) return undefined;
    throw new RktError('EPODREAD', `cannot read ${file}: ${describe(err)}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RktError('EPODCORRUPT', `${file} is corrupt: ${describe(err)}`, { cause: err, hint: 'remove the pod (rkt rm) and prepare it again' });
  }
}

/** One app of a pod as `rkt list` shows it: its name, its image's name ('' if the manifest gives none) and Image ID. */
export interface ListedApp { readonly name: string; readonly image: string; readonly id: string }

/** A pod's `list.json` (LISTING_FILE): when it was created and its apps. */
export interface PodListing { readonly created: Date; readonly apps: readonly ListedApp[] }

/** The text of a pod's `list.json`. */
export function podListingText(l: PodListing): string {
  return `${JSON.stringify({ created: l.created.toISOString(), apps: l.apps.map((a) => ({ name: a.name, image: a.image, id: a.id })) })}\n`;
}

/**
 * The `list.json` of the pod in `dir`, or undefined if it has none (not prepared yet, or prepared by an rkt
 * before 2026-12: the caller reads `created` and the pod manifest instead). One that cannot be read is EPODREAD;
 * one that is not what podListingText writes, EPODCORRUPT naming what is wrong.
 */
export function readPodListing(dir: string): PodListing | undefined {
  const file = `${dir}/${LISTING_FILE}`;
  const v = readPodJsonSync(file, true);
  if (v === undefined) return undefined;
  const bad = (what: string) => new RktError('EPODCORRUPT', `${file} is corrupt: ${what}`);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not a JSON object');
  const { created, apps } = v as Record<string, unknown>;
  const date = typeof created === 'string' && RFC3339.test(created) ? new Date(created) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) throw bad('"created" is not an RFC 3339 timestamp');
  if (!Array.isArray(apps)) throw bad('"apps" is not a list');
  const out: ListedApp[] = [];
  for (const a of apps as unknown[]) {
    const o = typeof a === 'object' && a !== null ? (a as Record<string, unknown>) : {};
    const { name, image, id } = o;
    if (typeof name !== 'string' || name === '' || typeof image !== 'string' || typeof id !== 'string' || id === '') {
      throw bad('an app is not {"name", "image", "id"} strings');
    }
    out.push({ name, image, id });
  }
  return { created: date, apps: out };
}

/** The pod's PID 1 (host pid namespace) from `<dir>/pid`, or undefined if not (yet) written. */
export async function readPid(dir: string): Promise<number | undefined> {
  return readPidSync(dir);
}

function readPidSync(dir: string): number | undefined {
  const file = path.join(dir, PID_FILE);
  const line = readLine(file);
  if (line === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(line)) throw new RktError('EPODCORRUPT', `${file} holds "${line}", not a pid`);
  return Number(line);
}

/**
 * Each exited app's status from `<dir>/status/<app>` (one integer each). Apps still running have no file (or,
 * mid-write, an empty one) and are absent; hidden files (temporaries of atomic writers) are ignored.
 */
export async function readAppStatuses(dir: string): Promise<Map<string, number>> {
  return readAppStatusesSync(dir);
}

function readAppStatusesSync(dir: string): Map<string, number> {
  const statusDir = path.join(dir, STATUS_DIR);
  const out = new Map<string, number>();
  let names: string[];
  try {
    names = readdirSync(statusDir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return out;
    throw new RktError('EPODREAD', `cannot read ${statusDir}: ${describe(err)}`, { cause: err });
  }
  for (const app of names.sort()) {
    if (app.startsWith('.')) continue;
    const file = path.join(statusDir, app);
    const line = readLine(file);
    if (line === undefined) continue;
    if (!/^-?\d+$/.test(line)) throw new RktError('EPODCORRUPT', `${file} holds "${line}", not an exit status`);
    out.set(app, Number(line));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Finding pods

/**
 * The uuids in `pods/<dirState>/`, sorted; none if the directory does not exist yet. Synchronous, as the other
 * reads of the listing paths: the first use of fs.promises loads ten of Node's modules (≈ 4 ms of a `rkt list`).
 */
async function podNames(dataDir: string, dirState: PodDirState): Promise<string[]> {
  const dir = podStateDir(dataDir, dirState);
  try {
    return readdirSync(dir).filter(isPodUuid).sort();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw new RktError('EPODREAD', `cannot list ${dir}: ${describe(err)}`, { cause: err });
  }
}

/** bigint stat of `dir`, or undefined if it is not there (the pod moved on or was removed). Synchronous, as readLine. */
function statDirSync(dir: string): BigIntStats | undefined {
  try {
    const st = lstatSync(dir, { bigint: true, throwIfNoEntry: false });
    return st?.isDirectory() === true ? st : undefined;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new RktError('EPODREAD', `cannot stat ${dir}: ${describe(err)}`, { cause: err });
  }
}

/** `statDirSync` for the asynchronous paths. */
async function statDir(dir: string): Promise<BigIntStats | undefined> {
  return statDirSync(dir);
}

interface Located {
  readonly uuid: string;
  readonly dirState: PodDirState;
  readonly dir: string;
  readonly st: BigIntStats;
  readonly state: PodState;
  readonly locked: boolean;
}

/**
 * The state of pod `uuid` if it is in `dirState`, or undefined if it is not there. The lock is tested between
 * two stats of the directory: pods only move forward and are never locked again once in `run/`, so if the pod
 * was in `dirState` before and after the test, the lock it saw is the lock of a pod in `dirState`.
 */
async function stateIn(dataDir: string, dirState: PodDirState, uuid: string, lockedByUs = false): Promise<Located | undefined> {
  const dir = podDir(dataDir, dirState, uuid);
  const st = await statDir(dir);
  if (st === undefined) return undefined;
  let locked: boolean;
  try {
    locked = lockedByUs || isLocked(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new RktError('EPODREAD', `cannot check the lock of pod ${uuid}: ${describe(err)}`, { cause: err });
  }
  const again = await statDir(dir);
  if (again === undefined || again.ino !== st.ino || again.dev !== st.dev) return undefined;
  return { uuid, dirState, dir, st, state: stateOf(dirState, locked), locked };
}

/**
 * Where pod `uuid` is now, looking in lifecycle order (`from` on): a pod that moves while we look is found in
 * a later directory, never missed. Undefined if it is in none (removed).
 */
async function locate(dataDir: string, uuid: string, from = 0, lockedByUs = false): Promise<Located | undefined> {
  for (const dirState of POD_DIRS.slice(from)) {
    const found = await stateIn(dataDir, dirState, uuid, lockedByUs);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Read everything about a located pod; undefined if it moved on while being read. */
async function readInfo(loc: Located): Promise<PodInfo | undefined> {
  const { dir } = loc;
  const [created, started, exited, pid, appStatuses] = await Promise.all([
    readTimestamp(dir, CREATED_FILE),
    readTimestamp(dir, STARTED_FILE),
    readTimestamp(dir, EXITED_FILE),
    readPid(dir),
    readAppStatuses(dir),
  ]);
  const again = await statDir(dir);
  if (again === undefined || again.ino !== loc.st.ino) return undefined;
  return { uuid: loc.uuid, state: loc.state, dir, locked: loc.locked, created, started, exited, pid, appStatuses };
}

/** Everything about pod `uuid` seen first in `dirState`, following it if it moves; undefined if removed. */
async function infoFrom(dataDir: string, uuid: string, dirState: PodDirState): Promise<PodInfo | undefined> {
  let from = POD_DIRS.indexOf(dirState);
  // Each retry means the pod moved forward, so this ends after at most one pass over POD_DIRS.
  for (;;) {
    const loc = await locate(dataDir, uuid, from);
    if (loc === undefined) return undefined;
    const info = await readInfo(loc);
    if (info !== undefined) return info;
    from = POD_DIRS.indexOf(loc.dirState);
  }
}

/** The small files of a pod that `listPods` can read besides its state: a listing reads only what it shows. */
export type PodDetail = 'created' | 'started' | 'exited' | 'pid' | 'appStatuses';

const ALL_DETAILS: readonly PodDetail[] = ['created', 'started', 'exited', 'pid', 'appStatuses'];

/**
 * Every pod under `<dataDir>/pods`, each once, with its state. Pods may change state or be removed while this
 * runs: a pod seen in two directories is reported in the later one, a pod that vanished is left out. Only the
 * files named in `details` are read (default: all); a field not asked for is undefined (`appStatuses` empty).
 */
export async function listPods(dataDir: string, details: readonly PodDetail[] = ALL_DETAILS): Promise<PodInfo[]> {
  // Its reads are synchronous: yield to the event loop once, so that a caller polling in a loop (the API's
  // event watcher, a test moving pods meanwhile) never starves I/O callbacks of microtasks alone.
  await new Promise((resolve) => setImmediate(resolve));
  const seen = new Map<string, PodDirState>();
  for (const dirState of POD_DIRS) {
    for (const uuid of await podNames(dataDir, dirState)) {
      seen.delete(uuid); // keep the latest directory, and list the pod in its place in lifecycle order
      seen.set(uuid, dirState);
    }
  }
  // Each pod's lock is tested (which opens its directory: it was there), its files read, and then it is checked
  // to be there still: the lock and the files are those of the pod in the state it was seen in before and after.
  // (A path names one directory for good: a pod's UUID is its own, and a pod never comes back to a directory it
  // left. So being there twice is all stateIn's two stats tell.) A pod that moved or vanished in between is
  // followed the usual way (infoFrom). Synchronous reads, in one pass: for a thousand pods, promises per file
  // cost more than the reads (see readLine).
  // podDir, with the state directories' paths normalized once (the names are checked uuids: nothing to normalize).
  const stateDirs = new Map(POD_DIRS.map((d) => [d, podStateDir(dataDir, d)]));
  const want = new Set(details);
  const out: PodInfo[] = [];
  for (const [uuid, dirState] of seen) {
    const dir = `${stateDirs.get(dirState) ?? ''}/${uuid}`;
    const info = readListed(uuid, dirState, dir, want) ?? (await infoFrom(dataDir, uuid, dirState));
    if (info !== undefined) out.push(info);
  }
  return out;
}

/**
 * The pod in `dir`: its state and the `want`ed files, or undefined if it is not there, or not only there from
 * before its lock was tested to after its files were read (the caller follows it), or not a directory.
 */
function readListed(uuid: string, dirState: PodDirState, dir: string, want: ReadonlySet<PodDetail>): PodInfo | undefined {
  let locked: boolean;
  try {
    locked = isLocked(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) return undefined;
    throw new RktError('EPODREAD', `cannot check the lock of pod ${uuid}: ${describe(err)}`, { cause: err });
  }
  const created = want.has('created') ? readTimestampSync(dir, CREATED_FILE) : undefined;
  const started = want.has('started') ? readTimestampSync(dir, STARTED_FILE) : undefined;
  const exited = want.has('exited') ? readTimestampSync(dir, EXITED_FILE) : undefined;
  const pid = want.has('pid') ? readPidSync(dir) : undefined;
  const appStatuses = want.has('appStatuses') ? readAppStatusesSync(dir) : new Map<string, number>();
  if (!existsSync(dir)) return undefined;
  return { uuid, state: stateOf(dirState, locked), dir, locked, created, started, exited, pid, appStatuses };
}

/** Every pod uuid under `<dataDir>/pods`. */
async function allUuids(dataDir: string): Promise<Set<string>> {
  const all = new Set<string>();
  for (const dirState of POD_DIRS) for (const uuid of await podNames(dataDir, dirState)) all.add(uuid);
  return all;
}

/**
 * The pod a user's word names: its full UUID or a unique prefix of it (at least one character), in any case.
 * Not found → ENOPOD; a prefix of several → EAMBIGUOUS listing them.
 */
export async function getPod(dataDir: string, uuidOrPrefix: string): Promise<PodInfo> {
  const want = uuidOrPrefix.toLowerCase();
  const notFound = () => new RktError('ENOPOD', `no pod "${uuidOrPrefix}"`, { hint: 'see "rkt list"' });
  if (want === '') throw notFound();
  // A whole UUID names its pod directory: found where it is, without listing every pod (`rkt status UUID`).
  if (isPodUuid(want)) {
    const info = await infoFrom(dataDir, want, 'embryo');
    if (info === undefined) throw notFound();
    return info;
  }
  const all = await allUuids(dataDir);
  const matches = all.has(want) ? [want] : [...all].filter((u) => u.startsWith(want)).sort();
  const [uuid] = matches;
  if (uuid === undefined) throw notFound();
  if (matches.length > 1) {
    throw new RktError('EAMBIGUOUS', `pod UUID prefix "${uuidOrPrefix}" is ambiguous: it matches ${matches.join(', ')}`, {
      hint: 'give more of the UUID',
    });
  }
  const info = await infoFrom(dataDir, uuid, 'embryo');
  if (info === undefined) throw notFound();
  return info;
}

/** The pod UUID in a `--uuid-file` (surrounding whitespace trimmed). Missing, unreadable or empty → EUUIDFILE. */
export async function readUuidFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new RktError('EUUIDFILE', `cannot read --uuid-file "${file}": ${describe(err)}`, { cause: err });
  }
  const uuid = text.trim();
  if (uuid === '') throw new RktError('EUUIDFILE', `--uuid-file "${file}" is empty`, { hint: 'it should hold a pod UUID' });
  if (/\s/.test(uuid)) throw new RktError('EUUIDFILE', `--uuid-file "${file}" holds more than one word; it should hold one pod UUID`);
  return uuid;
}

/** Save a pod's UUID for a later `--uuid-file` (`rkt prepare --uuid-file-save`): one line, atomically. */
export async function writeUuidFile(file: string, uuid: string): Promise<void> {
  try {
    await writeFileAtomic(file, `${uuid}\n`);
  } catch (err) {
    throw new RktError('EUUIDFILE', `cannot write --uuid-file-save "${file}": ${describe(err)}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Creating and moving pods

/** Create directory `dir` with DIR_MODE (whatever the umask) unless it exists; fsync its parent if created. */
function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, DIR_MODE);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    if (!statSync(dir).isDirectory()) throw new RktError('EPODDIR', `${dir} exists and is not a directory`);
    return;
  }
  chmodSync(dir, DIR_MODE);
  fsyncDirSync(path.dirname(dir));
}

/** Create `<dataDir>/pods/<dirState>/` (and `pods/`, and the data directory) as needed. */
function ensureStateDir(dataDir: string, dirState: PodDirState): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: DIR_MODE });
    ensureDir(podsDir(dataDir));
    ensureDir(podStateDir(dataDir, dirState));
  } catch (err) {
    if (err instanceof RktError) throw err;
    throw new RktError('EPODDIR', `cannot create ${podStateDir(dataDir, dirState)}: ${describe(err)}`, { cause: err });
  }
}

/**
 * Create a new pod in `embryo/` with a fresh UUID: the directory (mode 0750), its `uuid` and `created` files.
 * The pod is returned locked through `lockFd` (from `openPodDir`): keep it open through `toPrepare`,
 * `toPrepared`/`toRun` — the lock follows the directory through renames — and close it (or hand it to stage1).
 * With `durable` false (the pod of a foreground `rkt run`, which a crash ends anyway) its directory entry is not
 * fsynced, nor are its moves (`toPrepare`, `toRun`): a crash may leave it in embryo/, prepare/ or run/, where gc
 * collects it (an abandoned embryo, an aborted prepare, an exited pod).
 */
export async function createEmbryo(dataDir: string, durable = true): Promise<{ uuid: string; dir: string; lockFd: number }> {
  ensureStateDir(dataDir, 'embryo');
  for (let attempt = 0; ; attempt++) {
    const uuid = newPodUuid();
    const dir = podDir(dataDir, 'embryo', uuid);
    try {
      mkdirSync(dir, DIR_MODE);
    } catch (err) {
      if (isErrno(err, 'EEXIST') && attempt < 3) continue; // a UUID collision: astronomically unlikely
      throw new RktError('EPODDIR', `cannot create pod directory ${dir}: ${describe(err)}`, { cause: err });
    }
    let lockFd: number | undefined;
    try {
      chmodSync(dir, DIR_MODE);
      lockFd = openPodDir(dir);
      if (!(await tryLockFd(lockFd))) {
        throw new RktError('EPODLOCKED', `failed to lock pod ${uuid}: already locked`, { hint: 'something else is using the new pod directory' });
      }
      // (Not fsynced, as the timestamps: the directory's name says the UUID too.)
      writeFileAtomicSync(path.join(dir, UUID_FILE), `${uuid}\n`, 0o644, false);
      writeTimestampSync(dir, CREATED_FILE, new Date());
      if (durable) fsyncDirSync(path.dirname(dir));
    } catch (err) {
      if (lockFd !== undefined) closePodDir(lockFd);
      rmSync(dir, { recursive: true, force: true });
      if (err instanceof RktError) throw err;
      throw new RktError('EPODDIR', `cannot create pod ${uuid}: ${describe(err)}`, { cause: err });
    }
    return { uuid, dir, lockFd };
  }
}

function wrongState(uuid: string, state: PodState | 'gone', wanted: readonly PodState[]): RktError {
  return new RktError('EPODSTATE', `pod ${uuid} is ${state}, not ${wanted.join(' or ')}`);
}

/**
 * Move pod `uuid` from one of the `wanted` states to `pods/<to>/`: check the state, take the lock (through the
 * caller's `lockFd`, which keeps it, or through a descriptor of our own, closed afterwards), check that the pod
 * did not move meanwhile, rename, fsync both parents (unless not `durable`: see createEmbryo). Returns the new
 * directory.
 */
async function transition(
  dataDir: string,
  uuid: string,
  wanted: readonly PodState[],
  to: PodDirState,
  lockFd: number | undefined,
  durable = true,
): Promise<string> {
  // Holding the pod's lock already (run, prepare), we know it is locked: no need to test it.
  const loc = await locate(dataDir, uuid, 0, lockFd !== undefined && holdsLock(lockFd));
  if (loc === undefined) throw new RktError('ENOPOD', `no pod "${uuid}"`, { hint: 'see "rkt list"' });
  if (!wanted.includes(loc.state)) throw wrongState(uuid, loc.state, wanted);

  const fd = lockFd ?? openPodDir(loc.dir);
  try {
    if (lockFd !== undefined) {
      const held = fstatSync(lockFd, { bigint: true });
      if (held.ino !== loc.st.ino || held.dev !== loc.st.dev) {
        throw new Error(`bug: the lock descriptor passed for pod ${uuid} is not its directory ${loc.dir}`);
      }
    }
    if (!(await tryLockFd(fd))) {
      throw new RktError('EPODLOCKED', `failed to lock pod ${uuid}: already locked`, {
        hint: 'another rkt is preparing, running or collecting it',
      });
    }
    const now = await statDir(loc.dir);
    if (now === undefined || now.ino !== loc.st.ino) {
      const moved = await locate(dataDir, uuid);
      throw wrongState(uuid, moved?.state ?? 'gone', wanted);
    }

    ensureStateDir(dataDir, to);
    const dest = podDir(dataDir, to, uuid);
    try {
      renameSync(loc.dir, dest);
      if (durable) {
        fsyncDirSync(path.dirname(loc.dir));
        fsyncDirSync(path.dirname(dest));
      }
    } catch (err) {
      throw new RktError('EPODMOVE', `cannot move pod ${uuid} from ${loc.dirState} to ${to}: ${describe(err)}`, { cause: err });
    }
    return dest;
  } finally {
    if (lockFd === undefined) closePodDir(fd);
  }
}

/**
 * embryo → prepare. `lockFd` is the one from `createEmbryo`; it keeps the lock (the pod is now preparing).
 * `durable` as given to createEmbryo.
 */
export async function toPrepare(dataDir: string, uuid: string, lockFd: number, durable = true): Promise<string> {
  return transition(dataDir, uuid, ['embryo'], 'prepare', lockFd, durable);
}

/** prepare (locked through `lockFd`) → prepared. Close `lockFd` afterwards: a prepared pod is not locked. */
export async function toPrepared(dataDir: string, uuid: string, lockFd: number): Promise<string> {
  return transition(dataDir, uuid, ['preparing'], 'prepared', lockFd);
}

/**
 * prepared → run (`rkt run-prepared`: `lockFd` from `openPodDir`, the lock is taken here) or prepare → run
 * (`rkt run`, which holds the lock since `createEmbryo`). On return the pod is running for as long as `lockFd`
 * (or a copy of it handed to stage1) stays open; closing every copy makes it exited.
 */
export async function toRun(dataDir: string, uuid: string, lockFd: number, durable = true): Promise<string> {
  return transition(dataDir, uuid, ['prepared', 'preparing'], 'run', lockFd, durable);
}

/**
 * run, exited (not locked) → exited-garbage, for `rkt gc` and `rkt rm`. A running pod is refused (EPODSTATE), as
 * is one another rkt moved meanwhile. Unlike the other transitions it takes no lock, because none is needed: a
 * pod is locked from before it enters run/ (the lock it was run with) and never again once every holder has
 * closed it, so a pod seen unlocked in run/ stays exited.
 */
export async function toExitedGarbage(dataDir: string, uuid: string): Promise<string> {
  const wanted = ['exited'] as const;
  const loc = await locate(dataDir, uuid);
  if (loc === undefined) throw new RktError('ENOPOD', `no pod "${uuid}"`, { hint: 'see "rkt list"' });
  if (loc.state !== 'exited') throw wrongState(uuid, loc.state, wanted);
  ensureStateDir(dataDir, 'exited-garbage');
  const dest = podDir(dataDir, 'exited-garbage', uuid);
  try {
    await fs.rename(loc.dir, dest);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      const moved = await locate(dataDir, uuid);
      throw wrongState(uuid, moved?.state ?? 'gone', wanted);
    }
    throw new RktError('EPODMOVE', `cannot move pod ${uuid} from ${loc.dirState} to exited-garbage: ${describe(err)}`, { cause: err });
  }
  try {
    await fsyncDir(path.dirname(loc.dir));
    await fsyncDir(path.dirname(dest));
  } catch (err) {
    throw new RktError('EPODMOVE', `cannot move pod ${uuid} from ${loc.dirState} to exited-garbage: ${describe(err)}`, { cause: err });
  }
  return dest;
}

/**
 * prepare, aborted (not locked), or prepared → garbage, for `rkt gc` (which decides whether a prepared pod has
 * expired). A pod being prepared or run meanwhile holds its lock and is refused (EPODSTATE or EPODLOCKED).
 */
export async function toGarbage(dataDir: string, uuid: string): Promise<string> {
  return transition(dataDir, uuid, ['aborted-prepare', 'prepared'], 'garbage', undefined);
}

/**
 * How long an embryo may go unlocked before gc takes it for abandoned. An embryo is locked within microseconds
 * of its mkdir and leaves embryo/ within milliseconds; one left there is a pod whose rkt died (or whose machine
 * crashed) while creating it.
 */
export const EMBRYO_ABANDONED_MS = 10 * 60_000;

/**
 * embryo, not locked → garbage, for `rkt gc` (which decides whether it is abandoned: unlocked and older than
 * EMBRYO_ABANDONED_MS). The lock is taken for the rename, so a pod whose creator holds it is refused.
 */
export async function abandonedEmbryoToGarbage(dataDir: string, uuid: string): Promise<string> {
  return transition(dataDir, uuid, ['embryo'], 'garbage', undefined);
}

/** Decode the octal escapes (`\040`) of a path in /proc/self/mountinfo. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mount points at or under `dir` in our mount namespace (pure, from mountinfo text). */
export function mountsUnder(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const mnt = unescapeMountPath(field);
    if (mnt === dir || mnt.startsWith(prefix)) out.push(mnt);
  }
  return out;
}

/**
 * Delete a pod directory and everything in it, then fsync its parent. The caller has unmounted everything in
 * it (and holds its lock, or knows it cannot be taken): a directory with a mount point still in it is refused
 * (EPODBUSY) rather than deleted through the mount. A directory already gone is not an error.
 */
export async function removePodDir(dir: string): Promise<void> {
  let real: string;
  try {
    real = await fs.realpath(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw new RktError('EPODREAD', `cannot resolve ${dir}: ${describe(err)}`, { cause: err });
  }
  const mounted = mountsUnder(await fs.readFile('/proc/self/mountinfo', 'utf8'), real);
  if (mounted.length > 0) {
    throw new RktError('EPODBUSY', `cannot remove ${dir}: ${mounted.join(', ')} still mounted`, { hint: 'unmount them first' });
  }
  try {
    await fs.rm(real, { recursive: true, force: true });
    await fsyncDir(path.dirname(real));
  } catch (err) {
    throw new RktError('EPODRM', `cannot remove ${dir}: ${describe(err)}`, { cause: err });
  }
}
