import { PassThrough } from 'node:stream';
import type { Io } from '../../src/cli/command.js';

/** An Io that records what a command writes, for unit tests of the CLI layer. */
export function bufferIo(): Io & { out(): string; err(): string } {
  let out = '';
  let err = '';
  const stdin = new PassThrough();
  stdin.end();
  return {
    stdout: { write: (s: string) => { out += s; return true; }, isTTY: false },
    stderr: { write: (s: string) => { err += s; return true; }, isTTY: false },
    stdin,
    out: () => out,
    err: () => err,
  };
}
