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

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }, onStop);
process.exitCode = code;
