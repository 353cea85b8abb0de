#!/usr/bin/env node
// The only place that touches process.argv, process.exit and signal handlers.
import { fstatSync, writeSync } from 'node:fs';
import { main } from '../cli/index.js';
import type { Io } from '../cli/command.js';

/**
 * SIGTERM and SIGINT: a command that registered a stop handler (rkt run: stop the pod gracefully and exit
 * with its status) gets them; otherwise they end rkt as usual.
 */
function onStop(handler: () => void): void {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, handler);
}

/**
 * fd 1 or 2 written with write(2). process.stdout and process.stderr are streams whose first use loads Node's
 * stream modules, ≈ 8 ms of every command's start-up (measured 2026-12-02), for writes that on Linux are
 * synchronous anyway (files, pipes and terminals alike). A descriptor left non-blocking by whoever gave it to us
 * (EAGAIN) hands the rest of the output to the stream, which waits for it to drain, and keeps the order.
 */
function fdWriter(fd: 1 | 2, stream: () => NodeJS.WriteStream): Io['stdout'] & { drained(): Promise<void> } {
  let fallback: NodeJS.WriteStream | undefined;
  let tty: boolean | undefined;
  return {
    /** Resolves once everything written has reached the descriptor (at once, unless EAGAIN made a stream take over). */
    drained: () => new Promise<void>((resolve) => {
      if (fallback === undefined || fallback.writableLength === 0) resolve();
      else fallback.once('drain', () => resolve()).once('error', () => resolve());
    }),
    write(chunk: string): boolean {
      if (fallback !== undefined) return fallback.write(chunk);
      const buf = Buffer.from(chunk);
      let off = 0;
      try {
        while (off < buf.length) off += writeSync(fd, buf, off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A reader that went away (`rkt list | head -1`) is not an error: stop quietly, as a SIGPIPE would.
        if (code === 'EPIPE') process.exit(process.exitCode ?? 0);
        if (code !== 'EAGAIN') throw err;
        fallback = stream();
        return fallback.write(buf.subarray(off));
      }
      return true;
    },
    get isTTY(): boolean {
      // A terminal is a character device other than the memory devices (major 1: /dev/null, zero, full,
      // random…), which are never terminals; only then is node:tty (which loads node:net) asked.
      if (tty === undefined) {
        let st: ReturnType<typeof fstatSync> | undefined;
        try { st = fstatSync(fd); } catch { st = undefined; }   // a closed descriptor is no terminal
        tty = st !== undefined && st.isCharacterDevice() && Math.floor(st.rdev / 256) % 4096 !== 1 && stream().isTTY === true;
      }
      return tty;
    },
  };
}

/** process.stdout or process.stderr, made on first use, quiet about a reader that went away. */
function streamOf(fd: 1 | 2): () => NodeJS.WriteStream {
  let made: NodeJS.WriteStream | undefined;
  return () => {
    if (made === undefined) {
      made = fd === 1 ? process.stdout : process.stderr;
      made.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
        throw err;
      });
    }
    return made;
  };
}

const stdout = fdWriter(1, streamOf(1));
const stderr = fdWriter(2, streamOf(2));
const io: Io = {
  stdout,
  stderr,
  get stdin() { return process.stdin; },
  flush: async () => {
    await Promise.all([stdout.drained(), stderr.drained()]);
    // The bundle's loader, training its code caches (hack/train-code-cache): saved now, as no exit follows an exec.
    (globalThis as { __rktCodeCacheSave?: () => void }).__rktCodeCacheSave?.();
  },
};

// rkt exits as soon as its command is done rather than when the event loop runs dry: Node's orderly teardown of
// the heap and its threads cost ≈ 15–20 ms of every command (measured 2026-12-02), and nothing is left to run
// (every command awaits its own work; what went through a stream after EAGAIN is drained first).
void main(process.argv.slice(2), io, onStop).then(async (code) => {
  process.exitCode = code;
  await Promise.all([stdout.drained(), stderr.drained()]);
  process.exit(code);
});
