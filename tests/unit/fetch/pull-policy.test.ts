import test from 'ava';
import { reuseDownload, storePlan, type PullPolicy, type SourceKind } from '../../../src/fetch/pull-policy.js';

test('what the store may answer, per kind of argument and pull policy', (t) => {
  type Plan = ReturnType<typeof storePlan>;
  const table: Record<SourceKind, Record<PullPolicy, Plan>> = {
    id: { new: 'store-only', update: 'store-only', never: 'store-only' },
    file: { new: 'fetch', update: 'fetch', never: 'refuse' },
    url: { new: 'store-first', update: 'fetch', never: 'store-only' },
    name: { new: 'store-first', update: 'fetch', never: 'store-only' },
  };
  for (const [kind, row] of Object.entries(table) as [SourceKind, Record<PullPolicy, Plan>][]) {
    for (const [policy, want] of Object.entries(row) as [PullPolicy, Plan][]) t.is(storePlan(kind, policy), want, `${kind} under ${policy}`);
  }
});

test('an earlier download is reused under new, and under update only while younger than its max-age', (t) => {
  const at = '2026-12-01T12:00:00.000Z';
  const later = (s: number) => Date.parse(at) + s * 1000;
  t.true(reuseDownload('new', at, undefined, later(10 ** 6)));
  t.true(reuseDownload('update', at, 60, later(59)));
  t.false(reuseDownload('update', at, 60, later(60)));
  t.false(reuseDownload('update', at, 0, later(0)));
  t.false(reuseDownload('update', at, undefined, later(1)), 'no max-age: ask the server (If-None-Match)');
});
