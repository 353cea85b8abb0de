import type { GlobalOptions } from '../common/options.js';

/** Where a command writes. The entry point passes the process's streams; tests pass buffers. */
export interface Io {
  readonly stdout: { write(chunk: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown; readonly isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  /** Resolves once everything written has reached the process's descriptors: before rkt execs another program. */
  readonly flush?: () => Promise<void>;
}

export interface CommandContext {
  readonly globals: GlobalOptions;
  readonly io: Io;
  /** Everything from the first `--` or `---` on, untouched by the flag parser (the separator included). */
  readonly rest: readonly string[];
  /** Registers what to do when rkt is asked to stop (SIGTERM, SIGINT): given by the entry point. */
  readonly onStop?: (handler: () => void) => void;
}

/** How a flag takes its value: a word, none (`--flag`, `--flag=true|false`), or a word each time it is given. */
export type FlagKind = 'string' | 'boolean' | 'list';

/**
 * One flag of one command: the single declaration that the parser, `--help`, `rkt completion` and the
 * documentation test all read. Nothing else declares flags.
 */
export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly describe: string;
  readonly default?: string | boolean;
  /** `rkt run`/`rkt prepare`: a pod flag (before the first image) or an app flag (after an image). */
  readonly scope?: 'pod' | 'app';
  /** A string flag whose value may be left out: `--wait` alone is `--wait=forever`, it never takes the next word. */
  readonly optionalValue?: boolean;
  /**
   * rkt has this flag but it is not built yet: refused with exit 2 ("not supported yet") when given at all
   * (`any`) or when given true (`true`; `--flag=false` asks for what rkt does anyway and is accepted).
   */
  readonly notYet?: 'any' | 'true';
}

/** Parsed flags and positionals of one command, as yargs gives them. */
export type Args = Readonly<Record<string, unknown>> & { readonly _: readonly (string | number)[] };

/**
 * One rkt command. Each file under src/cli/ exports one of these; src/cli/index.ts lists them. `run` returns
 * the exit status; it throws RktError for failures. Heavy modules are imported inside `run` so that every
 * command does not pay for every other command's start-up.
 */
export interface CommandSpec {
  /** Words after `rkt`: ['version'] or ['image', 'list']. */
  readonly path: readonly string[];
  /** Positional operands in yargs notation, e.g. '<file>' or '<images..>'. */
  readonly operands?: string;
  readonly summary: string;
  /** Longer text shown by `rkt help <command>`. */
  readonly description?: string;
  readonly needsRoot: boolean;
  /**
   * The command parses its own words (everything after its name reaches it in `ctx.rest`, untouched), as
   * `rkt run` does for its per-image flags, with the same `flags` table.
   */
  readonly rawArgs?: boolean;
  /** The command's own flags (the global ones are in src/cli/index.ts). */
  readonly flags?: readonly FlagSpec[];
  readonly run: (args: Args, ctx: CommandContext) => Promise<number>;
}
