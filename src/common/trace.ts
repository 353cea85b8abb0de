/**
 * Phase timings for --debug: where a command's time goes (start-up, fetch, prepare, boot). Silent unless
 * enabled by the entry point.
 */
let sink: ((line: string) => void) | undefined;

/** Turn tracing on (the CLI does, with --debug). */
export function enableTrace(write: (line: string) => void): void {
  sink = write;
}

/** Note that a phase was reached, with the milliseconds since the process started. */
export function trace(phase: string): void {
  // `performance` is read only when tracing: its first use loads perf_hooks, which every command would pay for.
  // The page faults so far too: on a VM a first touch of memory can cost more than the work that touches it.
  if (sink !== undefined) sink(`rkt: ${(performance.now()).toFixed(0)}ms since start (${new Date(performance.timeOrigin).toISOString().slice(11, 23)}), ${process.resourceUsage().minorPageFault} page faults: ${phase}\n`);
}
