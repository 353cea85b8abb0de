import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI, as users run it. */
export const RKT = path.join(REPO, 'dist/bin/rkt.js');

export interface Result { readonly exitCode: number; readonly stdout: string; readonly stderr: string }

/** Run a program to its end, collecting its output. Never throws for a non-zero exit. */
export function runCmd(cmd: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    // stdin: the given input, else /dev/null (no pipe for a child that may exit before reading it).
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    if (child.stdout === null || child.stderr === null) throw new Error('spawn gave no output pipes');
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? (signal === null ? -1 : 128 + 9), stdout, stderr });
    });
    // A child that exits before reading its stdin closes the pipe: EPIPE on it is expected, not a failure.
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => { if (err.code !== 'EPIPE') reject(err); });
    child.stdin?.end(opts.input);
  });
}

/** Run the built `rkt` with `args`. */
export function rkt(args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> {
  return runCmd(process.execPath, [RKT, ...args], opts);
}

/** Why the functional tier cannot run here, or undefined if it can. */
export function functionalSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (run hack/test as root)';
  return undefined;
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'rkt-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The outcome `o` of a driver call (`{ ok: true, … }`), or a thrown error showing what came instead. */
export function ok<T extends { ok: boolean }>(o: T | undefined): Extract<T, { ok: true }> {
  if (o === undefined || !o.ok) throw new Error(`expected success, got ${JSON.stringify(o)}`);
  return o as Extract<T, { ok: true }>;
}

/** The failed outcome `o` of a driver call (`{ ok: false, … }`), or a thrown error showing what came instead. */
export function failed<T extends { ok: boolean }>(o: T | undefined): Extract<T, { ok: false }> {
  if (o === undefined || o.ok) throw new Error(`expected an error, got ${JSON.stringify(o)}`);
  return o as Extract<T, { ok: false }>;
}
