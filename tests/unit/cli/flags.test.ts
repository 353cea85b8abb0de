import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { loadCommands, main } from '../../../src/cli/index.js';
import { renderBashCompletion } from '../../../src/cli/completion.js';
import { GLOBAL_FLAGS } from '../../../src/cli/flags.js';
import { parseRunArgs } from '../../../src/cli/run-args.js';
import { PREPARE_FLAGS, RUN_FLAGS } from '../../../src/cli/run-flags.js';
import { bufferIo } from '../../lib/io.js';

const COMMANDS = await loadCommands();

const name = (spec: { path: readonly string[] }) => spec.path.join(' ');

test('--help of every command lists exactly the flags its table declares (and the global ones)', async (t) => {
  for (const spec of COMMANDS) {
    const io = bufferIo();
    t.is(await main([...spec.path, '--help'], io), 0, name(spec));
    const listed = new Set([...io.out().matchAll(/^\s+(?:-\w, )?--([a-z0-9-]+)/gm)].map((m) => m[1]));
    const want = new Set([...(spec.flags ?? []).map((f) => f.name), ...GLOBAL_FLAGS.map((f) => f.name), 'help']);
    t.deepEqual([...listed].sort(), [...want].sort(), `rkt ${name(spec)} --help`);
  }
});

test('every flag rkt has but does not build yet is refused with exit 2 and "not supported yet", never accepted', async (t) => {
  const img = '/nonexistent.aci';
  for (const spec of COMMANDS) {
    for (const f of spec.flags ?? []) {
      if (f.notYet === undefined) continue;
      const given = f.kind === 'boolean' ? `--${f.name}` : `--${f.name}=x`;
      const argv = spec.rawArgs === true ? [...spec.path, ...(f.scope === 'app' ? [img, given] : [given, img])] : [...spec.path, given, 'x'];
      const io = bufferIo();
      t.is(await main(argv, io), 2, argv.join(' '));
      t.regex(io.err(), new RegExp(`^rkt: --${f.name} is not supported yet$`, 'm'), argv.join(' '));
    }
  }
  const io = bufferIo();
  t.is(await main(['--user-config=/tmp', 'list'], io), 2);
  t.regex(io.err(), /^rkt: --user-config is not supported yet$/m);
});

test('--mds-register=false and --private-users=false, rkt\'s defaults, are accepted', (t) => {
  const parsed = parseRunArgs(['--mds-register=false', '--private-users=false', 'img']);
  t.is(parsed.pod['mds-register'], false);
  t.is(parsed.apps[0]?.image, 'img');
});

test('boolean flags take --flag, --flag=true and --flag=false', (t) => {
  t.is(parseRunArgs(['--interactive', 'i']).pod['interactive'], true);
  t.is(parseRunArgs(['--interactive=true', 'i']).pod['interactive'], true);
  t.is(parseRunArgs(['--interactive=false', 'i']).pod['interactive'], false);
  t.throws(() => parseRunArgs(['--interactive=maybe', 'i']), { message: 'bad value "maybe" for --interactive: want true or false' });
});

test('run and prepare differ only where their tables do: --quiet is prepare\'s, --detach is run\'s', (t) => {
  t.throws(() => parseRunArgs(['--quiet', 'i'], RUN_FLAGS), { message: 'unknown flag "--quiet"' });
  t.is(parseRunArgs(['--quiet', 'i'], PREPARE_FLAGS).pod['quiet'], true);
  t.throws(() => parseRunArgs(['--detach', 'i'], PREPARE_FLAGS), { message: 'unknown flag "--detach"' });
});

test('an app flag before the first image, and a pod flag after one, say where they belong', (t) => {
  t.throws(() => parseRunArgs(['--exec=/bin/true', 'i']), { message: '--exec is an app flag: put it after the image it is for' });
  t.throws(() => parseRunArgs(['i', '--hostname=h']), { message: '--hostname is a pod flag: put it before the first image' });
});

test('the bash completion offers every command and every flag of its table', (t) => {
  const script = renderBashCompletion(COMMANDS);
  for (const spec of COMMANDS) {
    t.true(script.includes(`'${name(spec)}')`), name(spec));
    for (const f of spec.flags ?? []) t.true(script.includes(`--${f.name}${f.kind === 'boolean' ? '' : '='}`), `${name(spec)} --${f.name}`);
  }
});

/** The `## rkt <command> …` sections of Documentation/*.md, by command words. */
function docSections(): Map<string, string> {
  const dir = new URL('../../../Documentation/', import.meta.url);
  const out = new Map<string, string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(new URL(file, dir), 'utf8');
    for (const part of text.split(/^(?=## )/m)) {
      const m = /^## rkt ([a-z-]+)(?: ([a-z-]+(?:\|[a-z-]+)*))?/.exec(part);
      if (m === null) continue;
      // `## rkt image extract|render` documents two commands; `## rkt completion bash` names an operand.
      if (!out.has(m[1] ?? '')) out.set(m[1] ?? '', part);
      for (const sub of (m[2] ?? '').split('|')) if (sub !== '') out.set(`${m[1]} ${sub}`, part);
    }
  }
  return out;
}

test('each command page in Documentation/ names exactly the flags the command takes', (t) => {
  const sections = docSections();
  const globals = new Set(GLOBAL_FLAGS.map((f) => f.name));
  const problems: string[] = [];
  for (const spec of COMMANDS) {
    let text = sections.get(name(spec));
    // `## rkt prepare [run's flags] …` takes run's flags: they are documented once, under rkt run.
    if (text !== undefined && text.includes("run's flags")) text += sections.get('run') ?? '';
    if (text === undefined) { problems.push(`no "## rkt ${name(spec)}" section in Documentation/`); continue; }
    const own = new Set((spec.flags ?? []).map((f) => f.name));
    for (const f of own) if (!new RegExp(`--${f}(?![a-z-])`).test(text)) problems.push(`rkt ${name(spec)} does not mention --${f}`);
    const heading = text.split('\n')[0] ?? '';
    for (const m of heading.matchAll(/--([a-z][a-z0-9-]*)/g)) {
      if (!own.has(m[1] ?? '') && !globals.has(m[1] ?? '')) problems.push(`the heading of rkt ${name(spec)} names --${m[1]}, which it does not take`);
    }
  }
  t.deepEqual(problems, []);
});
