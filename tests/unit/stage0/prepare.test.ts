import test from 'ava';
import { defaultAppName, overlaySupported } from '../../../src/stage0/prepare.js';
import { aceEnvironment, parseAssignment, parseEnvFile, parseIdFile } from '../../../src/stage0/app-setup.js';
import { parseMount, parseVolume } from '../../../src/stage0/volumes.js';
import { UsageError } from '../../../src/common/errors.js';

test('overlayfs support is read from /proc/filesystems', async (t) => {
  t.true(await overlaySupported('nodev\tsysfs\nnodev\toverlay\n'));
  t.false(await overlaySupported('nodev\tsysfs\n\text4\n'));
});

test('the default app name is the image name\'s last element', (t) => {
  t.is(defaultAppName('example.com/busybox'), 'busybox');
  t.is(defaultAppName('app'), 'app');
});

test('environment precedence: inherited < ACE defaults < image < --set-env-file < --set-env < --environment', (t) => {
  const env = new Map(aceEnvironment({
    app: 'web', inherited: { HOME: '/root', PATH: '/host/bin', A: 'inherited' },
    image: [{ name: 'A', value: 'image' }, { name: 'B', value: 'image' }, { name: 'C', value: 'image' }, { name: 'D', value: 'image' }],
    setEnvFile: [['B', 'file'], ['C', 'file'], ['D', 'file']], setEnv: [['C', 'set'], ['D', 'set']], appEnvironment: [['D', 'app'], ['AC_APP_NAME', 'spoofed']],
  }));
  t.is(env.get('HOME'), '/root');
  t.is(env.get('PATH'), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  t.is(env.get('container'), 'rkt');
  t.is(env.get('AC_APP_NAME'), 'web', 'the runtime sets AC_APP_NAME');
  t.deepEqual([env.get('A'), env.get('B'), env.get('C'), env.get('D')], ['image', 'file', 'set', 'app']);
});

test('NAME=VALUE parsing and env files', (t) => {
  t.deepEqual(parseAssignment('--set-env', 'A=b=c'), ['A', 'b=c']);
  t.throws(() => parseAssignment('--set-env', '1A=x'), { instanceOf: UsageError, message: /bad --set-env "1A=x"/ });
  t.deepEqual(parseEnvFile('f', '# c\n\nA=1\nB=two words\n'), [['A', '1'], ['B', 'two words']]);
  t.throws(() => parseEnvFile('f', 'A=1\nnot an assignment\n'), { message: /^f:2: bad line "not an assignment"/ });
});

test('passwd and group files give names and ids', (t) => {
  t.deepEqual(parseIdFile('root:x:0:0::/root:/bin/sh\n#c\nweb:x:1000:100::/:/bin/false\nbad\n'), [{ name: 'root', id: 0 }, { name: 'web', id: 1000 }]);
});

test('--volume and --mount', (t) => {
  t.deepEqual(parseVolume('data,kind=host,source=/srv/data,readOnly=true'), { name: 'data', kind: 'host', source: '/srv/data', readOnly: true });
  t.deepEqual(parseVolume('tmp,kind=empty,mode=0700,uid=5,gid=6'), { name: 'tmp', kind: 'empty', mode: '0700', uid: 5, gid: 6 });
  t.deepEqual(parseVolume('tmp,kind=empty'), { name: 'tmp', kind: 'empty', mode: '0755', uid: 0, gid: 0 });
  for (const bad of ['Data,kind=empty', 'd,kind=host', 'd,kind=host,source=rel', 'd,kind=empty,source=/x', 'd,kind=other', 'd,kind=empty,mode=999', 'd,kind=empty,bogus=1', 'd,kind=host,source=/x,readOnly=yes']) {
    t.throws(() => parseVolume(bad), { instanceOf: UsageError }, bad);
  }
  t.deepEqual(parseMount('volume=data,target=/data'), { volume: 'data', path: '/data' });
  t.throws(() => parseMount('volume=data'), { instanceOf: UsageError, message: /want volume=NAME,target=\/absolute\/path/ });
});

test('pickIdShift: a 64 Ki-aligned base in nspawn\'s span, never one another prepared or running pod holds', async (t) => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = (await import('node:path')).default;
  const { pickIdShift } = await import('../../../src/stage0/prepare.js');
  const pods = mkdtempSync(path.join(tmpdir(), 'rkt-idshift-'));
  t.teardown(() => rmSync(pods, { recursive: true, force: true }));
  const first = await pickIdShift(pods, () => 0);
  t.deepEqual(first, { base: 0x80000, range: 0x10000 }, 'the lowest slot for random() = 0');
  const last = await pickIdShift(pods, () => 0.999999999);
  t.true(last.base + last.range <= 0x6fff0000 && last.base % 0x10000 === 0);
  mkdirSync(path.join(pods, 'run', 'a'), { recursive: true });
  writeFileSync(path.join(pods, 'run', 'a', 'options.json'), JSON.stringify({ privateUsers: { base: 0x80000, range: 0x10000 } }));
  mkdirSync(path.join(pods, 'prepared', 'b'), { recursive: true }); // a pod being made: no options.json yet
  const draws = [0, 0, 0.5];
  const next = await pickIdShift(pods, () => draws.shift() ?? 0.5);
  t.not(next.base, 0x80000, 'the slot pod a holds is skipped');
  const full = await pickIdShift(pods, () => 0).catch((err: unknown) => err);
  t.true(full instanceof Error && /no free UID range/.test(full.message), 'only taken slots drawn: a clear error');
});
