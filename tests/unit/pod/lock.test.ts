import test from 'ava';
import { closeSync, openSync } from 'node:fs';
import { nativeAddon } from '../../../src/common/native.js';
import { closePodDir, isLocked, openPodDir, tryLockFd } from '../../../src/pod/lock.js';
import { POD_DIRS, dirStateOf, stateOf } from '../../../src/pod/layout.js';
import { tempDir } from '../../lib/rkt.js';

/** A fresh directory, removed after the test. */
function podLikeDir(t: import('ava').ExecutionContext): string {
  const { dir, cleanup } = tempDir('rkt-lock-');
  t.teardown(cleanup);
  return dir;
}

/** A new open file description of `dir` and its `close` (closing it drops any lock it holds); closed after the test. */
function description(t: import('ava').ExecutionContext, dir: string): { fd: number; close: () => void } {
  const fd = openSync(dir, 'r');
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  t.teardown(close);
  return { fd, close };
}

test('a pod state is its directory plus whether its lock is held', (t) => {
  t.deepEqual(POD_DIRS.map((d) => [d, stateOf(d, true), stateOf(d, false)]), [
    ['embryo', 'embryo', 'embryo'],
    ['prepare', 'preparing', 'aborted-prepare'],
    ['prepared', 'prepared', 'prepared'],
    ['run', 'running', 'exited'],
    ['exited-garbage', 'exited-garbage', 'exited-garbage'],
    ['garbage', 'garbage', 'garbage'],
  ]);
  for (const d of POD_DIRS) {
    t.is(dirStateOf(stateOf(d, true)), d);
    t.is(dirStateOf(stateOf(d, false)), d);
  }
});

test('isLocked: false for a free directory, true while another description holds its lock; it leaves no lock behind', async (t) => {
  const dir = podLikeDir(t);
  t.false(isLocked(dir));
  const fd = openPodDir(dir);
  t.true(await tryLockFd(fd), 'its test took no lock that outlived it');
  t.true(isLocked(dir));
  closePodDir(fd);
  t.false(isLocked(dir), 'closing the holder released it');
  t.throws(() => isLocked(`${dir}/gone`), { code: 'ENOENT' });
});

test("tryLockFd takes the lock past a reader's shared lock, once the reader has dropped it", async (t) => {
  const dir = podLikeDir(t);
  const { flock } = nativeAddon();
  const reader = description(t, dir);
  t.true(flock(reader.fd, false), 'a reader testing the lock, caught in the act');
  const fd = openPodDir(dir);
  t.teardown(() => closePodDir(fd));
  const taking = tryLockFd(fd);
  // Its first try was refused (it ran before tryLockFd returned): the lock is not held yet.
  const third = description(t, dir);
  t.true(flock(third.fd, false), 'no exclusive lock is held while the reader is there');
  third.close();
  reader.close();
  t.true(await taking);
  t.true(isLocked(dir));
});

test('tryLockFd: a shared lock held through all its tries counts as held; an exclusive one is refused', async (t) => {
  const dir = podLikeDir(t);
  const { flock } = nativeAddon();
  const shared = description(t, dir);
  t.true(flock(shared.fd, false));
  const fd = openPodDir(dir);
  t.teardown(() => closePodDir(fd));
  t.false(await tryLockFd(fd));
  shared.close();
  const holder = description(t, dir);
  t.true(flock(holder.fd, true));
  t.false(await tryLockFd(fd));
  holder.close();
  t.true(await tryLockFd(fd));
});
