import test from 'ava';
import { readFileSync } from 'node:fs';
import { parseDuration, parseInsecureOptions } from '../../../src/common/options.js';
import { RKT_VERSION } from '../../../src/common/version.js';
import { UsageError } from '../../../src/common/errors.js';

test('--insecure-options expands groups and accepts several lists', (t) => {
  t.deepEqual([...parseInsecureOptions(['image,tls'])].sort(), ['image', 'tls']);
  t.deepEqual([...parseInsecureOptions(['all-fetch'])].sort(), ['http', 'image', 'tls']);
  t.deepEqual([...parseInsecureOptions(['none'])], []);
  t.deepEqual([...parseInsecureOptions(['image', 'http'])].sort(), ['http', 'image']);
  t.is(parseInsecureOptions(['all']).size, 8);
  t.deepEqual([...parseInsecureOptions(['all-run'])].sort(), ['capabilities', 'ondisk', 'paths', 'seccomp']);
});

test('--insecure-options rejects an unknown name with a usage error', (t) => {
  const err = t.throws(() => parseInsecureOptions(['image,nope']), { instanceOf: UsageError });
  t.regex(err.message, /bad --insecure-options value "nope"/);
  t.is(err.exitCode, 2);
});

test('durations in Go form', (t) => {
  t.is(parseDuration('--grace-period', '30m'), 1_800_000);
  t.is(parseDuration('--grace-period', '24h'), 86_400_000);
  t.is(parseDuration('--grace-period', '1h30m'), 5_400_000);
  t.is(parseDuration('--grace-period', '0s'), 0);
  t.is(parseDuration('--grace-period', '0'), 0);
  t.is(parseDuration('--grace-period', '500ms'), 500);
  t.is(parseDuration('--grace-period', '1.5h'), 5_400_000);
  for (const bad of ['', '10', 'h', '10x', '-1h', '1h foo']) {
    t.throws(() => parseDuration('--grace-period', bad), { instanceOf: UsageError, message: /bad --grace-period value/ }, bad);
  }
});

test('RKT_VERSION matches package.json and is at least 1.30', (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.is(RKT_VERSION, pkg.version);
  const [major, minor] = RKT_VERSION.split('.').map(Number);
  t.true(major === 1 && (minor ?? 0) >= 30);
});
