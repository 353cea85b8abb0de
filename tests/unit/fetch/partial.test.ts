import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { claimPartial, dropPartial, parseContentRange, strongValidator, validatorsOf } from '../../../src/fetch/partial.js';

test('Content-Range: start and total, or nothing for what is not a byte range', (t) => {
  t.deepEqual(parseContentRange('bytes 100-199/200'), { start: 100, total: 200 });
  t.deepEqual(parseContentRange(' bytes 0-9/* '), { start: 0, total: undefined });
  t.is(parseContentRange('bytes */200'), undefined);
  t.is(parseContentRange('items 1-2/3'), undefined);
  t.is(parseContentRange(undefined), undefined);
});

test('If-Range carries a strong ETag, else Last-Modified; a weak ETag never', (t) => {
  t.is(strongValidator({ etag: '"a"', lastModified: 'Tue, 01 Dec 2026 10:00:00 GMT' }), '"a"');
  t.is(strongValidator({ etag: 'W/"a"', lastModified: 'Tue, 01 Dec 2026 10:00:00 GMT' }), 'Tue, 01 Dec 2026 10:00:00 GMT');
  t.is(strongValidator({ etag: 'W/"a"' }), undefined);
  t.deepEqual(validatorsOf({ etag: '"x"', 'content-length': '3' }), { etag: '"x"' });
});

/** Field 22 of /proc/PID/stat: the process's start time in clock ticks since boot. */
function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

test("a fetch's own partial starts empty; another live process's partial of the URL is left alone", async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'rkt-partial-test-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const url = 'https://example.com/a.aci';
  const mine = await claimPartial(tmp, url);
  t.is(mine.resume, undefined);
  t.deepEqual(mine.meta, {});
  // The parent of this test runs, so its partial is not ours to take.
  const base = path.basename(mine.part).replace(/\.[^.]+-\d+-\d+\.part$/, '');
  const context = path.basename(mine.part).slice(base.length + 1).split('-')[0] ?? '';
  const other = path.join(tmp, `${base}.${context}-${process.ppid}-${startTime(process.ppid)}.part`);
  writeFileSync(other, 'bytes');
  writeFileSync(mine.part, 'mine');
  const again = await claimPartial(tmp, url);
  t.is(again.resume, undefined);
  t.true(readdirSync(tmp).includes(path.basename(other)));
  await dropPartial(again);
  t.deepEqual(readdirSync(tmp), [path.basename(other)]);
});

test("a partial whose owner has ended is taken over and resumed from its size, with its record's validator", async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'rkt-partial-test-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const url = 'https://example.com/b.aci';
  const probe = await claimPartial(tmp, url);
  const name = path.basename(probe.part);
  const base = name.replace(/\.[^.]+-\d+-\d+\.part$/, '');
  const context = name.slice(base.length + 1).split('-')[0] ?? '';
  // The same pid as a live process but another start time: that owner has ended (its pid was reused).
  const dead = path.join(tmp, `${base}.${context}-${process.ppid}-1`);
  writeFileSync(`${dead}.part`, Buffer.alloc(1000));
  writeFileSync(`${dead}.json`, JSON.stringify({ url, etag: '"e1"' }));
  const taken = await claimPartial(tmp, url);
  t.deepEqual(taken.resume, { size: 1000, validator: '"e1"' });
  t.deepEqual(taken.meta, { etag: '"e1"' });
  t.deepEqual(readdirSync(tmp).sort(), [path.basename(taken.metaFile), path.basename(taken.part)].sort());

  // A record for another URL (a hash collision, a torn file) is not trusted: the bytes are dropped.
  await dropPartial(taken);
  writeFileSync(`${dead}.part`, Buffer.alloc(1000));
  writeFileSync(`${dead}.json`, JSON.stringify({ url: 'https://example.com/other.aci', etag: '"e1"' }));
  const fresh = await claimPartial(tmp, url);
  t.is(fresh.resume, undefined);
  t.deepEqual(readdirSync(tmp), []);
});
