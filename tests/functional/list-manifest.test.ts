import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { rkt, tempDir } from '../lib/rkt.js';

// rkt list on pod directories written by hand (exited-garbage pods: no lock, no stage1 needed).

const ID = `sha512-${'ab'.repeat(64)}`;
const GOOD = '11111111-1111-4111-8111-111111111111';
const BAD_NAME = '22222222-2222-4222-8222-222222222222';
const TRUNCATED = '33333333-3333-4333-8333-333333333333';
/** What this Node's JSON.parse says of a truncated document (its wording differs between Node versions). */
const JSON_END = (() => {
  try {
    JSON.parse('{"acKind": "PodManifest"');
  } catch (err) {
    if (err instanceof SyntaxError) return err.message;
    throw err;
  }
  throw new Error('JSON.parse took a truncated document');
})();

test('rkt list validates each pod manifest: a damaged one is warned about and its pod listed without apps', async (t) => {
  const { dir, cleanup } = tempDir('rkt-list-');
  t.teardown(cleanup);
  const pod = (uuid: string, manifest: string) => {
    const d = path.join(dir, 'pods', 'exited-garbage', uuid);
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, 'pod'), manifest);
    return path.join(d, 'pod');
  };
  const app = (name: string) => ({ name, image: { name: 'example.com/web', id: ID, labels: [] } });
  pod(GOOD, JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [app('web')] }));
  const badFile = pod(BAD_NAME, JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [app('Bad Name')] }));
  const truncatedFile = pod(TRUNCATED, '{"acKind": "PodManifest"');

  const r = await rkt([`--dir=${dir}`, 'list', '--no-legend', '--fields=uuid,app,image']);
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(r.stdout.trimEnd().split('\n').map((l) => l.split('\t').map((c) => c.trim())), [
    ['11111111', 'web', 'example.com/web'],
    ['22222222', '-', '-'],
    ['33333333', '-', '-'],
  ]);
  t.deepEqual(r.stderr.trimEnd().split('\n').sort(), [
    `rkt: warning: pod ${BAD_NAME}: ${badFile}: invalid pod manifest: apps[0].name: "Bad Name" is not a valid AC Name`,
    `rkt: warning: pod ${TRUNCATED}: ${truncatedFile}: invalid pod manifest: ${JSON_END}`,
  ]);

  const full = await rkt([`--dir=${dir}`, 'list', '--full', '--no-legend', '--fields=uuid,image']);
  t.is(full.exitCode, 0, full.stderr);
  t.deepEqual(full.stdout.split('\n')[0]?.split('\t').map((c) => c.trim()), [GOOD, 'example.com/web', ID], '--full prints the whole Image ID');
});

test("rkt list reads a pod's created time and apps from its list.json; a damaged one is warned about and the pod listed from its manifest", async (t) => {
  const { dir, cleanup } = tempDir('rkt-list-');
  t.teardown(cleanup);
  const pod = (uuid: string, listing: string | undefined) => {
    const d = path.join(dir, 'pods', 'exited-garbage', uuid);
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, 'pod'), JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [{ name: 'web', image: { name: 'example.com/web', id: ID, labels: [] } }] }));
    writeFileSync(path.join(d, 'created'), '2026-11-01T09:00:00Z\n');
    if (listing !== undefined) writeFileSync(path.join(d, 'list.json'), listing);
    return path.join(d, 'list.json');
  };
  // Where list.json and the manifest disagree (never, as rkt writes them), what is shown says which was read.
  pod(GOOD, JSON.stringify({ created: '2026-11-20T10:00:00.000Z', apps: [{ name: 'listed', image: 'example.com/listed', id: ID }] }));
  const damaged = pod(BAD_NAME, '{"created": "2026-11-20T10:00:00.000Z"}');
  pod(TRUNCATED, undefined);

  const r = await rkt([`--dir=${dir}`, 'list', '--no-legend', '--full', '--fields=uuid,app,image,created']);
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(r.stdout.trimEnd().split('\n').map((l) => l.split('\t').map((c) => c.trim())), [
    [GOOD, 'listed', 'example.com/listed', ID, '2026-11-20T10:00:00.000Z'],
    [BAD_NAME, 'web', 'example.com/web', ID, '2026-11-01T09:00:00.000Z'],
    [TRUNCATED, 'web', 'example.com/web', ID, '2026-11-01T09:00:00.000Z'],
  ]);
  t.is(r.stderr, `rkt: warning: pod ${BAD_NAME}: ${damaged} is corrupt: "apps" is not a list: listing it from its pod manifest\n`);
});
