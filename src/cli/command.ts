import type { Argv } from 'yargs';
import type { GlobalOptions } from '../common/options.js';

/** Where a command writes. The entry point passes the process's streams; tests pass buffers. */
export interface Io {
  readonly stdout: { write(chunk: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown; readonly isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
}

export interface CommandContext {
  readonly globals: GlobalOptions;
  readonly io: Io;
  /** Everything from the first `--` or `---` on, untouched by the flag parser (the separator included). */
  readonly rest: readonly string[];
  /** Registers what to do when rkt is asked to stop (SIGTERM, SIGINT): given by the entry point. */
  readonly onStop?: (handler: () => void) => void;
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
   * `rkt run` does for its per-image flags. Its `flags` then only document them for --help.
   */
  readonly rawArgs?: boolean;
  /** String flags whose value is optional (`--wait` alone, or `--wait=10s`): a bare one never takes the next word. */
  readonly optionalValueFlags?: readonly string[];
  /** Declares the command's own flags. */
  readonly flags?: (y: Argv) => Argv;
  readonly run: (args: Args, ctx: CommandContext) => Promise<number>;
}
