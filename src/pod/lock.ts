/**
 * Pod locks: an exclusive flock(2) on the pod directory, held for exactly as long as some process holds the
 * open file description it was taken on. Node has no flock(2): locks are taken and tested by rkt's own addon
 * (src/common/native.ts: build/rkt-native.node). See README.md, "The lock".
 */
import { closeSync, constants as fsc, openSync } from 'node:fs';
import { RktError, describe } from '../common/errors.js';
import { nativeAddon } from '../common/native.js';

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

/**
 * How often `tryLockFd` tries again when the lock is refused by shared locks alone (a reader's test, see
 * `isLocked`), and how long it waits in between: a reader holds its shared lock for the few microseconds of one
 * flock(2) and close(2); one held through all the tries is not a reader's, and counts as held.
 */
const READER_RETRIES = 250;
const READER_WAIT_MS = 2;

/**
 * Take the exclusive lock on the open file description behind `fd` (from `openPodDir`), without waiting.
 * True if it is now held through `fd` (also when `fd` already held it); false if another open file description
 * holds it. The lock stays held after this returns, by `fd` and by every copy of it passed to a child, until all
 * of them are closed: pass `fd` in the stage1 process's `stdio` and the lock lives exactly as long as the pod.
 *
 * A reader testing the lock at that instant (`isLocked`: `rkt list`, `rkt status`) holds a shared lock for a few
 * microseconds, which refuses ours too. Every holder of a pod lock holds it exclusively, so when ours is
 * refused, a shared lock of our own on a fresh description of the directory tells the two apart: granted, only
 * readers were in the way, and we try again (a few milliseconds apart, `READER_RETRIES` times at most).
 */
export async function tryLockFd(fd: number): Promise<boolean> {
  // An exclusive lock this process took through `fd` stays held until `fd` is closed: no need to ask again.
  if (exclusivelyHeld.has(fd)) return true;
  for (let attempt = 0; ; attempt++) {
    if (flockFd(fd, 'exclusive')) {
      exclusivelyHeld.add(fd);
      return true;
    }
    if (attempt === READER_RETRIES || !onlyReadersHold(fd)) return false;
    await new Promise((resolve) => setTimeout(resolve, READER_WAIT_MS));
  }
}

/**
 * Whether a shared lock can be had on the directory behind `fd` (through a fresh description of it, opened by
 * `/proc/self/fd`, which follows the directory wherever it was renamed): true if no exclusive lock is held.
 * False, as if held, where it cannot be asked (no `/proc`).
 */
function onlyReadersHold(fd: number): boolean {
  let other: number;
  try {
    other = openSync(`/proc/self/fd/${fd}`, fsc.O_RDONLY | fsc.O_DIRECTORY);
  } catch {
    return false;
  }
  try {
    return flockFd(other, 'shared');
  } finally {
    closeSync(other);
  }
}

/**
 * True if anyone holds the lock on the directory `dir` (a pod is being prepared or is running). Asks the kernel:
 * a shared lock on a fresh open file description of `dir`, dropped at once by closing it. That is right in any
 * pid namespace and on any filesystem flock(2) works on, and costs an open, a flock and a close: reading
 * `/proc/locks` instead costs an RCU grace period in the kernel (its reader takes the lock table's percpu
 * rwsem for writing), 5–40 ms on these machines, more than all of a `rkt status`. A concurrent `tryLockFd`
 * refused by this instant's shared lock tries again (see there). Throws the fs error (ENOENT if `dir` is
 * gone, ENOTDIR or ELOOP if it is not a directory: a symbolic link is not followed) for the caller to wrap
 * with its context.
 */
export function isLocked(dir: string): boolean {
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
  try {
    return !flockFd(fd, 'shared');
  } finally {
    closeSync(fd);
  }
}
