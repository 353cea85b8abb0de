import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { loadPodManifestFile, namedImages, parseManifestText } from '../../../src/stage0/pod-manifest-file.js';
import { StoreLayout } from '../../../src/store/layout.js';
import { writeRecord, type ImageRecord } from '../../../src/store/records.js';

const id = (c: string) => `sha512-${c.repeat(128)}`;
const record = (hex: string, name: string, labels: [string, string][], importTime: string): ImageRecord => ({
  id: id(hex), name, labels: labels.map(([n, value]) => ({ name: n, value })), importTime, lastUsed: importTime,
  blobSize: 1, size: 1, treeSize: 1, compression: 'none', latest: false, dependencies: [],
});

const YAML = `acVersion: 0.8.11
acKind: PodManifest
apps:
  - name: web
    image:
      name: example.com/web
      labels:
        - name: version
          value: "1.0"
  - name: pinned
    image:
      id: ${id('c')}
`;

test('images named by name and labels are resolved from the store: the newest matching import, the labels respected', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rkt-pm-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const layout = new StoreLayout(dir);
  await writeRecord(layout, record('a', 'example.com/web', [['version', '1.0']], '2026-01-01T00:00:00Z'));
  await writeRecord(layout, record('b', 'example.com/web', [['version', '1.0']], '2026-02-01T00:00:00Z'));
  await writeRecord(layout, record('d', 'example.com/web', [['version', '2.0']], '2026-03-01T00:00:00Z'));
  const m = await loadPodManifestFile(layout, '/x/web.pod.yaml', YAML);
  t.deepEqual(m.apps.map((a) => [a.name, a.image.id, a.image.name]), [['web', id('b'), 'example.com/web'], ['pinned', id('c'), undefined]]);

  const missing = await t.throwsAsync(loadPodManifestFile(layout, '/x/web.pod.yaml', YAML.replace('"1.0"', '"3.0"')), { instanceOf: RktError });
  t.is(missing?.message, 'pod manifest /x/web.pod.yaml: app web: no image example.com/web:3.0 in the store');
  t.is((missing as RktError).code, 'ENOIMAGE');
});

test('syntax and schema errors are EPODMANIFEST naming the file and line, or the field', async (t) => {
  const layout = new StoreLayout('/nonexistent');
  const syntax = await t.throwsAsync(loadPodManifestFile(layout, '/x/p.yaml', 'apps:\n  - a\n - b\n'), { instanceOf: RktError });
  t.is(syntax?.message, 'invalid pod manifest /x/p.yaml:3: bad indentation of a mapping entry');
  const schema = await t.throwsAsync(loadPodManifestFile(layout, '/x/p.json', JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [{ name: 'a', image: { name: 'NotAName' } }] })), { instanceOf: RktError });
  t.regex(schema?.message ?? '', /^invalid pod manifest: apps\[0\]\.image\.name: /);
});

test('namedImages: the reference of each app without an ID, version first', (t) => {
  const value = parseManifestText('/x/p.yaml', YAML.replace('        - name: version', '        - name: os\n          value: linux\n        - name: version'));
  if (!value.ok) return t.fail(value.problem.message);
  t.deepEqual(namedImages(value.value), [{ index: 0, app: 'web', reference: 'example.com/web:1.0,os=linux' }]);
});
