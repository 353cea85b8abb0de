/**
 * Running programs: the one way rkt runs a process outside `rkt run`'s hot path, on execa. execa is loaded on
 * first use, not at start-up: bundled, its import costs 37–62 ms, about half of `node -e 0` on these machines
 * (Documentation/hacking.md, "Dependencies"), and most commands run no program at all.
 *
 * Where plain `child_process.spawn` stays, it is where execa's load would be paid on a path that matters, or where
 * the child needs a descriptor execa does not pass: src/store/extract.ts (GNU tar fed from the checking stream,
 * on every image import), src/store/oci.ts (flock(1) on the store's OCI lock, passed as fd 3), among others.
 * The pod's launcher is started by rkt's addon (posix_spawn), not by either.
 */
import type { Readable, Writable } from 'node:stream';

/** How a program ended. */
export interface Exit {
  /** Its exit status, or undefined when a signal ended it. */
  readonly code: number | undefined;
  /** The signal that ended it, if one did. */
  readonly signal: NodeJS.Signals | undefined;
  /** Its standard output, when captured (`runProgram`); empty otherwise. */
  readonly stdout: string;
  /** Its standard error, when captured; empty otherwise. */
  readonly stderr: string;
  /**
   * Set (in `startFilter`'s `done`; `runProgram` throws it instead) when the program could not be run: Node's error (`code` ENOENT,
   * EACCES, …). `code` and `signal` are then undefined.
   */
  readonly notRun?: Error;
}

/** True if the program exited with status 0. */
export function succeeded(e: Exit): boolean {
  return e.code === 0;
}

/** `exited with status 2`, `killed by SIGTERM` or `could not be run: …`: how `e` ended, for messages. */
export function exitText(e: Exit): string {
  if (e.notRun !== undefined) return `could not be run: ${e.notRun.message}`;
  return e.code !== undefined ? `exited with status ${e.code}` : `killed by ${e.signal ?? 'a signal'}`;
}

/** The last `lines` non-empty lines of the program's stderr joined with "; ", or `fallback` if it wrote none. */
export function stderrTail(e: Exit, lines: number, fallback: string): string {
  const tail = e.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '').slice(-lines);
  return tail.length > 0 ? tail.join('; ') : fallback;
}

type ExecaModule = typeof import('execa');
let loading: Promise<ExecaModule> | undefined;

/** execa, imported once per process on first use. */
function execaModule(): Promise<ExecaModule> {
  loading ??= import('execa');
  return loading;
}

/** The fields of an execa result (or of its error, with `reject: false`) this module reads. */
interface ExecaOutcome {
  readonly failed: boolean;
  readonly exitCode?: number;
  readonly signal?: NodeJS.Signals;
  readonly isTerminated: boolean;
  readonly stdout?: unknown;
  readonly stderr?: unknown;
  readonly cause?: unknown;
  readonly message?: string;
}

/**
 * An execa outcome as an Exit. A failure with neither an exit status nor a signal means the program never
 * ran (or its streams broke): `notRun` then holds the underlying Node error (`code` ENOENT, EACCES, …).
 */
function toExit(r: ExecaOutcome): Exit {
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  if (r.failed && r.exitCode === undefined && r.signal === undefined && !r.isTerminated) {
    const notRun = r.cause instanceof Error ? r.cause : new Error(r.message ?? 'the program could not be run');
    return { code: undefined, signal: undefined, stdout: text(r.stdout), stderr: text(r.stderr), notRun };
  }
  return { code: r.signal === undefined ? r.exitCode : undefined, signal: r.signal, stdout: text(r.stdout), stderr: text(r.stderr) };
}

/** Options common to every program rkt runs. */
export interface ProgramOptions {
  readonly cwd?: string;
  /** The whole environment (default: rkt's own). */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The execa options every call shares. `cleanup: false`: execa's default installs exit and signal handlers in
 * rkt's process, and only src/bin/rkt.ts handles signals. No final-newline stripping: output is data.
 */
function baseOptions(opts: ProgramOptions) {
  return {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    extendEnv: false,
    cleanup: false,
    stripFinalNewline: false,
    reject: false,
  } as const;
}

/**
 * Run `file` with `args` to its end, its stdin `input` (default: /dev/null). With `stdio: 'capture'` (the
 * default) its stdout and stderr are collected into the Exit; with `'inherit'` it uses rkt's own stdin, stdout
 * and stderr (`input` is then ignored). Resolves with how it ended, whatever its status; rejects only when it
 * could not be run, with Node's error (`code` ENOENT, EACCES, …).
 */
export async function runProgram(
  file: string, args: readonly string[],
  opts: ProgramOptions & { readonly stdio?: 'capture' | 'inherit'; readonly input?: string | Uint8Array } = {},
): Promise<Exit> {
  const { execa } = await execaModule();
  const e = toExit(await (opts.stdio === 'inherit'
    ? execa(file, args, { ...baseOptions(opts), stdio: 'inherit' })
    : opts.input !== undefined
      ? execa(file, args, { ...baseOptions(opts), input: opts.input, stdout: 'pipe', stderr: 'pipe' })
      : execa(file, args, { ...baseOptions(opts), stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })));
  if (e.notRun !== undefined) throw e.notRun;
  return e;
}

/** A running program started by `startFilter`. */
export interface Filter {
  /** Its standard input: end it to let the program finish. Writes after it has exited are dropped (EPIPE). */
  readonly stdin: Writable;
  /** Its standard output, which the caller must read to the end (or destroy). */
  readonly stdout: Readable;
  /**
   * Resolves once it has exited and its output streams have closed: how it ended (stderr captured), whatever
   * its status; `notRun` is set when it could not be run. Never rejects, so it may be awaited late.
   */
  readonly done: Promise<Exit>;
  /** Send it SIGTERM (SIGKILL 5 s later if it is still there); nothing if it has exited. */
  kill(): void;
}

/**
 * Start `file` with `args` as a filter: the caller writes its stdin and reads its stdout as streams; its
 * stderr is captured for `done`. The program runs in `cwd` (default: rkt's).
 */
export async function startFilter(file: string, args: readonly string[], opts: ProgramOptions = {}): Promise<Filter> {
  const { execa } = await execaModule();
  const sub = execa(file, args, {
    ...baseOptions(opts), stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: { stdout: false, stderr: true },
  });
  const done = sub.then(toExit);
  return {
    stdin: sub.stdin,
    stdout: sub.stdout,
    done,
    kill: () => { sub.kill(); },
  };
}
