import test from 'ava';
import { parseRunArgs } from '../../../src/cli/run-args.js';
import { UsageError } from '../../../src/common/errors.js';

test('pod flags, images with app flags, -- args and --- separators', (t) => {
  const r = parseRunArgs(['--set-env=A=1', '--set-env', 'B=2', '--volume=data,kind=empty', '--mount', 'volume=data,target=/d',
    '--interactive=false', 'example.com/a', '--exec=/bin/sh', '--name', 'one', '--environment=X=1', '--', '-c', 'echo hi',
    '---', 'example.com/b', '--user=1000', '--mount=volume=data,target=/e', '---', 'example.com/c']);
  t.deepEqual(r.pod, { 'set-env': ['A=1', 'B=2'], volume: ['data,kind=empty'], interactive: false });
  t.deepEqual(r.podMounts, ['volume=data,target=/d']);
  t.is(r.apps.length, 3);
  t.deepEqual(r.apps[0], { image: 'example.com/a', exec: '/bin/sh', name: 'one', environment: ['X=1'], mounts: [], args: ['-c', 'echo hi'] });
  t.deepEqual(r.apps[1], { image: 'example.com/b', user: '1000', environment: [], mounts: ['volume=data,target=/e'], args: [] });
  t.deepEqual(r.apps[2], { image: 'example.com/c', environment: [], mounts: [], args: [] });
});

test('several images without ---', (t) => {
  t.deepEqual(parseRunArgs(['a.aci', 'b.aci']).apps.map((a) => a.image), ['a.aci', 'b.aci']);
});

test('args after -- may look like flags and include ---less text', (t) => {
  const r = parseRunArgs(['img', '--', '--exec', '-x', '--']);
  t.deepEqual(r.apps[0]?.args, ['--exec', '-x', '--']);
});

test('errors name the problem', (t) => {
  t.throws(() => parseRunArgs(['--bogus', 'img']), { instanceOf: UsageError, message: 'unknown flag "--bogus"' });
  t.throws(() => parseRunArgs(['img', '--bogus=1']), { instanceOf: UsageError, message: 'unknown flag "--bogus" for image img' });
  t.throws(() => parseRunArgs(['img', '--hostname=x']), { instanceOf: UsageError, message: '--hostname is a pod flag: put it before the first image' });
  t.throws(() => parseRunArgs(['--', 'x']), { instanceOf: UsageError, message: /before any image/ });
  t.throws(() => parseRunArgs(['img', '---']), { instanceOf: UsageError, message: /must be followed by an image/ });
  t.throws(() => parseRunArgs(['img', '--exec']), { instanceOf: UsageError, message: 'flag --exec needs a value' });
  t.throws(() => parseRunArgs(['--inherit-env=maybe', 'img']), { instanceOf: UsageError, message: /bad value "maybe" for --inherit-env/ });
});

test('--help anywhere asks for help', (t) => {
  t.true(parseRunArgs(['img', '--help']).help);
});
