import test from 'ava';
import { mkdtempSync, mkdirSync, readFileSync, readlinkSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findPods, loadPod, runGenerator, type FoundPod } from '../../../src/generate/generator.js';
import { manifestPodFile, parseManifestPod } from '../../../src/generate/manifest-pod.js';
import { renderPodService, runArgv } from '../../../src/generate/unit.js';
import { main } from '../../../src/cli/index.js';
import { bufferIo } from '../../lib/io.js';

const golden = (name: string) => readFileSync(new URL(`./golden/${name}`, import.meta.url), 'utf8');
const ID = `sha512-${'a'.repeat(128)}`;
const OPTS = { rkt: '/usr/bin/rkt' };

/** A pods.d tree in a temporary directory: `files` by path relative to it. */
function tree(t: { teardown: (f: () => void) => void }, files: Readonly<Record<string, string>>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'rkt-manifest-pod-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

const loadOne = async (dir: string, name: string) => {
  const found = (await findPods([dir])).pods.find((p) => p.name === name);
  if (found === undefined) throw new Error(`no pod ${name} in ${dir}`);
  return loadPod(found);
};
const messageOf = async (dir: string, name: string): Promise<string> => {
  const loaded = await loadOne(dir, name);
  return loaded.ok ? 'no error' : loaded.message;
};

const MINIMAL_YAML = `acVersion: 0.8.11
acKind: PodManifest
apps:
  - name: busybox
    image:
      name: example.com/busybox
`;

test('a YAML manifest alone renders its golden unit: the named image fetched, the one by ID not; its ports left to rkt run, which reads them', async (t) => {
  const dir = tree(t, { 'web.pod.yaml': golden('web.pod.yaml') });
  const loaded = await loadOne(dir, 'web');
  if (!loaded.ok) return t.fail(loaded.message);
  t.is(loaded.file, path.join(dir, 'web.pod.yaml'));
  t.deepEqual(loaded.pod.manifest?.images, ['example.com/web:1.0,os=linux']);
  t.deepEqual(runArgv(loaded.pod), ['run', '--pull-policy=never', `--pod-manifest=${path.join(dir, 'web.pod.yaml')}`]);
  const unit = renderPodService('web', loaded.pod, { ...OPTS, sourcePath: '/etc/rkt/pods.d/web.pod.yaml' });
  t.is(unit.replaceAll(dir, '/etc/rkt/pods.d'), golden('web-yaml.service'));
});

test('a manifest with a NAME.pod beside it: the pod file gives [Unit], [Service], [Install] and the pod-level keys', async (t) => {
  const dir = tree(t, { 'web.pod.yaml': golden('web.pod.yaml'), 'web.pod': golden('web-beside.pod') });
  const loaded = await loadOne(dir, 'web');
  if (!loaded.ok) return t.fail(loaded.message);
  t.is(loaded.file, path.join(dir, 'web.pod.yaml'));
  t.is(loaded.alsoFrom, path.join(dir, 'web.pod'));
  const unit = renderPodService('web', loaded.pod, { ...OPTS, sourcePath: loaded.file, alsoFrom: path.join(dir, 'web.pod') });
  t.is(unit.replaceAll(dir, '/etc/rkt/pods.d'), golden('web-beside.service'));
});

test('a JSON manifest: an image named by two apps is fetched once; a manifest naming no image fetches nothing', async (t) => {
  const dir = tree(t, {
    'db.pod.json': golden('db.pod.json'),
    'byid.pod.json': JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [{ name: 'a', image: { id: ID } }] }),
  });
  const db = await loadOne(dir, 'db');
  if (!db.ok) return t.fail(db.message);
  t.is(renderPodService('db', db.pod, { ...OPTS, sourcePath: '/etc/rkt/pods.d/db.pod.json' }).replaceAll(dir, '/etc/rkt/pods.d'), golden('db.service'));
  const byId = await loadOne(dir, 'byid');
  if (!byId.ok) return t.fail(byId.message);
  const unit = renderPodService('byid', byId.pod, OPTS);
  t.notRegex(unit, /ExecStartPre=|network-online/, 'nothing to fetch, no network ordering');
  t.regex(unit, /^ExecStart="\/usr\/bin\/rkt" "run" "--pull-policy=never" "--pod-manifest=.*byid\.pod\.json"$/m);
});

test('a YAML syntax error names the file and line', async (t) => {
  const dir = tree(t, { 'bad.pod.yaml': 'acVersion: 0.8.11\nacKind: PodManifest\napps:\n  - name: a\n   image: {}\n' });
  t.is(await messageOf(dir, 'bad'), `${dir}/bad.pod.yaml:5: bad indentation of a sequence entry`);
});

test('a JSON syntax error names the file and line', async (t) => {
  const dir = tree(t, { 'bad.pod.json': '{\n  "acVersion": "0.8.11",\n  "apps": [,]\n}\n' });
  t.is(await messageOf(dir, 'bad'), `${dir}/bad.pod.json:3: not valid JSON: Unexpected token ','`);
  const eof = tree(t, { 'cut.pod.json': '{\n  "acVersion": "0.8.11",\n  "apps": [\n' });
  t.regex(await messageOf(eof, 'cut'), new RegExp(`^${eof}/cut\\.pod\\.json(:4)?: not valid JSON: Unexpected end of JSON input$`));
});

test('a schema error names the file and the field path', async (t) => {
  const dir = tree(t, {
    'name.pod.yaml': `${MINIMAL_YAML}  - name: second\n    image:\n      name: Example.com/Busybox\n`,
    'none.pod.yaml': `${MINIMAL_YAML}  - name: second\n    image:\n      labels: []\n`,
    'comma.pod.yaml': `${MINIMAL_YAML}  - name: second\n    image:\n      name: example.com/x\n      labels:\n        - name: version\n          value: "1,2"\n`,
    'vol.pod.yaml': `${MINIMAL_YAML}    mounts:\n      - volume: data\n        path: /data\n`,
    'empty.pod.json': JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [] }),
    'kind.pod.json': JSON.stringify({ acVersion: '0.8.11', acKind: 'ImageManifest', apps: [] }),
  });
  t.regex(await messageOf(dir, 'name'), new RegExp(`^${dir}/name\\.pod\\.yaml: invalid pod manifest: apps\\[1\\]\\.image\\.name: `));
  t.is(await messageOf(dir, 'none'), `${dir}/none.pod.yaml: invalid pod manifest: apps[1].image: neither "id" nor "name" given: name the image by image.name (and labels) or give its image.id`);
  t.regex(await messageOf(dir, 'comma'), new RegExp(`^${dir}/comma\\.pod\\.yaml: invalid pod manifest: apps\\[1\\]\\.image\\.labels\\[0\\]\\.value: "1,2": a label value`));
  t.is(await messageOf(dir, 'vol'), `${dir}/vol.pod.yaml: invalid pod manifest: apps[0].mounts[0].volume: no volume named "data" in the pod`);
  t.is(await messageOf(dir, 'empty'), `${dir}/empty.pod.json: invalid pod manifest: apps: a pod needs at least one app`);
  t.regex(await messageOf(dir, 'kind'), new RegExp(`^${dir}/kind\\.pod\\.json: invalid pod manifest: acKind: `));
});

test('hostile YAML: aliases that expand past any real manifest are refused, not walked', (t) => {
  const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  const r = parseManifestPod('/etc/rkt/pods.d/lol.pod.yaml', `${laughs.join('\n')}\n`);
  t.deepEqual(r, { ok: false, message: '/etc/rkt/pods.d/lol.pod.yaml: more than 100000 values (YAML aliases expanded): not a pod manifest' });
  // YAML's other types stay out: a date is a string to the schema, not a Date object
  const dated = parseManifestPod('/x/d.pod.yaml', `${MINIMAL_YAML}annotations:\n  - name: created\n    value: 2026-12-02T00:00:00Z\n`);
  t.true(dated.ok, dated.ok ? '' : dated.message);
});

test('a name that cannot be a unit name is refused, naming the file', async (t) => {
  const dir = tree(t, { 'we b.pod.yaml': MINIMAL_YAML });
  t.is(await messageOf(dir, 'we b'), `${dir}/we b.pod.yaml: "we b" cannot be a unit name (letters, digits, ":_.\\-" only)`);
});

test('apps in both NAME.pod and NAME.pod.yaml: an error naming both files; so are the manifest\'s other facts', async (t) => {
  const dir = tree(t, {
    'both.pod.yaml': MINIMAL_YAML,
    'both.pod': '[Unit]\nDescription=x\n[Pod]\nNet=host\nImage=example.com/other\n',
    'vol.pod.yaml': MINIMAL_YAML,
    'vol.pod': '[Pod]\nVolume=data,kind=empty\n',
    'port.pod.yaml': MINIMAL_YAML,
    'port.pod': '[Pod]\nPort=http:80\n',
    'exec.pod.yaml': MINIMAL_YAML,
    'exec.pod': '[Pod]\nExec=/bin/true\n',
    'two.pod.yaml': MINIMAL_YAML,
    'two.pod.json': '{}',
  });
  t.is(await messageOf(dir, 'both'), `${dir}/both.pod:5: Image= declares an app, but ${dir}/both.pod.yaml declares this pod's apps, volumes and ports: say it there (or remove ${dir}/both.pod.yaml)`);
  t.regex(await messageOf(dir, 'vol'), new RegExp(`^${dir}/vol\\.pod:2: Volume= declares a volume, but ${dir}/vol\\.pod\\.yaml declares`));
  t.regex(await messageOf(dir, 'port'), new RegExp(`^${dir}/port\\.pod:2: Port= forwards a port, but ${dir}/port\\.pod\\.yaml declares`));
  t.regex(await messageOf(dir, 'exec'), new RegExp(`^${dir}/exec\\.pod:2: Exec= sets an app's exec, but`));
  t.is(await messageOf(dir, 'two'), `${dir}/two.pod.json and ${dir}/two.pod.yaml: two pod manifests for the pod two: keep one`);
});

test('precedence: the first directory holding any file of a NAME supplies all of them', async (t) => {
  const root = tree(t, {
    'etc/web.pod.yaml': MINIMAL_YAML,
    'lib/web.pod': '[Pod]\nImage=example.com/from-lib\n[Install]\nWantedBy=multi-user.target\n',
    'lib/db.pod': '[Pod]\nImage=example.com/db\n',
    'run/db.pod.json': JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [{ name: 'db', image: { name: 'example.com/db-run' } }] }),
  });
  const dirs = ['etc', 'run', 'lib'].map((d) => path.join(root, d));
  const { pods } = await findPods(dirs);
  t.deepEqual(pods, [
    { name: 'db', manifests: [path.join(root, 'run/db.pod.json')] },
    { name: 'web', manifests: [path.join(root, 'etc/web.pod.yaml')] },
  ] satisfies FoundPod[]);
  const out = path.join(root, 'out');
  const res = await runGenerator(dirs, out, OPTS);
  t.deepEqual(res, { written: ['db.service', 'web.service'], errors: [] });
  t.regex(readFileSync(path.join(out, 'web.service'), 'utf8'), /"fetch" "--pull-policy=new" "example\.com\/busybox"/);
  t.false(existsSync(path.join(out, 'multi-user.target.wants')), "the hidden pod file's [Install] is not read");
  t.regex(readFileSync(path.join(out, 'db.service'), 'utf8'), /"example\.com\/db-run"/);
});

test('the generator: bad manifests and a .pod.yml are reported, the good pods still written with their links', async (t) => {
  const dir = tree(t, {
    'good.pod.yaml': MINIMAL_YAML,
    'good.pod': '[Install]\nWantedBy=multi-user.target\n',
    'broken.pod.yaml': 'apps: [\n',
    'typo.pod.yml': MINIMAL_YAML,
    'ini.pod': '[Pod]\nImage=example.com/busybox\n',
  });
  const out = path.join(dir, 'out');
  const res = await runGenerator([dir], out, OPTS);
  t.deepEqual(res.written, ['good.service', 'ini.service']);
  t.deepEqual(res.errors, [
    `${dir}/typo.pod.yml: a pod manifest is NAME.pod.yaml or NAME.pod.json, not .pod.yml: rename it to typo.pod.yaml`,
    `${dir}/broken.pod.yaml:2: unexpected end of the stream within a flow collection`,
  ]);
  t.deepEqual(readdirSync(out).sort(), ['good.service', 'ini.service', 'multi-user.target.wants']);
  t.is(readlinkSync(path.join(out, 'multi-user.target.wants/good.service')), '../good.service');
  t.regex(readFileSync(path.join(out, 'good.service'), 'utf8'), new RegExp(`^# Generated by rkt from ${dir}/good\\.pod\\.yaml and ${dir}/good\\.pod; edit them`));
  t.regex(readFileSync(path.join(out, 'good.service'), 'utf8'), new RegExp(`^SourcePath=${dir}/good\\.pod\\.yaml$`, 'm'));
});

test('manifestPodFile alone takes a pod file\'s defaults', (t) => {
  const pod = manifestPodFile({ file: '/x/p.pod.yaml', images: ['example.com/a'], ports: [] });
  t.is(pod.pullPolicy, 'new');
  t.deepEqual(pod.nets, []);
  t.deepEqual(runArgv(pod), ['run', '--pull-policy=never', '--pod-manifest=/x/p.pod.yaml']);
});

test('rkt generate systemd NAME.pod.yaml / .json prints the unit; a bad one exits 254 naming the file; another suffix is a usage error', async (t) => {
  const dir = tree(t, { 'web.pod.yaml': golden('web.pod.yaml'), 'db.pod.json': golden('db.pod.json'), 'bad.pod.json': '{"apps": 1}', 'x.pod.yml': MINIMAL_YAML });
  const gen = async (arg: string) => {
    const io = bufferIo();
    return { code: await main(['generate', 'systemd', arg], io), out: io.out(), err: io.err() };
  };
  const web = await gen(path.join(dir, 'web.pod.yaml'));
  t.is(web.code, 0, web.err);
  t.is(web.out.replaceAll(dir, '/etc/rkt/pods.d'), golden('web-yaml.service'));
  const db = await gen(path.join(dir, 'db.pod.json'));
  t.is(db.code, 0, db.err);
  t.is(db.out.replaceAll(dir, '/etc/rkt/pods.d'), golden('db.service'));
  const bad = await gen(path.join(dir, 'bad.pod.json'));
  t.is(bad.code, 254);
  t.regex(bad.err, new RegExp(`${dir}/bad\\.pod\\.json: invalid pod manifest: acVersion: required field is missing`));
  for (const arg of [path.join(dir, 'web.yaml'), path.join(dir, 'x.pod.yml'), 'web.pod.toml']) {
    const r = await gen(arg);
    t.is(r.code, 2, arg);
    t.is(r.out, '');
  }
});
