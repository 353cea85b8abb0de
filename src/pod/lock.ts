/**
 * Pod locks: an exclusive flock(2) on the pod directory, held for exactly as long as some process holds the
 * open file description it was taken on. Node has no flock(2): locks are taken by rkt's own addon
 * (src/common/native.ts: build/rkt-native.node) and tested by reading `/proc/locks` (see README.md for why
 * and for the cases where `/proc/locks` cannot be trusted).
 */
import { closeSync, constants as fsc, openSync, promises as fs, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { RktError, describe, isErrno } from '../common/errors.js';
import { nativeAddon } from '../common/native.js';

/** One line of `/proc/locks`. */
export interface ProcLock {
  /** `FLOCK`, `POSIX`, `OFDLCK`, `LEASE`, `DELEG`. */
  readonly type: string;
  /** A waiter (`->` lines), not a holder. */
  readonly blocked: boolean;
  /** `ADVISORY`, `MANDATORY`, or a lease's state. */
  readonly mode: string;
  /** `READ` (shared) or `WRITE` (exclusive), or a lease's `UNLCK`. */
  readonly access: string;
  /** The process that took the lock (-1 for OFD locks). For a flock taken by flock(1), flock(1)'s pid. */
  readonly pid: number;
  readonly major: number;
  readonly minor: number;
  readonly inode: bigint;
}

const LOCK_LINE = /^\s*\d+:\s*(->\s*)?(\S+)\s+(\S+)\s+(\S+)\s+(-?\d+)\s+([0-9a-fA-F]+):([0-9a-fA-F]+):(\d+)(?:\s|$)/;

/**
 * Parse `/proc/locks` text. Lines that name no inode (`<none>`) or that this kernel formats in a way we do
 * not know are skipped, never guessed at.
 */
export function parseProcLocks(text: string): ProcLock[] {
  const out: ProcLock[] = [];
  for (const line of text.split('\n')) {
    const m = LOCK_LINE.exec(line);
    if (m === null) continue;
    const [, arrow, type, mode, access, pid, major, minor, inode] = m;
    if (type === undefined || mode === undefined || access === undefined || pid === undefined) continue;
    if (major === undefined || minor === undefined || inode === undefined) continue;
    out.push({
      type,
      blocked: arrow !== undefined,
      mode,
      access,
      pid: Number(pid),
      major: parseInt(major, 16),
      minor: parseInt(minor, 16),
      inode: BigInt(inode),
    });
  }
  return out;
}

/**
 * Split a Linux `dev_t` (as in `st_dev`) into major and minor, as glibc's `major(3)`/`minor(3)` do. The high
 * parts are masked to 32 bits: unmasked, the major's bits (from bit 44) would leak into the minor.
 */
export function devMajorMinor(dev: bigint): { major: number; minor: number } {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}

/** The granted (not waiting) flocks in `locks` on the file `st` describes. */
export function flocksOn(locks: readonly ProcLock[], st: Pick<BigIntStats, 'dev' | 'ino'>): ProcLock[] {
  const { major, minor } = devMajorMinor(st.dev);
  return locks.filter((l) => l.type === 'FLOCK' && !l.blocked && l.major === major && l.minor === minor && l.inode === st.ino);
}

/**
 * Open a pod directory (read-only, `O_DIRECTORY`) for locking. The fd is close-on-exec: it reaches a child
 * only when passed explicitly in `stdio`. Closing it (and every copy a child holds) releases the lock.
 */
export function openPodDir(dir: string): number {
  try {
    return openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  } catch (err) {
    throw new RktError('EPODDIR', `cannot open pod directory ${dir}: ${describe(err)}`, { cause: err });
  }
}

/** Descriptors through which this process holds an exclusive pod lock (forgotten in closePodDir). */
const exclusivelyHeld = new Set<number>();

/** Whether this process holds the exclusive lock through `fd` (taken by `tryLockFd`, not yet closed). */
export function holdsLock(fd: number): boolean {
  return exclusivelyHeld.has(fd);
}

/** Close a descriptor from `openPodDir`. The lock is released once no child holds a copy either. */
export function closePodDir(fd: number): void {
  exclusivelyHeld.delete(fd);
  closeSync(fd);
}

/**
 * flock(2) `fd` without waiting: true if this open file description now holds the lock, false on conflict.
 * Any other failure (a bad descriptor) is ELOCK.
 */
function flockFd(fd: number, mode: 'exclusive' | 'shared'): boolean {
  const { flock } = nativeAddon();
  try {
    return flock(fd, mode === 'exclusive');
  } catch (err) {
    throw new RktError('ELOCK', `flock(2) of descriptor ${fd} failed: ${describe(err)}`, { cause: err });
  }
}

/** flock(1)'s exit status on conflict; distinct from its own error statuses (64–75 are sysexits, 1 generic). */
const CONFLICT = 42;
/** The position in the child's fd table where we hand flock(1) the descriptor. */
const CHILD_FD = 3;

/**
 * Run `flock(1) <mode> --nonblock` on `fd`: `locked` if it got the lock, not on conflict, and the pid of the
 * flock(1) process (which `/proc/locks` records as the lock's owner). Only the calibration of `/proc/locks`
 * uses it (`procLocksTrusted`): it needs a lock whose taker has exited, as a pod's is once the rkt that took
 * it is gone.
 */
async function flockByChild(fd: number, mode: '--exclusive' | '--shared'): Promise<{ locked: boolean; pid: number | undefined }> {
  // node:child_process (which loads net and dgram) only here, not for every reader of pods.
  const { spawn } = await import('node:child_process');
  const { code, stderr, pid } = await new Promise<{ code: number | null; stderr: string; pid: number | undefined }>((resolve, reject) => {
    const child = spawn('flock', [mode, '--nonblock', '--conflict-exit-code', String(CONFLICT), String(CHILD_FD)], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', (err) => {
      reject(
        isErrno(err, 'ENOENT')
          ? new RktError('ENOFLOCK', 'cannot run flock(1): not found in PATH', { hint: 'install util-linux', cause: err })
          : err,
      );
    });
    child.on('close', (code) => resolve({ code, stderr, pid: child.pid }));
  });
  if (code === 0) return { locked: true, pid };
  if (code === CONFLICT) return { locked: false, pid };
  throw new RktError('ELOCK', `flock(1) failed (exit status ${code ?? 'signal'}): ${stderr.trim() || 'no message'}`);
}

/**
 * Take the exclusive lock on the open file description behind `fd` (from `openPodDir`), without waiting.
 * True if it is now held through `fd` (also when `fd` already held it); false if another open file description
 * holds it. The lock stays held after this returns, by `fd` and by every copy of it passed to a child, until all
 * of them are closed: pass `fd` in the stage1 process's `stdio` and the lock lives exactly as long as the pod.
 */
export async function tryLockFd(fd: number): Promise<boolean> {
  // An exclusive lock this process took through `fd` stays held until `fd` is closed: no need to ask again.
  if (exclusivelyHeld.has(fd)) return true;
  const locked = flockFd(fd, 'exclusive');
  if (locked) exclusivelyHeld.add(fd);
  return locked;
}


/**
 * True if anyone holds a lock on the directory `dir` whose `st` (bigint stat) is given. Takes no lock when
 * `/proc/locks` can be trusted for that filesystem (see `procLocksTrusted`); otherwise asks the kernel
 * directly with a momentary shared lock on a fresh description. Throws the fs error (ENOENT if `dir` is gone).
 * With `snapshot`, `/proc/locks` as read once for many pods (see `locksSnapshot`).
 */
export async function isLockedStat(dir: string, st: Pick<BigIntStats, 'dev' | 'ino'>, snapshot?: LocksSnapshot): Promise<boolean> {
  const locks = snapshot === undefined ? await readProcLocks() : snapshot.locks;
  if (locks !== undefined && flocksOn(locks, st).length > 0) return true;
  if (locks !== undefined && (await procLocksTrusted(path.dirname(dir), st.dev))) return false;
  return probeLocked(dir);
}

/**
 * True if anyone holds a lock on the directory `dir` (a pod is preparing or running). Throws the fs error
 * (ENOENT if `dir` is gone) for the caller to wrap with its context.
 */
export async function isLocked(dir: string): Promise<boolean> {
  return isLockedStat(dir, await fs.stat(dir, { bigint: true }));
}

/** `/proc/locks` read once, to test many directories against (`rkt list` of a thousand pods reads it once). */
export interface LocksSnapshot { readonly locks: readonly ProcLock[] | undefined }

/**
 * Read `/proc/locks` now. A test against it is as good as a fresh read only for a directory stat'ed before
 * and again after this call (unchanged): the lock it shows was held by that directory in between.
 */
export async function locksSnapshot(): Promise<LocksSnapshot> {
  return { locks: await readProcLocks() };
}

/**
 * `/proc/locks` parsed, or undefined where there is none (no procfs mounted). (Read synchronously, as the
 * kernel files below: the first use of fs.promises loads ten of Node's modules, ≈ 4 ms of a `rkt status`.)
 */
async function readProcLocks(): Promise<ProcLock[] | undefined> {
  try {
    return parseProcLocks(readFileSync('/proc/locks', 'utf8'));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/**
 * Ask the kernel whether `dir` is locked, by trying a shared lock on a fresh open file description of it and
 * dropping it at once. Correct everywhere, but for that instant a concurrent exclusive `tryLockFd` on the same
 * pod would fail, which is why `/proc/locks` is preferred.
 */
export async function probeLocked(dir: string): Promise<boolean> {
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    return !flockFd(fd, 'shared');
  } finally {
    closeSync(fd);
  }
}

const trusted = new Map<bigint, Promise<boolean | undefined>>();

/** `/proc/self/ns/pid` in the initial pid namespace (the kernel's fixed PROC_PID_INIT_INO). */
const INIT_PID_NS = 'pid:[4026531836]';
/** Filesystems whose stat(2) reports the inode number `/proc/locks` prints (overlayfs, FUSE, NFS may not). */
const PLAIN_FILESYSTEMS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'tmpfs', 'f2fs']);

/** The filesystem types of the mounts in mountinfo `text` whose superblock device is `major:minor`. Pure. */
export function fsTypesOfDevice(text: string, major: number, minor: number): string[] {
  const dev = `${major}:${minor}`;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0 || line.split(' ')[2] !== dev) continue;
    const type = line.slice(sep + 3).split(' ')[0];
    if (type !== undefined && type !== '') out.push(type);
  }
  return out;
}

/**
 * Whether the kernel's own rules say that `/proc/locks` shows every flock on the filesystem whose st_dev is
 * `dev`, decided without taking a lock (so without a flock(1) process): they do when `/proc` is read from the
 * initial pid namespace, where every recorded pid is shown, even an exited locker's (Linux 4.18 on), and `dev` is the
 * superblock device of a mounted filesystem whose st_ino is the inode number `/proc/locks` prints (so not a
 * btrfs subvolume's own st_dev, not overlayfs). False when it cannot tell: the caller then calibrates.
 */
export async function procLocksShowAll(dev: bigint): Promise<boolean> {
  let ns: string;
  let mountinfo: string;
  try {
    ns = readlinkSync('/proc/self/ns/pid');
    if (ns !== INIT_PID_NS) return false;
    // Linux 4.14 to 4.17 hid an exited locker's line even there (fixed by "fs/lock: skip lock owner pid
    // translation in case we are in init_pid_ns"): on those, and on anything we cannot read, calibrate.
    const [major = 0, minor = 0] = readFileSync('/proc/sys/kernel/osrelease', 'utf8').split('.').map((n) => parseInt(n, 10));
    if (!(major > 4 || (major === 4 && minor >= 18))) return false;
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'EACCES')) return false; // no procfs, or not ours to read
    throw err;
  }
  const { major, minor } = devMajorMinor(dev);
  const types = fsTypesOfDevice(mountinfo, major, minor);
  return types.length > 0 && types.every((t) => PLAIN_FILESYSTEMS.has(t));
}

/**
 * Whether `/proc/locks` shows flocks taken by flock(1) on the filesystem of `dir` (whose st_dev is `dev`),
 * checked once per process and filesystem: by the kernel's rules where they settle it (`procLocksShowAll`),
 * otherwise by taking a shared lock on `dir` itself and looking for its line (by flock(1)'s pid). It does not where the lock's recorded pid (flock(1)'s, exited) cannot be named in our pid
 * namespace — inside a container the kernel then hides the line — nor where stat's st_dev is not the
 * superblock's (btrfs subvolumes).
 */
export async function procLocksTrusted(dir: string, dev: bigint): Promise<boolean> {
  let verdict = trusted.get(dev);
  if (verdict === undefined) {
    // Where the kernel's rules settle it (the initial pid namespace, a plain filesystem), no flock(1) is run:
    // that spawn would be most of a `rkt status`.
    verdict = procLocksShowAll(dev).then((shown) => shown || calibrate(dir, dev));
    trusted.set(dev, verdict); // concurrent callers share one calibration
  }
  let known: boolean | undefined;
  try {
    known = await verdict;
  } catch (err) {
    trusted.delete(dev);
    throw err;
  }
  if (known === undefined) trusted.delete(dev); // could not tell this time: try again next time
  return known ?? false;
}

/** The calibration behind `procLocksTrusted`; undefined if it could not be done (no /proc, `dir` locked). */
async function calibrate(dir: string, dev: bigint): Promise<boolean | undefined> {
  const fh = await fs.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    const st = await fh.stat({ bigint: true });
    if (st.dev !== dev) return false; // a pod directory that is itself a mount point: nothing to calibrate on
    const { locked, pid } = await flockByChild(fh.fd, '--shared');
    if (!locked) return undefined;
    const locks = await readProcLocks();
    if (locks === undefined) return undefined;
    return flocksOn(locks, st).some((l) => l.pid === pid);
  } finally {
    await fh.close();
  }
}
