import test from 'ava';
import { readFileSync } from 'node:fs';
import { parsePodFile, splitCommandLine, type PodFile } from '../../../src/generate/pod-file.js';
import { installLinks, renderPodService, renderPreparedPodService, runArgv } from '../../../src/generate/unit.js';

const golden = (name: string) => readFileSync(new URL(`./golden/${name}`, import.meta.url), 'utf8');
const parse = (text: string): PodFile => {
  const r = parsePodFile(text);
  if (!r.ok) throw new Error(`line ${r.error.line}: ${r.error.message}`);
  return r.pod;
};
const errorOf = (text: string) => {
  const r = parsePodFile(text);
  return r.ok ? undefined : r.error;
};

test('a full pod file renders its golden unit', (t) => {
  t.is(renderPodService('web', parse(golden('web.pod')), { rkt: '/usr/bin/rkt', sourcePath: '/etc/rkt/pods.d/web.pod' }), golden('web.service'));
});

test('a minimal pod file with PullPolicy=never renders its golden unit: no fetch, no network ordering', (t) => {
  t.is(renderPodService('minimal', parse(golden('minimal.pod')), { rkt: '/usr/bin/rkt', sourcePath: '/etc/rkt/pods.d/minimal.pod' }), golden('minimal.service'));
});

test('app keys belong to the Image= before them; pod keys to the pod', (t) => {
  const pod = parse(golden('web.pod'));
  t.deepEqual(pod.apps.map((a) => a.image), ['example.com/web:1.0', 'example.com/sidecar']);
  t.deepEqual(pod.apps[0]?.exec, ['/bin/web', '--greeting=hello world', '--cost=5$', '--pct=100%']);
  t.deepEqual(pod.apps[0]?.environment, ['MODE=production']);
  t.deepEqual(pod.apps[1]?.mounts, ['volume=data,target=/var/data']);
  t.deepEqual(pod.mounts, ['volume=data,target=/data']);
  t.is(pod.pullPolicy, 'update');
  t.deepEqual(runArgv(pod), [
    '--insecure-options=image', 'run', '--pull-policy=never', '--stage1-path=/usr/lib/rkt/stage1.aci', '--net=default', '--port=http:8080',
    '--volume=data,kind=host,source=/srv/data', '--mount=volume=data,target=/data',
    'example.com/web:1.0', '--name=web', '--environment=MODE=production', '--exec=/bin/web', '--', '--greeting=hello world', '--cost=5$', '--pct=100%',
    '---', 'example.com/sidecar', '--mount=volume=data,target=/var/data',
  ]);
});

test('[Install] becomes the generator\'s links', (t) => {
  t.deepEqual(installLinks('web', parse(golden('web.pod'))), [
    { dir: 'multi-user.target.wants', name: 'web.service', target: '../web.service' },
    { dir: '.', name: 'website.service', target: 'web.service' },
  ]);
  t.deepEqual(installLinks('minimal', parse(golden('minimal.pod'))), []);
});

test('a prepared pod renders rkt run-prepared with the same settings', (t) => {
  t.is(renderPreparedPodService('0513c6b3-04cf-4e5c-a5bb-f68b6df989be', ['busybox'], { rkt: '/usr/bin/rkt' }), golden('prepared.service'));
});

test('errors name the line', (t) => {
  t.deepEqual(errorOf('[Pod]\nImage=example.com/a\nFrobnicate=yes\n'), { line: 3, message: 'unknown key "Frobnicate" in [Pod] (want Image, Volume, Net, Port, PullPolicy, Stage1, InsecureOptions, Mount, Name, Exec, Environment)' });
  t.deepEqual(errorOf('[Pod]\nExec=/bin/true\nImage=example.com/a\n'), { line: 2, message: 'Exec= belongs to an app: put it after the Image= it is for' });
  t.deepEqual(errorOf('[Unit]\nDescription=x\n[Pod]\nPullPolicy=sometimes\nImage=a.b/c\n'), { line: 4, message: 'PullPolicy= wants new, update or never, got "sometimes"' });
  t.deepEqual(errorOf('[Pod]\nImage=a.b/c\n[Service]\nKillMode=control-group\n'), { line: 4, message: "[Service] KillMode= is rkt's to set in a pod's unit (see Documentation/systemd-units.md)" });
  t.deepEqual(errorOf('# a pod\n[Pod]\n\n'), { line: 2, message: 'no Image= in [Pod]: a pod needs at least one app' });
  t.deepEqual(errorOf('[Pods]\n'), { line: 1, message: 'unknown section [Pods] (want [Unit], [Pod], [Service] or [Install])' });
  t.deepEqual(errorOf('Image=a.b/c\n'), { line: 1, message: '"Image=" before any section' });
  t.deepEqual(errorOf('[Pod]\nImage=a.b/c\nExec=/bin/sh -c "unterminated\n'), { line: 3, message: 'Exec=: an unterminated " quote' });
  t.deepEqual(errorOf('[Unit]\nDescription=nothing\n'), { line: 1, message: 'no Image= in [Pod]: a pod needs at least one app' });
  t.deepEqual(errorOf('[Pod]\nImage=a.b/c\njust words\n'), { line: 3, message: 'not a Key=value line: "just words"' });
  t.deepEqual(errorOf('[Pod]\nImage=a.b/c\n[Install]\nAlso=x.service\n'), { line: 4, message: '[Install] Also= is not supported in a pod file (want WantedBy=, RequiredBy= or Alias=)' });
});

test('command lines split as systemd splits them', (t) => {
  t.deepEqual(splitCommandLine(`/bin/sh -c 'echo "a b"; exit 3'`), ['/bin/sh', '-c', 'echo "a b"; exit 3']);
  t.deepEqual(splitCommandLine('a\\ b "c d" e'), ['a b', 'c d', 'e']);
  t.is(splitCommandLine('   '), 'an empty command');
  t.is(splitCommandLine('x\\'), 'a trailing backslash');
});
