import type { Argv } from 'yargs';
import type { Args, CommandSpec, FlagSpec, Io } from './command.js';
import { GLOBAL_FLAGS as GLOBAL_FLAG_SPECS, refuseNotYet } from './flags.js';
import { formatError, RktError, UsageError, ExitCode } from '../common/errors.js';
import { parseInsecureOptions, type GlobalOptions } from '../common/options.js';
import { enableTrace, trace } from '../common/trace.js';
/**
 * The command table: every rkt command, in the order `rkt help` lists them, each loaded only when chosen, so
 * that a command's start-up pays for its own module and not for every other command's flags and code.
 * `rawArgs` is repeated here (the command's spec says it too; a unit test checks they agree): argv is split
 * by it before any command is loaded.
 */
export interface CommandEntry {
  readonly path: readonly string[];
  readonly rawArgs?: boolean;
  readonly load: () => Promise<CommandSpec>;
}

export const COMMAND_TABLE: readonly CommandEntry[] = [
  { path: ['api-service'], load: async () => (await import('./api-service.js')).command },
  { path: ['cat-manifest'], load: async () => (await import('./cat-manifest.js')).command },
  { path: ['completion'], load: async () => (await import('./completion.js')).command },
  { path: ['config'], load: async () => (await import('./config.js')).command },
  { path: ['enter'], rawArgs: true, load: async () => (await import('./enter.js')).command },
  { path: ['export'], load: async () => (await import('./export.js')).command },
  { path: ['fetch'], load: async () => (await import('./fetch.js')).command },
  { path: ['gc'], load: async () => (await import('./gc.js')).command },
  { path: ['generate'], load: async () => (await import('./generate.js')).command },
  { path: ['list'], load: async () => (await import('./list.js')).command },
  { path: ['metadata-service'], load: async () => (await import('./metadata-service.js')).command },
  { path: ['prepare'], rawArgs: true, load: async () => (await import('./run.js')).prepare },
  { path: ['rm'], load: async () => (await import('./rm.js')).command },
  { path: ['run'], rawArgs: true, load: async () => (await import('./run.js')).run },
  { path: ['run-prepared'], load: async () => (await import('./run-prepared.js')).command },
  { path: ['status'], load: async () => (await import('./status.js')).command },
  { path: ['stop'], load: async () => (await import('./stop.js')).command },
  { path: ['trust'], load: async () => (await import('./trust.js')).command },
  { path: ['version'], load: async () => (await import('./version.js')).command },
  { path: ['image', 'cat-manifest'], load: async () => (await import('./image/cat-manifest.js')).command },
  { path: ['image', 'export'], load: async () => (await import('./image/export.js')).command },
  { path: ['image', 'extract'], load: async () => (await import('./image/extract.js')).extract },
  { path: ['image', 'gc'], load: async () => (await import('./image/gc.js')).command },
  { path: ['image', 'list'], load: async () => (await import('./image/list.js')).command },
  { path: ['image', 'render'], load: async () => (await import('./image/extract.js')).render },
  { path: ['image', 'rm'], load: async () => (await import('./image/rm.js')).command },
  { path: ['image', 'verify'], load: async () => (await import('./image/verify.js')).command },
];

/** Every command's spec, in the table's order: for help, usage errors, completion and the tests. */
export async function loadCommands(): Promise<CommandSpec[]> {
  return Promise.all(COMMAND_TABLE.map((e) => e.load()));
}

/** Descriptions of the command groups (`rkt image …`). */
const GROUPS: Readonly<Record<string, string>> = {
  image: 'Operate on image(s) in the local store',
};

/**
 * Split argv at the first `--` or `---`: yargs drops a bare `---` and would parse flags after `--`, so the
 * tail goes to the command untouched.
 */
export function splitSeparators(argv: readonly string[]): { head: string[]; rest: string[] } {
  const i = argv.findIndex((a) => a === '--' || a === '---');
  return i < 0 ? { head: [...argv], rest: [] } : { head: argv.slice(0, i), rest: argv.slice(i) };
}

/** Declare `flags` to yargs (as global flags with `global`). */
export function applyFlags(y: Argv, flags: readonly FlagSpec[], global = false): Argv {
  let out = y;
  for (const f of flags) {
    out = out.option(f.name, {
      type: f.kind === 'boolean' ? 'boolean' : 'string',
      describe: f.notYet === undefined ? f.describe : `${f.describe} (not supported yet${f.notYet === 'true' ? ': only =false' : ''})`,
      ...(f.default !== undefined ? { default: f.default } : {}),
      ...(global ? { global: true } : {}),
    });
  }
  return out;
}

function globalFlags(y: Argv): Argv {
  return applyFlags(y, GLOBAL_FLAG_SPECS, true);
}

/** A flag given zero, one or several times, as a list of strings. */
export function stringList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** Names of the global flags, for telling unknown flags apart. */
const GLOBAL_FLAGS = [...GLOBAL_FLAG_SPECS.map((f) => f.name), 'help', 'h'];

/**
 * Turn yargs's "Unknown argument(s): x, y" into rkt's words: an unknown flag is named with its dashes, an
 * unknown word where a command is expected is an unknown command.
 */
export function usageMessage(msg: string, head: readonly string[], commandWords: readonly string[]): string {
  const m = /^Unknown arguments?: (.*)$/.exec(msg);
  if (m === null) {
    if (msg.startsWith('missing command')) {
      const flag = head.find((t) => t.startsWith('-') && !GLOBAL_FLAGS.includes(t.replace(/^--?(no-)?/, '').replace(/=.*$/, '')));
      if (flag !== undefined) return `unknown flag "${flag.replace(/=.*$/, '')}"`;
    }
    return msg;
  }
  const names = (m[1] ?? '').split(', ');
  const first = names[0] ?? '';
  const asFlag = head.find((t) => t.startsWith('-') && [first, `no-${first}`].includes(t.replace(/^--?/, '').replace(/=.*$/, '')));
  if (asFlag !== undefined) return `unknown flag "${asFlag.replace(/=.*$/, '')}"`;
  const firstWord = head.find((t) => !t.startsWith('-'));
  if (firstWord === first && !commandWords.includes(first)) return `unknown command "${first}"`;
  return `unexpected argument "${first}"`;
}

function toGlobals(a: Args): GlobalOptions {
  refuseNotYet(GLOBAL_FLAG_SPECS, a);
  return {
    dir: String(a['dir']),
    systemConfig: String(a['system-config']),
    localConfig: String(a['local-config']),
    userConfig: typeof a['user-config'] === 'string' ? a['user-config'] : undefined,
    insecure: parseInsecureOptions(stringList(a['insecure-options'])),
    trustKeysFromHttps: a['trust-keys-from-https'] === true,
    debug: a['debug'] === true,
  };
}

interface Chosen { spec: CommandSpec; args: Args }

/**
 * A command's flags as yargs sees them. For a command that parses its own words (`rkt run`), yargs only
 * documents them: its pod-wide flags as options, its per-image (app) flags in the epilogue.
 */
function flagsForHelp(y: Argv, spec: CommandSpec): Argv {
  const flags = spec.flags ?? [];
  const own = applyFlags(y, flags.filter((f) => f.scope !== 'app'));
  const app = flags.filter((f) => f.scope === 'app');
  if (app.length === 0) return own;
  return own.epilogue(`App flags, after an image (for that image's app):\n${app.map((f) => `  --${f.name}${f.kind === 'boolean' ? '' : '=…'}  ${f.describe}`).join('\n')}\n`
    + 'then -- ARGS for the app; --- starts the next image.');
}

/** Build the parser for the whole table; parsing records which command was chosen instead of running it. */
async function buildParser(head: string[], io: Io, chosen: { value?: Chosen }): Promise<Argv> {
  // yargs costs ~100 ms to load: only commands that use it (and help) pay for it, and for every command's spec.
  const [{ default: yargs }, COMMANDS] = await Promise.all([import('yargs'), loadCommands()]);
  const bind = (spec: CommandSpec, word: string) => ({
    command: spec.operands === undefined ? word : `${word} ${spec.operands}`,
    describe: spec.summary,
    builder: (y: Argv) => {
      const withFlags = flagsForHelp(y, spec).strict();
      return spec.description === undefined ? withFlags : withFlags.usage(`rkt ${spec.path.join(' ')}${spec.operands === undefined ? '' : ` ${spec.operands}`}\n\n${spec.summary}\n\n${spec.description}`);
    },
    handler: (args: Args) => { chosen.value = { spec, args }; },
  });
  let y = globalFlags(yargs(head)).group(GLOBAL_FLAGS.filter((f) => f !== 'h'), 'Global Flags:')
    .scriptName('rkt')
    .usage('rkt - the App Container runtime\n\nUsage: rkt [global flags] <command> [command flags]')
    .version(false)
    .help('help').alias('help', 'h')
    .wrap(Math.min(110, (io.stdout as { columns?: number }).columns ?? 100))
    .parserConfiguration({ 'boolean-negation': false })
    .exitProcess(false)
    .strict()
    .demandCommand(1, 'missing command: see "rkt help"')
    .recommendCommands()
    .fail((msg: string | null, err: Error | undefined) => {
      if (err instanceof RktError) throw err;
      const words = COMMANDS.map((c) => c.path[0] ?? '').concat(Object.keys(GROUPS), ['help']);
      const text = msg ?? err?.message ?? 'bad usage';
      if (text.startsWith('Not enough non-option arguments')) {
        const typed = head.filter((w) => !w.startsWith('-'));
        const spec = COMMANDS.find((c) => c.path.every((p, i) => typed[i] === p));
        throw new UsageError(spec === undefined ? 'missing operand' : `missing operand: usage: rkt ${spec.path.join(' ')} ${spec.operands ?? ''}`.trimEnd());
      }
      throw new UsageError(usageMessage(text, head, words));
    });
  for (const spec of COMMANDS.filter((s) => s.path.length === 1)) {
    y = y.command(bind(spec, spec.path[0] ?? ''));
  }
  for (const [group, describe] of Object.entries(GROUPS)) {
    const members = COMMANDS.filter((s) => s.path.length === 2 && s.path[0] === group);
    if (members.length === 0) continue;
    y = y.command(group, describe, (g: Argv) => {
      let gy = g.demandCommand(1, `missing ${group} subcommand: see "rkt ${group} --help"`).strict();
      for (const spec of members) gy = gy.command(bind(spec, spec.path[1] ?? ''));
      return gy;
    });
  }
  // `rkt help [command...]` is `rkt [command...] --help`.
  y = y.command('help [command..]', 'Help about any command', () => {}, () => {});
  return y;
}

/** The text yargs would print for `rkt <words> --help`. */
async function helpText(words: readonly string[], io: Io): Promise<string> {
  const parser = await buildParser([...words, '--help'], io, {});
  let text = '';
  await parser.parseAsync([...words, '--help'], {}, (_err: unknown, _argv: unknown, output: string) => { text = output; });
  return text;
}

/**
 * Run rkt with the given arguments (without `node` and the script). Returns the exit status; writes only to
 * `io`. Never calls process.exit.
 */
/** Global flags that take a value in the next word when given without `=`. */
const VALUE_FLAGS = new Set(GLOBAL_FLAG_SPECS.filter((f) => f.kind !== 'boolean').map((f) => `--${f.name}`));

/**
 * For a command that parses its own words (`rawArgs`), split argv after the command's name: the flags before
 * it go to yargs, everything after it to the command. Otherwise split at the first `--`/`---`.
 */
export function splitForCommand(argv: readonly string[]): { head: string[]; rest: string[] } {
  let i = 0;
  while (i < argv.length && (argv[i] ?? '').startsWith('-')) i += VALUE_FLAGS.has(argv[i] ?? '') ? 2 : 1;
  const word = argv[i];
  if (COMMAND_TABLE.some((c) => c.rawArgs === true && c.path.length === 1 && c.path[0] === word)) {
    return { head: argv.slice(0, i + 1), rest: argv.slice(i + 1) };
  }
  return splitSeparators(argv);
}

/** The global flags' defaults, as yargs would fill them in. */
const GLOBAL_DEFAULTS: Readonly<Record<string, unknown>> = Object.fromEntries(
  GLOBAL_FLAG_SPECS.filter((f) => f.default !== undefined).map((f) => [f.name, f.default]),
);

/** The operands of a command's `operands` notation: `<a>` required, `[a]` optional, `..` takes the rest. */
function operandSlots(spec: CommandSpec): { name: string; required: boolean; rest: boolean }[] {
  return [...(spec.operands ?? '').matchAll(/([<[])([\w-]+)(\.\.)?[>\]]/g)].map((m) => ({ name: m[2] ?? '', required: m[1] === '<', rest: m[3] !== undefined }));
}

/** The table entry the words of `head` name (a group's name alone names none). */
function entryFor(head: readonly string[]): CommandEntry | undefined {
  const words = head.filter((w) => !w.startsWith('-'));
  return COMMAND_TABLE.find((c) => c.path.every((p, i) => words[i] === p) && (c.path.length === 2 || !Object.keys(GROUPS).includes(c.path[0] ?? '')));
}

/**
 * Parse a command line from the chosen command's flag table alone, without loading yargs (about 100 ms of
 * every command's start-up) or any other command. Only the plain case is taken: known words, known flags, the
 * right number of operands. Anything else — help, an unknown flag, a missing operand, a repeated single-valued
 * flag — returns nothing and yargs parses it, so that its messages and help stay the one place for those.
 */
export async function fastPath(head: readonly string[]): Promise<{ value?: Chosen }> {
  const entry = entryFor(head);
  if (entry === undefined) return {};
  const spec = await entry.load();
  const table = [...GLOBAL_FLAG_SPECS, ...(spec.rawArgs === true ? [] : (spec.flags ?? []).filter((f) => f.scope === undefined))];
  const args: Record<string, unknown> = { _: [...spec.path] };
  for (const f of table) if (f.default !== undefined) args[f.name] = f.default;
  const given = new Set<string>();
  const positional: string[] = [];
  let path = 0;
  for (let i = 0; i < head.length; i++) {
    const w = head[i] ?? '';
    if (!w.startsWith('-')) {
      if (path < spec.path.length) { path++; continue; }
      if (spec.rawArgs === true) return {};
      positional.push(w);
      continue;
    }
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(w);
    if (m === null) return {};
    const [, name = '', inline] = m;
    const flag = table.find((f) => f.name === name);
    // A rawArgs command's own words come after its name, untouched: only global flags stand before it.
    if (flag === undefined || (spec.rawArgs === true && path >= spec.path.length)) return {};
    if (flag.kind !== 'list' && given.has(name)) return {};
    given.add(name);
    if (flag.kind === 'boolean') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') return {};
      args[name] = inline !== 'false';
      continue;
    }
    const value = inline ?? head[++i];
    if (value === undefined || (inline === undefined && value.startsWith('-'))) return {};
    if (flag.kind === 'list') args[name] = [...(Array.isArray(args[name]) ? args[name] as string[] : []), value];
    else args[name] = value;
  }
  if (path < spec.path.length) return {};
  const slots = operandSlots(spec);
  for (const slot of slots) {
    if (slot.rest) { args[slot.name] = positional.splice(0); }
    else if (positional.length > 0) args[slot.name] = positional.shift();
    if (slot.required && (args[slot.name] === undefined || (slot.rest && (args[slot.name] as string[]).length === 0))) return {};
  }
  if (positional.length > 0) return {};
  return { value: { spec, args: args as Args } };
}

/** `--wait` → `--wait=forever` for the chosen command's optional-value flags, so yargs does not take the next word. */
export async function bareOptionalFlags(head: readonly string[]): Promise<string[]> {
  const word = head.find((w) => !w.startsWith('-'));
  const spec = await COMMAND_TABLE.find((c) => c.path.length === 1 && c.path[0] === word)?.load();
  const flags = new Set((spec?.flags ?? []).filter((f) => f.optionalValue === true).map((f) => `--${f.name}`));
  return head.map((w) => (flags.has(w) ? `${w}=forever` : w));
}

export async function main(argv: readonly string[], io: Io, onStop?: (handler: () => void) => void): Promise<number> {
  const split = splitForCommand(argv);
  const head = await bareOptionalFlags(split.head);
  const rest = split.rest;
  const debug = head.includes('--debug') || head.includes('--debug=true');
  try {
    if (head[0] === 'help') {
      const words = head.slice(1).filter((w) => !w.startsWith('-'));
      const known = words.length === 0
        || COMMAND_TABLE.some((c) => words.every((w, i) => c.path[i] === w))
        || (words.length === 1 && Object.keys(GROUPS).includes(words[0] ?? ''));
      if (!known) throw new UsageError(`unknown command "${words.join(' ')}"`);
      io.stdout.write(await helpText(words, io));
      io.stdout.write('\n');
      return ExitCode.ok;
    }
    const chosen: { value?: Chosen } = { ...(await fastPath(head)) };
    let helpOutput = '';
    if (chosen.value === undefined) {
      await (await buildParser(head, io, chosen)).parseAsync(head, {}, (_err: unknown, _argv: unknown, output: string) => {
        helpOutput = output;
      });
    }
    if (chosen.value === undefined) {
      // --help was asked for: yargs produced the text and no handler ran.
      io.stdout.write(helpOutput + '\n');
      return ExitCode.ok;
    }
    const { spec, args } = chosen.value;
    if (spec.rawArgs === true) {
      const dashdash = rest.indexOf('--');
      const own = dashdash === -1 ? rest : rest.slice(0, dashdash);
      if (own.includes('--help') || own.includes('-h')) {
        io.stdout.write(await helpText(spec.path, io) + '\n');
        return ExitCode.ok;
      }
    }
    if (spec.rawArgs !== true) refuseNotYet(spec.flags ?? [], args);
    const globals = toGlobals(args);
    if (globals.debug || rest.includes('--debug')) {
      enableTrace((line) => io.stderr.write(line));
      trace('arguments parsed');
    }
    if (spec.needsRoot && process.getuid?.() !== 0) {
      throw new RktError('ENOTROOT', `cannot run "rkt ${spec.path.join(' ')}": it needs root`, { hint: 'run it as root (e.g. with sudo)' });
    }
    return await spec.run(args, { globals, io, rest, ...(onStop !== undefined ? { onStop } : {}) });
  } catch (err) {
    for (const line of formatError(err, debug)) io.stderr.write(line + '\n');
    if (err instanceof UsageError) {
      const words = head.filter((w) => !w.startsWith('-'));
      const path = COMMAND_TABLE.find((c) => c.path.every((p, i) => words[i] === p))?.path ?? [];
      io.stderr.write(`see '${['rkt', ...path, '--help'].join(' ')}'\n`);
    }
    return err instanceof RktError ? err.exitCode : ExitCode.failure;
  }
}
