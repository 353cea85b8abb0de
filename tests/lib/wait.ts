// Waiting on events in tests: poll for the state a test waits for (a file, a pod state, a process gone) with a
// generous upper bound, so that a busy machine makes a test slower, never wrong. Nothing here measures time.

/** Resolves after `ms` milliseconds. Only for pacing a poll, never for waiting "long enough". */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `check` every `intervalMs` until it says true; throws, naming `what`, once `timeoutMs` has passed
 * without it (the bound is a safety net for a hung test, not an assertion: make it generous).
 */
export async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(intervalMs);
  }
}

/** The value of `p`, or `undefined` if it has not settled within `timeoutMs` (a bound for a hung test). */
export async function within<T>(p: Promise<T>, timeoutMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), timeoutMs); });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
