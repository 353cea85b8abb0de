import test from 'ava';
import { listedApps } from '../../../src/cli/list-apps.js';
import { RktError } from '../../../src/common/errors.js';
import { parsePodManifest } from '../../../src/image/pod-manifest.js';

const ID = `sha512-${'ab'.repeat(64)}`;
const manifest = (apps: unknown): string => JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps });

test('listedApps: each app\'s name, image name and ID, as the full validation reads them', (t) => {
  const text = manifest([
    { name: 'web', image: { name: 'example.com/web', id: ID, labels: [{ name: 'version', value: '1' }] }, app: { exec: ['/bin/web'], user: '0', group: '0' } },
    { name: 'db', image: { id: ID } },
  ]);
  t.deepEqual(listedApps(text), [{ name: 'web', image: 'example.com/web', id: ID }, { name: 'db', image: '', id: ID }]);
  t.deepEqual(listedApps(Buffer.from(text)), listedApps(text));
  t.deepEqual(listedApps(text), parsePodManifest(text).apps.map((a) => ({ name: a.name, image: a.image.name ?? '', id: a.image.id })));
  t.deepEqual(listedApps(JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: null })), [], 'Go writes null for no apps');
});

test('listedApps: a damaged field fails with the words of the full validation', (t) => {
  const cases: unknown[] = [
    '{"acVersion": "0.8.11", "acKind": "PodManifest", "apps": [',
    JSON.stringify({ acVersion: '0.8.11', acKind: 'ImageManifest', apps: [] }),
    JSON.stringify({ acKind: 'PodManifest', apps: [] }),
    JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest' }),
    manifest([{ name: 'Bad Name', image: { id: ID } }]),
    manifest([{ name: 'a', image: { id: 'sha512-short' } }]),
    manifest([{ name: 'a', image: { name: 'Not An Identifier', id: ID } }]),
    manifest([{ name: 'a', image: { id: ID } }, { name: 'a', image: { id: ID } }]),
    manifest([{ name: 'a' }]),
    manifest('apps'),
    '[]',
  ];
  for (const text of cases as string[]) {
    const light = t.throws(() => listedApps(text), { instanceOf: RktError });
    const full = t.throws(() => parsePodManifest(text), { instanceOf: RktError });
    t.is(light?.code, 'EPODMANIFEST');
    t.is(light?.message, full?.message, text);
  }
  const bytes = t.throws(() => listedApps(Buffer.from([0x7b, 0xff, 0x7d])), { instanceOf: RktError });
  t.is(bytes?.message, 'invalid pod manifest: not valid UTF-8');
});
