import test from 'ava';
import { readFileSync } from 'node:fs';
import { environmentLine, quoteExecArg, renderAppUnit, renderIoUnit, renderPodUnits, renderReaperUnit, type AppUnitSpec } from '../../../src/stage1/units.js';
import { nspawnArgs } from '../../../src/stage1/launch.js';

const golden = (name: string) => readFileSync(new URL(`./golden/${name}`, import.meta.url), 'utf8');

const web: AppUnitSpec = {
  name: 'web', imageName: 'example.com/web', exec: ['/bin/httpd', '-p', '80', 'a b', '$HOME', '50%', 'back\\slash'],
  uid: 1000, gid: 100, supplementaryGids: [27, 44], workingDirectory: '/srv',
  environment: [['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], ['AC_APP_NAME', 'web'], ['MSG', '100% "quoted" $HOME']],
  preStart: [['/bin/prepare', '--fast']], postStop: [['/bin/cleanup']],
  interactive: false, journal: true,
};

test('an app unit matches its golden file', (t) => {
  t.is(renderAppUnit(web), golden('web.service'));
});

test('exec arguments are quoted so systemd neither splits, expands nor substitutes them', (t) => {
  t.is(quoteExecArg('a b'), '"a b"');
  t.is(quoteExecArg('$X'), '"$$X"');
  t.is(quoteExecArg('%n'), '"%%n"');
  t.is(quoteExecArg('say "hi"'), '"say \\"hi\\""');
  t.is(quoteExecArg('line\nbreak'), '"line\\nbreak"');
  t.is(environmentLine('A', '$B %C'), 'Environment="A=$B %%C"');
});

test('the reaper binds to its app and runs after it stops', (t) => {
  const r = renderReaperUnit('web');
  t.regex(r, /^BindsTo=web\.service$/m);
  t.regex(r, /^Before=web\.service$/m);
  t.regex(r, /^ExecStop=\/rkt\/reaper web$/m);
  // The started mark comes from the same static helper (no busybox process), before the app starts.
  t.regex(r, /^ExecStart=\/rkt\/reaper --started web$/m);
});

test('a pod has a default.target wanting every app, and a service and reaper per app', (t) => {
  const files = renderPodUnits([web, { ...web, name: 'db', imageName: 'example.com/db' }]);
  t.deepEqual([...files.keys()], ['default.target', 'web.service', 'reaper-web.service', 'io-stdout-web.service', 'io-stderr-web.service',
    'db.service', 'reaper-db.service', 'io-stdout-db.service', 'io-stderr-db.service']);
  t.regex(files.get('default.target') ?? '', /^Wants=web\.service db\.service$/m);
});

test('a stream copier unit matches its golden file', (t) => {
  t.is(renderIoUnit('web', 'stderr'), golden('io-stderr-web.service'));
});

test('an app writes its streams to the FIFOs of its copiers, which it requires and starts after', (t) => {
  const u = renderAppUnit(web);
  t.regex(u, /^Requires=io-stdout-web\.service io-stderr-web\.service$/m);
  t.regex(u, /^After=reaper-web\.service io-stdout-web\.service io-stderr-web\.service$/m);
  t.regex(u, /^StandardOutput=file:\/run\/rkt\/io\/web\.stdout$/m);
  t.regex(u, /^StandardError=file:\/run\/rkt\/io\/web\.stderr$/m);
  const out = renderIoUnit('web', 'stdout');
  t.regex(out, /^ExecStart=\/rkt\/iotee \/run\/rkt\/io\/web\.stdout \/rkt\/io\/stdout$/m);
  t.regex(out, /^SyslogIdentifier=web$/m);
  t.regex(out, /^SyslogLevel=info$/m);
  t.regex(out, /^Before=web\.service$/m);
});

test('an interactive app has no copiers', (t) => {
  const files = renderPodUnits([{ ...web, interactive: true }]);
  t.deepEqual([...files.keys()], ['default.target', 'web.service', 'reaper-web.service']);
  t.notRegex(files.get('web.service') ?? '', /io-std/);
});

test('without the journal (no host systemd) an app writes straight to the pod FIFOs and has no copiers', (t) => {
  const plain = { ...web, journal: false };
  const u = renderAppUnit(plain);
  t.regex(u, /^StandardOutput=file:\/rkt\/io\/stdout$/m);
  t.regex(u, /^StandardError=file:\/rkt\/io\/stderr$/m);
  t.notRegex(u, /io-stdout-web/);
  t.deepEqual([...renderPodUnits([plain]).keys()], ['default.target', 'web.service', 'reaper-web.service']);
});

test('an interactive app gets the terminal', (t) => {
  const u = renderAppUnit({ ...web, interactive: true });
  t.regex(u, /^StandardInput=tty-force$/m);
});

test('nspawn arguments on a host without systemd', (t) => {
  const args = nspawnArgs({
    uuid: '3f2a0000-0000-4000-8000-000000000001', stage1Root: '/var/lib/rkt/pods/run/x/stage1/rootfs', hostname: 'rkt-3f2a',
    net: 'none', interactive: false, debug: false, mode: { kind: 'raw' },
    binds: [{ source: '/var/lib/rkt/pods/run/x/status', target: '/rkt/status', readOnly: false }, { source: '/srv:data', target: '/rkt/volumes/data', readOnly: true }],
  });
  t.deepEqual(args, [
    '--boot', '--quiet', '--directory=/var/lib/rkt/pods/run/x/stage1/rootfs', '--machine=rkt-3f2a0000-0000-4000-8000-000000000001',
    '--uuid=3f2a0000-0000-4000-8000-000000000001', '--hostname=rkt-3f2a', '--link-journal=no', '--console=pipe', '--keep-unit', '--register=no',
    '--private-network', '--bind=/var/lib/rkt/pods/run/x/status:/rkt/status', '--bind-ro=/srv\\:data:/rkt/volumes/data',
    '--', '--log-target=null', '--show-status=no',
  ]);
});

test('nspawn arguments under systemd: in the caller\'s unit, or a scope in a slice', (t) => {
  const base = { uuid: 'u', stage1Root: '/r', hostname: 'h', net: 'host' as const, interactive: false, debug: false, binds: [] };
  const inUnit = nspawnArgs({ ...base, mode: { kind: 'in-unit' } });
  t.true(inUnit.includes('--keep-unit') && inUnit.includes('--register=yes') && inUnit.includes('--link-journal=try-host'));
  const scope = nspawnArgs({ ...base, mode: { kind: 'scope', slice: 'machine.slice', properties: ['MemoryMax=100M'] } });
  t.false(scope.includes('--keep-unit'));
  t.true(scope.includes('--register=yes') && scope.includes('--slice=machine.slice') && scope.includes('--property=MemoryMax=100M'));
});

test('under a Type=notify unit nspawn waits for the pod\'s systemd before passing READY=1 on', (t) => {
  const base = { uuid: 'u', stage1Root: '/r', hostname: 'h', net: 'host' as const, interactive: false, debug: false, binds: [], mode: { kind: 'in-unit' as const } };
  t.true(nspawnArgs({ ...base, notifyReady: true }).includes('--notify-ready=yes'));
  t.false(nspawnArgs(base).some((a) => a.startsWith('--notify-ready')));
  const args = nspawnArgs({ ...base, notifyReady: true });
  t.true(args.indexOf('--notify-ready=yes') < args.indexOf('--'), 'an nspawn option, not an argument of the pod\'s systemd');
});

