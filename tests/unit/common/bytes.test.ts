import test from 'ava';
import { formatBytes } from '../../../src/common/bytes.js';
import { humanSize } from '../../../src/cli/render.js';

test('sizes in binary units: one decimal below 10, none above, plain bytes as they are', (t) => {
  t.is(formatBytes(0), '0 B');
  t.is(formatBytes(1023), '1023 B');
  t.is(formatBytes(1536), '1.5 KiB');
  t.is(formatBytes(8 * (1 << 20)), '8.0 MiB');
  t.is(formatBytes(20 * (1 << 20) + 300_000), '20 MiB');
  t.is(formatBytes(3 * 2 ** 30), '3.0 GiB');
  t.is(formatBytes(5 * 2 ** 50), '5.0 PiB');
});

test('compact sizes, as the SIZE column of rkt image list shows them', (t) => {
  t.is(formatBytes(1536, { compact: true }), '1.5KiB');
  t.is(humanSize(512), '512B');
  t.is(humanSize(186 * (1 << 20)), '186MiB');
});
