#!/usr/bin/env node
// The only place that touches process.argv, process.exit and signal handlers.
import { main } from '../cli/index.js';

/**
 * SIGTERM and SIGINT: a command that registered a stop handler (rkt run: stop the pod gracefully and exit
 * with its status) gets them; otherwise they end rkt as usual.
 */
function onStop(handler: () => void): void {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, handler);
}

// A reader that went away (`rkt list | head -1`) is not an error: stop quietly, as a SIGPIPE would.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }, onStop);
process.exitCode = code;
