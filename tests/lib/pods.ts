// Helpers of the pod functional tests (tests/functional/pods/): busybox test images built on the fly, a fresh
// rkt data directory per test, pods run in the foreground or in the background, and a teardown that leaves no
// pod running and no temporary directory behind.
import test, { type ExecutionContext, type TestFn } from 'ava';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO, RKT, functionalSkipReason, rkt, tempDir, type Result } from './rkt.js';
import { until, within } from './wait.js';

const execFileP = promisify(execFile);

/** Test images are unsigned. */
export const INSECURE = '--insecure-options=image';

/**
 * Pods of these tests share the test's network (`--net=host`) unless a test asks for a network itself: rkt
 * run's default (a CNI network) costs a plugin chain per pod and is tested in tests/functional/net/.
 */
export function hostNetUnlessGiven(args: readonly string[]): string[] {
  const first = args.findIndex((a) => !a.startsWith('-'));
  const podFlags = first === -1 ? args : args.slice(0, first); // all flags: a --pod-manifest run
  return podFlags.some((a) => a === '--net' || a.startsWith('--net=')) ? [...args] : ['--net=host', ...args];
}

/** Why the pod tests cannot run here (not root, no nspawn), or undefined. */
export const podSkip: string | undefined = functionalSkipReason()
  ?? (existsSync('/usr/bin/systemd-nspawn') ? undefined : 'needs systemd-nspawn (hack/setup)')
  ?? (existsSync('/bin/busybox') ? undefined : 'needs busybox-static (hack/setup)');

/** `test`, or `test.skip` when the tier cannot run: pair it with `title()` so the reason shows. */
export const podTest: TestFn = podSkip === undefined ? test : (test.skip as unknown as TestFn);
/** A test title, with the skip reason appended when skipped. */
export const title = (s: string): string => (podSkip === undefined ? s : `${s} (skipped: ${podSkip})`);

/** A pod UUID as rkt prints it. */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export { sleep, until, within } from './wait.js';

// ---------------------------------------------------------------------------------------------------------
// Images

let baseRootfs: { dir: string; rootfs: string } | undefined;

/** A busybox root filesystem (as hack/mk-busybox-aci makes it, without /etc/passwd and /etc/group), once per test file. */
function busyboxRootfs(): string {
  if (baseRootfs !== undefined) return baseRootfs.rootfs;
  const { dir } = tempDir('rkt-pods-base-');
  const r = path.join(dir, 'rootfs');
  for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'var', 'root', 'usr/bin', 'usr/sbin']) mkdirSync(path.join(r, d), { recursive: true });
  chmodSync(path.join(r, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', path.join(r, 'bin/busybox'));
  chmodSync(path.join(r, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list']).toString().split('\n').map((s) => s.trim()).filter((s) => s !== '');
  for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', path.join(r, 'bin', a));
  writeFileSync(path.join(r, 'etc/os-release'), 'ID=busybox\nNAME=busybox\n');
  baseRootfs = { dir, rootfs: r };
  process.once('exit', () => { if (baseRootfs !== undefined) rmSync(baseRootfs.dir, { recursive: true, force: true }); });
  return r;
}

/** A file to put in a test image's rootfs: its text, or text with mode and owner. */
export type ImageFile = string | { readonly content?: string; readonly dir?: boolean; readonly symlink?: string; readonly mode?: number; readonly uid?: number; readonly gid?: number };

export interface ImageSpec {
  /** Image name (default example.com/busybox). */
  readonly name?: string;
  /** The app's exec (default ["/bin/sh"]). */
  readonly exec?: readonly string[];
  readonly user?: string;
  readonly group?: string;
  readonly workingDirectory?: string;
  /** The image's app environment. */
  readonly environment?: Readonly<Record<string, string>>;
  readonly eventHandlers?: readonly { readonly name: 'pre-start' | 'post-stop'; readonly exec: readonly string[] }[];
  readonly mountPoints?: readonly { readonly name: string; readonly path: string; readonly readOnly?: boolean }[];
  /** Lines added to /etc/passwd (root and nobody are always there). */
  readonly extraPasswd?: readonly string[];
  /** Lines added to /etc/group (root and nogroup are always there). */
  readonly extraGroup?: readonly string[];
  /** Files by absolute path in the image. */
  readonly files?: Readonly<Record<string, ImageFile>>;
}

let imageCount = 0;

/**
 * Build a busybox ACI in `dir` from `spec` (busybox-static with its applet links, /usr, /etc/passwd and
 * /etc/group, no /etc/hosts) with hack/aci; returns the .aci path.
 */
export async function busyboxImage(dir: string, spec: ImageSpec = {}): Promise<string> {
  const base = busyboxRootfs();
  const img = path.join(dir, `image-${++imageCount}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(img, { recursive: true });
  const root = path.join(img, 'rootfs');
  await execFileP('cp', ['-a', base, root]);
  writeFileSync(path.join(root, 'etc/passwd'), ['root:x:0:0:root:/root:/bin/sh', 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false', ...(spec.extraPasswd ?? [])].join('\n') + '\n');
  writeFileSync(path.join(root, 'etc/group'), ['root:x:0:', 'nogroup:x:65534:', ...(spec.extraGroup ?? [])].join('\n') + '\n');
  for (const [p, f] of Object.entries(spec.files ?? {})) {
    const target = path.join(root, p);
    const o = typeof f === 'string' ? { content: f } : f;
    mkdirSync(path.dirname(target), { recursive: true });
    if (o.dir === true) mkdirSync(target, { recursive: true });
    else if (o.symlink !== undefined) { rmSync(target, { force: true }); symlinkSync(o.symlink, target); continue; }
    else writeFileSync(target, o.content ?? '');
    if (o.mode !== undefined) chmodSync(target, o.mode);
    if (o.uid !== undefined || o.gid !== undefined) chownSync(target, o.uid ?? 0, o.gid ?? 0);
  }
  const app: Record<string, unknown> = {
    exec: spec.exec ?? ['/bin/sh'],
    user: spec.user ?? '0',
    group: spec.group ?? '0',
    ...(spec.workingDirectory !== undefined ? { workingDirectory: spec.workingDirectory } : {}),
    environment: Object.entries(spec.environment ?? {}).map(([name, value]) => ({ name, value })),
    ...(spec.eventHandlers !== undefined ? { eventHandlers: spec.eventHandlers } : {}),
    ...(spec.mountPoints !== undefined ? { mountPoints: spec.mountPoints } : {}),
  };
  writeFileSync(path.join(img, 'manifest'), JSON.stringify({
    acKind: 'ImageManifest', acVersion: '0.8.11', name: spec.name ?? 'example.com/busybox',
    labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
    app,
  }, null, 1));
  const out = `${img}.aci`;
  await execFileP(path.join(REPO, 'hack/aci'), ['build', '--compression=none', img, out]);
  rmSync(img, { recursive: true, force: true });
  return out;
}

/** A function that builds an image once (per test file) and then returns the same .aci. */
export function sharedImage(spec: ImageSpec = {}): () => Promise<string> {
  let p: Promise<string> | undefined;
  return () => {
    if (p === undefined) {
      const { dir } = tempDir('rkt-pods-img-');
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      p = busyboxImage(dir, spec);
    }
    return p;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Pods

/** A `rkt` run in the background (a long pod). */
export interface Background {
  readonly child: ChildProcess;
  /** Resolves when the rkt process exits, with its status. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when its output is complete (the pod's output relays hold it open until the pod ends). */
  readonly done: Promise<Result>;
  hasExited(): boolean;
}

export interface PodEnv {
  /** The test's temporary directory. */
  readonly dir: string;
  /** Its rkt data directory (`--dir`). */
  readonly data: string;
  /** rkt with `--dir` set. */
  r(args: readonly string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Result>;
  /** `rkt run` (insecure images), to its end. */
  run(args: readonly string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Result>;
  /** `rkt run` (insecure images) in the background. */
  spawnRun(args: readonly string[]): Background;
  /** A fresh path in the test directory. */
  file(name: string): string;
}

// At most this many tests of one file hold a pod environment at once (ava runs every test of a file
// concurrently, and two files at a time): enough to keep two cores busy without starving each other.
const SLOTS = Number(process.env['RKT_POD_TESTS_PER_FILE'] ?? '3');
let slotsInUse = 0;
const slotWaiters: (() => void)[] = [];
async function acquireSlot(): Promise<void> {
  if (slotsInUse < SLOTS) { slotsInUse++; return; }
  await new Promise<void>((resolve) => slotWaiters.push(resolve));
}
function releaseSlot(): void {
  const next = slotWaiters.shift();
  if (next !== undefined) next();
  else slotsInUse--;
}

/**
 * A fresh temporary directory and rkt data directory for one test, once one of the file's slots is free; the
 * teardown stops any pod left running, removes the directory and frees the slot.
 */
export async function podEnv(t: ExecutionContext): Promise<PodEnv> {
  await acquireSlot();
  const { dir, cleanup } = tempDir('rkt-pods-');
  const data = path.join(dir, 'data');
  const bgs: Background[] = [];
  const r = (args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) => rkt([`--dir=${data}`, ...args], opts);
  t.teardown(async () => {
    if (bgs.some((b) => !b.hasExited()) || livePods(data)) {
      await forceStopAll(r, data);
      await within(Promise.all(bgs.map((b) => b.done)), 60_000);
      for (const b of bgs) if (!b.hasExited()) b.child.kill('SIGKILL');
    }
    const uuids = podUuids(data);
    if (uuids.length > 0) {
      // rkt run leaves a pod's empty cgroups behind when they are still busy as it ends; rkt gc removes them.
      await r(['gc', '--grace-period=0s', '--expire-prepared=0s']);
      removeLeftoverCgroups(uuids);
    }
    cleanup();
    releaseSlot();
  });
  return {
    dir, data, r,
    run: (args, opts) => r([INSECURE, 'run', ...hostNetUnlessGiven(args)], opts),
    spawnRun: (args) => {
      const child = spawn(process.execPath, [RKT, `--dir=${data}`, INSECURE, 'run', ...hostNetUnlessGiven(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let exited = false;
      child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
      child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.on('exit', (code, signal) => { exited = true; resolve({ code, signal }); });
      });
      const done = new Promise<Result>((resolve) => {
        child.on('close', (code, signal) => resolve({ exitCode: code ?? (signal === null ? -1 : 128 + 9), stdout, stderr }));
      });
      const b: Background = { child, exit, done, hasExited: () => exited };
      bgs.push(b);
      return b;
    },
    file: (name) => path.join(dir, name),
  };
}

/** The names in directory `dir`, or none if it does not exist (or is not a directory). */
function listIfThere(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

/** The UUIDs of every pod under `data`, in any state. */
function podUuids(data: string): string[] {
  const out = new Set<string>();
  for (const st of listIfThere(path.join(data, 'pods'))) {
    for (const u of listIfThere(path.join(data, 'pods', st))) if (UUID_RE.test(u)) out.add(u);
  }
  return [...out];
}

/** Remove the (empty) cgroups named after these pods that are still there, deepest first; busy ones stay. */
function removeLeftoverCgroups(uuids: readonly string[]): void {
  const rmTree = (d: string): void => {
    for (const name of listIfThere(d)) {
      const sub = path.join(d, name);
      // a cgroup's subgroups are its only subdirectories; its files (cgroup.procs …) go with it
      if (lstatSync(sub, { throwIfNoEntry: false })?.isDirectory() === true) rmTree(sub);
    }
    try {
      rmdirSync(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EBUSY' && code !== 'ENOENT' && code !== 'ENOTEMPTY') throw err;   // busy or gone
    }
  };
  // rkt puts them beside its caller's cgroup (ours: rkt runs as our child) in each hierarchy.
  const parents = new Set<string>();
  for (const line of (readIfThere('/proc/self/cgroup') ?? '').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    const names = m[1] === '' ? ['', 'unified'] : (m[1] ?? '').split(',').map((c) => c.replace(/^name=/, ''));
    for (const n of names) parents.add(path.join('/sys/fs/cgroup', n, m[2] ?? '/'));
  }
  for (const root of parents) {
    for (const u of uuids) {
      const d = path.join(root, `rkt-${u}`);
      if (existsSync(d)) rmTree(d);
    }
  }
}

/** Whether a pod under `data` still has a live PID 1 (read from its pid file: no rkt process needed). */
function livePods(data: string): boolean {
  return listIfThere(path.join(data, 'pods/run')).some((u) => {
    const pid = readIfThere(path.join(data, 'pods/run', u, 'pid'))?.trim() ?? '';
    return pid !== '' && existsSync(`/proc/${pid}`);
  });
}

async function forceStopAll(r: PodEnv['r'], data: string): Promise<void> {
  if (listIfThere(path.join(data, 'pods/run')).length === 0) return;
  const list = await r(['list', '--format=json']);
  let pods: { name: string; state: string }[];
  try {
    pods = JSON.parse(list.stdout) as { name: string; state: string }[];
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new Error(`rkt list --format=json (exit ${list.exitCode}) printed no JSON: ${list.stdout}${list.stderr}`, { cause: err });
  }
  const running = pods.filter((p) => p.state === 'running').map((p) => p.name);
  if (running.length > 0) await r(['stop', '--force', ...running]);
}

/**
 * Wait for `--uuid-file-save` to be written, then for the pod to be running with its pid recorded; returns the
 * UUID. Fails at once if `bg` (the rkt run) exits first. `timeoutMs` only bounds a hung pod.
 */
export async function waitRunning(env: PodEnv, uuidFile: string, bg?: Background, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let uuid = '';
  await until(`rkt run writes the pod's UUID to ${uuidFile}`, timeoutMs, async () => {
    if (bg?.hasExited() === true) throw new Error(`rkt run exited before the pod was prepared: ${(await bg.done).stderr}`);
    uuid = readIfThere(uuidFile)?.trim() ?? '';
    return uuid !== '';
  }, 50);
  const left = Math.max(10_000, deadline - Date.now());
  const st = await env.r(['status', `--wait-ready=${left}ms`, uuid], { timeoutMs: left + 30_000 });
  if (/^state=running$/m.test(st.stdout) && /^pid=\d+$/m.test(st.stdout) && /^started=/m.test(st.stdout)) return uuid;
  const out = bg !== undefined && bg.hasExited() ? (await bg.done).stderr : '';
  throw new Error(`pod ${uuid} was not seen running (rkt status --wait-ready exited ${st.exitCode}):\n${st.stdout}${st.stderr}${out}`);
}

/** A file's text, or undefined if it does not exist (yet). */
export function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Wait (at most `timeoutMs`, a bound for a hung test) until `file` exists. */
export function waitForFile(file: string, timeoutMs = 60_000): Promise<void> {
  return until(`${file} exists`, timeoutMs, () => existsSync(file), 50);
}

/** `rkt status` lines as a map (`state` → `running`, `app-busybox` → `0` …). */
export function statusMap(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

/** Where a pod's directory is, for a state directory name (`run`, `exited-garbage`, `prepared` …). */
export function podPath(env: PodEnv, dirState: string, uuid: string): string {
  return path.join(env.data, 'pods', dirState, uuid);
}
