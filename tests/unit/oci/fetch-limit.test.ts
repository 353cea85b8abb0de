import test from 'ava';
import { forEachLimit } from '../../../src/oci/fetch.js';

test('forEachLimit: every item, at most `limit` at once', async (t) => {
  let running = 0;
  let most = 0;
  const done: number[] = [];
  await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setImmediate(r));
    done.push(n);
    running--;
  });
  t.deepEqual(done.sort(), [1, 2, 3, 4, 5, 6, 7]);
  t.is(most, 3);
});

test('forEachLimit: after a failure no new job starts, the running ones end, then the first failure is thrown', async (t) => {
  const started: number[] = [];
  let finished = 0;
  const err = await t.throwsAsync(forEachLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
    started.push(n);
    await new Promise((r) => setImmediate(r));
    if (n === 2) throw new Error('layer 2 is bad');
    finished++;
  }));
  t.is(err?.message, 'layer 2 is bad');
  t.deepEqual(started, [1, 2, 3], 'the job running beside the failed one may take one more item, no more');
  t.is(finished, 2, 'and it ended before the failure was thrown');
});
