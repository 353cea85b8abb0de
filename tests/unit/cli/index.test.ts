import test from 'ava';
import { COMMAND_TABLE, loadCommands, main, splitSeparators, usageMessage } from '../../../src/cli/index.js';
import { bufferIo } from '../../lib/io.js';

const COMMANDS = await loadCommands();

test('the command table names each command as its spec does, rawArgs too', (t) => {
  COMMAND_TABLE.forEach((entry, i) => {
    t.deepEqual(COMMANDS[i]?.path, entry.path);
    t.is(COMMANDS[i]?.rawArgs === true, entry.rawArgs === true, entry.path.join(' '));
  });
});

test('every command in the table has a summary and help text', async (t) => {
  for (const spec of COMMANDS) {
    t.true(spec.summary.length > 0, spec.path.join(' '));
    const io = bufferIo();
    t.is(await main([...spec.path, '--help'], io), 0, spec.path.join(' '));
    t.true(io.out().includes(spec.summary), `help of ${spec.path.join(' ')} shows its summary`);
  }
});

test('every command rejects an unknown flag with exit 2 and names the flag', async (t) => {
  for (const spec of COMMANDS) {
    const io = bufferIo();
    const operands = (spec.operands ?? '').split(' ').filter((o) => o.startsWith('<')).map(() => 'x');
    t.is(await main([...spec.path, ...operands, '--no-such-flag'], io), 2, spec.path.join(' '));
    t.regex(io.err(), /^rkt: unknown flag "--no-such-flag"$/m);
    t.is(io.out(), '');
  }
});

test('no operand of any command shadows a global flag', (t) => {
  const globals = ['dir', 'system-config', 'local-config', 'user-config', 'insecure-options', 'trust-keys-from-https', 'debug'];
  for (const spec of COMMANDS) {
    for (const m of (spec.operands ?? '').matchAll(/[<[]([\w-]+)/g)) t.false(globals.includes(m[1] ?? ''), `${spec.path.join(' ')}: operand ${m[1]}`);
  }
});

test('a usage error prints its one line and where to look, not the whole help', async (t) => {
  const io = bufferIo();
  t.is(await main(['frobnicate'], io), 2);
  t.is(io.err(), 'rkt: unknown command "frobnicate"\nsee \'rkt --help\'\n');
  t.is(io.out(), '');
  const bad = bufferIo();
  t.is(await main(['status', '--format=yaml', 'x'], bad), 2);
  t.is(bad.err(), 'rkt: bad --format value "yaml": want tabbed, json or json-pretty\nsee \'rkt status --help\'\n');
});

test('an unknown global flag before the command is named', async (t) => {
  const io = bufferIo();
  t.is(await main(['--bogus'], io), 2);
  t.regex(io.err(), /^rkt: unknown flag "--bogus"$/m);
});

test('a missing operand is a usage error naming the usage', async (t) => {
  const io = bufferIo();
  t.is(await main(['image', 'rm'], io), 2);
  t.regex(io.err(), /^rkt: missing operand: usage: rkt image rm <images\.\.>$/m);
});

test('no command at all is a usage error', async (t) => {
  const io = bufferIo();
  t.is(await main([], io), 2);
  t.regex(io.err(), /^rkt: missing command/m);
});

test('version prints the lines drivers parse', async (t) => {
  const io = bufferIo();
  t.is(await main(['version'], io), 0);
  const lines = io.out().trim().split('\n');
  t.regex(lines[0] ?? '', /^rkt Version: 1\.(3\d|[4-9]\d)\.\d+$/);
  t.is(lines[1], 'appc Version: 0.8.11');
  t.regex(lines[2] ?? '', /^Node Version: v\d+\.\d+\.\d+$/);
  t.regex(lines[3] ?? '', /^Features: [-+]\w+( [-+]\w+)*$/);
});

test('help and --help print the command list on stdout, exit 0', async (t) => {
  for (const argv of [['help'], ['--help'], ['-h']]) {
    const io = bufferIo();
    t.is(await main(argv, io), 0, argv.join(' '));
    t.regex(io.out(), /rkt version +Print the version and exit/);
    t.regex(io.out(), /Global Flags:/);
  }
});

test('help of an unknown command is a usage error', async (t) => {
  const io = bufferIo();
  t.is(await main(['help', 'frobnicate'], io), 2);
  t.regex(io.err(), /^rkt: unknown command "frobnicate"$/m);
});

test('help COMMAND prints that command\'s help', async (t) => {
  const io = bufferIo();
  t.is(await main(['help', 'version'], io), 0);
  t.regex(io.out(), /^rkt version/m);
});

test('a bad --insecure-options value is a usage error listing the valid ones', async (t) => {
  const io = bufferIo();
  t.is(await main(['--insecure-options=image,bogus', 'version'], io), 2);
  t.regex(io.err(), /^rkt: bad --insecure-options value "bogus": valid values are none, image, tls/m);
});

test('boolean flags accept --flag, --flag=true and --flag=false', async (t) => {
  for (const f of ['--debug', '--debug=true', '--debug=false', '--trust-keys-from-https=false']) {
    t.is(await main([f, 'version'], bufferIo()), 0, f);
  }
});

test('global flags may also follow the command', async (t) => {
  t.is(await main(['version', '--dir=/tmp/x', '--debug'], bufferIo()), 0);
});

test('splitSeparators keeps --- and -- and what follows for the command', (t) => {
  t.deepEqual(splitSeparators(['run', 'img', '--exec', '/bin/sh', '--', '-c', 'x', '---', 'img2']), {
    head: ['run', 'img', '--exec', '/bin/sh'],
    rest: ['--', '-c', 'x', '---', 'img2'],
  });
  t.deepEqual(splitSeparators(['run', 'a', '---', 'b']), { head: ['run', 'a'], rest: ['---', 'b'] });
  t.deepEqual(splitSeparators(['version']), { head: ['version'], rest: [] });
});

test('usageMessage words yargs messages as rkt does', (t) => {
  t.is(usageMessage('Unknown argument: x', ['x'], ['version']), 'unknown command "x"');
  t.is(usageMessage('Unknown argument: x', ['version', '--x=1'], ['version']), 'unknown flag "--x"');
  t.is(usageMessage('Unknown argument: y', ['version', 'y'], ['version']), 'unexpected argument "y"');
  t.is(usageMessage('missing command: see "rkt help"', ['--nope'], ['version']), 'unknown flag "--nope"');
  t.is(usageMessage('missing command: see "rkt help"', ['--dir=/x'], ['version']), 'missing command: see "rkt help"');
});

test('the fast parser takes plain command lines from the flag tables, without yargs', async (t) => {
  const { fastPath } = await import('../../../src/cli/index.js');
  const list = (await fastPath(['--dir=/d', 'list', '--format=json', '--no-legend'])).value;
  t.deepEqual(list?.spec.path, ['list']);
  t.like(list?.args, { dir: '/d', format: 'json', 'no-legend': true, full: false, debug: false });
  const rm = (await fastPath(['image', 'rm', 'a', 'b', '--insecure-options=image', '--insecure-options', 'tls'])).value;
  t.deepEqual(rm?.spec.path, ['image', 'rm']);
  t.like(rm?.args, { images: ['a', 'b'], 'insecure-options': ['image', 'tls'] });
  const exp = (await fastPath(['image', 'export', 'img', '/f.aci', '--overwrite=false'])).value;
  t.like(exp?.args, { image: 'img', file: '/f.aci', overwrite: false });
  t.deepEqual((await fastPath(['--debug', 'run'])).value?.args['debug'], true, 'rkt run: global flags before its name');
});

test('the fast parser leaves anything unusual to yargs (help, unknown flags, missing or extra operands)', async (t) => {
  const { fastPath } = await import('../../../src/cli/index.js');
  for (const head of [['list', '--help'], ['list', '-h'], ['list', '--bogus'], ['image', 'rm'], ['status', 'a', 'b'], ['image'],
    ['list', '--format=json', '--format=tabbed'], ['list', '--full=maybe'], ['frobnicate'], ['status', '--uuid-file']]) {
    t.is((await fastPath(head)).value, undefined, head.join(' '));
  }
});
