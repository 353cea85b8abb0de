/**
 * GetLogs: a pod's journal, read with journalctl. Where the host has systemd, stage1's nspawn
 * (`--link-journal=try-host`) keeps the pod's journal in the host's `/var/log/journal/<machine-id>`, the
 * machine id being the pod's UUID without dashes (Documentation/stage1.md); it outlives the pod. Where it does
 * not, the journal stays in the pod's own `/run/log/journal` and there is nothing on the host to read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The host's persistent journal directory (RKT_API_JOURNAL_ROOT names another: tests, a journal copied elsewhere). */
export function journalRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env['RKT_API_JOURNAL_ROOT'] ?? '/var/log/journal';
}

/** The directory holding pod `uuid`'s journal on the host. */
export function podJournalDir(uuid: string, root = journalRoot()): string {
  return path.join(root, uuid.replace(/-/g, ''));
}

export interface LogsQuery {
  readonly app?: string;
  readonly lines?: number;
  /** Seconds since the epoch; 0 or undefined: unset. */
  readonly since?: number;
  readonly until?: number;
  readonly follow?: boolean;
}

/** journalctl's arguments for a query on `dir` (pure). */
export function journalctlArgs(dir: string, q: LogsQuery): string[] {
  const args = [`--directory=${dir}`, '--output=json', '--no-pager', '--quiet'];
  if (q.app !== undefined && q.app !== '') args.push(`SYSLOG_IDENTIFIER=${q.app}`);
  if (q.lines !== undefined && q.lines > 0) args.push(`--lines=${q.lines}`);
  if (q.since !== undefined && q.since > 0) args.push(`--since=@${q.since}`);
  if (q.until !== undefined && q.until > 0) args.push(`--until=@${q.until}`);
  if (q.follow === true) args.push('--follow');
  return args;
}

/**
 * One line of `journalctl -o json` as the line GetLogs sends: the entry's time (RFC 3339, UTC) and its
 * message. MESSAGE is a string, or an array of bytes when it is not valid UTF-8. Undefined for an entry
 * without a message.
 */
export function logLine(json: string): string | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(json);
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Record<string, unknown>;
  const msg = e['MESSAGE'];
  const text = typeof msg === 'string' ? msg
    : Array.isArray(msg) && msg.every((b) => typeof b === 'number') ? Buffer.from(msg as number[]).toString('utf8') : undefined;
  if (text === undefined) return undefined;
  const usec = Number(e['__REALTIME_TIMESTAMP']);
  const when = Number.isFinite(usec) && usec > 0 ? new Date(usec / 1000).toISOString() : '';
  return when === '' ? text : `${when} ${text}`;
}

/** Whether pod `uuid` has a journal on the host. */
export function hasHostJournal(uuid: string, root = journalRoot()): boolean {
  return existsSync(podJournalDir(uuid, root));
}

/**
 * Run journalctl for `q` on the pod's journal directory; `onLines` gets each batch of lines as they come.
 * Resolves with journalctl's status and its stderr once it exits; `stop()` ends it (a follow never ends alone).
 */
export function readJournal(dir: string, q: LogsQuery, onLines: (lines: string[]) => void): { done: Promise<{ code: number | null; stderr: string }>; stop: () => void } {
  const child: ChildProcess = spawn('journalctl', journalctlArgs(dir, q), { stdio: ['ignore', 'pipe', 'pipe'] });
  let rest = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    const lines = parts.map(logLine).filter((l): l is string => l !== undefined);
    if (lines.length > 0) onLines(lines);
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on('error', (err) => resolve({ code: null, stderr: `cannot run journalctl: ${err.message}` }));
    child.on('close', (code) => {
      const last = logLine(rest);
      if (last !== undefined) onLines([last]);
      resolve({ code, stderr });
    });
  });
  return { done, stop: () => { if (child.exitCode === null) child.kill('SIGTERM'); } };
}
