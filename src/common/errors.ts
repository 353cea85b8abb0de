/**
 * Typed errors. Every failure rkt reports on purpose is an RktError with a stable code, one message written
 * where the context is richest, an optional hint (what to do) and an optional cause. Anything else that
 * reaches the entry point is a bug and is printed with its stack.
 */

/** Exit statuses users and scripts rely on. */
export const ExitCode = {
  ok: 0,
  /** `rkt image rm` and friends: some of several operands failed. */
  partial: 1,
  usage: 2,
  /** Any failure of rkt itself. */
  failure: 254,
} as const;

export interface RktErrorOptions {
  readonly hint?: string;
  readonly cause?: unknown;
  readonly exitCode?: number;
}

export class RktError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: string, message: string, options: RktErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RktError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failure;
  }
}

/** A command line that cannot be acted on: bad flag, bad value, missing operand. Exit status 2. */
export class UsageError extends RktError {
  constructor(message: string, options: Omit<RktErrorOptions, 'exitCode'> = {}) {
    super('EUSAGE', message, { ...options, exitCode: ExitCode.usage });
    this.name = 'UsageError';
  }
}

/** True for a Node system error (ENOENT, EEXIST, …) with the given code. */
export function isErrno(err: unknown, code: string): err is NodeJS.ErrnoException {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/**
 * The lines to print for an error at the entry point: `rkt: message` (+ hint), and with `debug` the cause
 * chain. A non-RktError is a bug: its stack is always printed.
 */
export function formatError(err: unknown, debug: boolean): string[] {
  if (!(err instanceof RktError)) {
    const stack = err instanceof Error ? (err.stack ?? String(err)) : String(err);
    return [`rkt: internal error (this is a bug): ${stack}`];
  }
  const lines = [`rkt: ${err.message}`];
  if (err.hint !== undefined) lines.push(`rkt: ${err.hint}`);
  if (debug) {
    let cause: unknown = err.cause;
    while (cause !== undefined && cause !== null) {
      if (cause instanceof Error) {
        lines.push(`  caused by: ${cause instanceof RktError ? cause.message : (cause.stack ?? cause.message)}`);
        cause = cause.cause;
      } else {
        lines.push(`  caused by: ${String(cause)}`);
        break;
      }
    }
  }
  return lines;
}

/** The message of a non-rkt cause (errno text and friends), for use inside an RktError's own message. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== undefined && e.syscall !== undefined) return `${e.code}: ${e.message.replace(/^\w+: /, '')}`;
    return err.message;
  }
  return String(err);
}
