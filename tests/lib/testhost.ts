// The host test tier's view of hack/testhost: a booted systemd "test host" (systemd-nspawn running this
// machine's own OS tree) that tests/host/** run commands in. Needs root and systemd-nspawn; see
// hostTierSkipReason() for what a test file must check before starting one.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root; hack/testhost binds it at the same path inside every test host. */
export const repoRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

const testhostScript = path.join(repoRoot, 'hack', 'testhost');

export interface ExecOptions {
	/** Written to the command's stdin, which is otherwise /dev/null. */
	readonly input?: string;
	/** Kill the client and reject after this long (default 60 s). */
	readonly timeoutMs?: number;
}

export interface ExecResult {
	readonly exitCode: number;
	readonly stdout: string;
	readonly stderr: string;
}

export interface StartOptions {
	/** Host paths to bind at the same path inside, besides the repo root (adds to $TESTHOST_BINDS). */
	readonly binds?: readonly string[];
}

export interface TestHost {
	readonly name: string;
	/** Seconds from launching nspawn until `systemctl is-system-running` said running or degraded. */
	readonly bootSeconds: number;
	/** The systemd-nspawn process running the host. */
	readonly nspawnPid: number;
	/** hack/testhost's state directory for this host (pid, cgroups, log); removed by a clean stop. */
	readonly stateDir: string;
	/**
	 * Runs cmd inside as a transient service of the host's systemd (cwd /, a system service's environment)
	 * and resolves with its exit status (systemd-run's: a command killed by a signal gives 2). A literal `$`
	 * in cmd stays literal. On timeout the client is killed and the service may go on running.
	 */
	exec(cmd: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
	/** exec(['/bin/sh', '-c', script]). */
	sh(script: string, opts?: ExecOptions): Promise<ExecResult>;
	/** Powers the host off (falling back to signals) and waits until nspawn and its cgroups are gone. */
	stop(): Promise<void>;
}

/** Why the host tier cannot run here, or undefined when it can. */
export function hostTierSkipReason(): string | undefined {
	if (process.platform !== 'linux') return `not Linux (${process.platform})`;
	if (process.getuid?.() !== 0) return 'not root';
	for (const tool of ['systemd-nspawn', 'nsenter', 'unshare']) {
		if (findOnPath(tool) === undefined) return `no ${tool} on PATH (apt-get install systemd-container util-linux)`;
	}
	if (!existsSync('/lib/systemd/systemd')) return 'no systemd in this OS tree to boot';
	return undefined;
}

/** Why the host tier's pod tests cannot run here (the tier's own reasons, or no stage1/busybox image built). */
export function hostPodsSkipReason(): string | undefined {
	return hostTierSkipReason()
		?? (existsSync(path.join(repoRoot, 'build/stage1.aci')) && existsSync(path.join(repoRoot, 'build/busybox.aci'))
			? undefined : 'build/stage1.aci or build/busybox.aci missing (run hack/setup)');
}

type Impl = (t: ExecutionContext) => void | Promise<void>;

/** The registrations of a host test file whose tests run in turn in one test host (see hostTests). */
export interface HostTests {
	/** Why these tests are skipped here, or undefined when they run. */
	readonly skipReason: string | undefined;
	/** A serial test; when skipping, a skipped test of the same title with the reason appended. */
	test(title: string, impl: Impl): void;
	/** A `before` hook (starting the host, say), registered only when the tests run. */
	before(impl: Impl): void;
	/** An `after.always` hook (stopping the host), registered only when the tests run. */
	after(impl: Impl): void;
}

/**
 * Register a host test file's tests: with `skipReason` undefined they are ava serial tests and its hooks run;
 * otherwise every test is registered as skipped, each under its own title with the reason, so that a file that
 * cannot run here counts as many skips as it has tests, and its hooks (which would boot a host) are dropped.
 * Call at file load, before any test is registered.
 */
export function hostTests(skipReason: string | undefined): HostTests {
	if (skipReason === undefined) {
		return {
			skipReason,
			test: (title, impl) => test.serial(title, impl),
			before: (impl) => test.before(impl),
			after: (impl) => test.after.always(impl),
		};
	}
	return {
		skipReason,
		test: (title) => test.skip(`${title} (skipped: ${skipReason})`, () => undefined),
		before: () => undefined,
		after: () => undefined,
	};
}

/** Waiting on events (tests/lib/wait.ts), here too for the host test files. */
export { until } from './wait.js';

let hostCount = 0;
const running = new Set<string>();

/**
 * Boots a test host named `name` (default rkt-th-<pid>-<n>, unique per process) and resolves once its
 * systemd is up. Rejects with hack/testhost's output if it does not boot; nothing is left running then.
 */
export async function startTestHost(name?: string, opts: StartOptions = {}): Promise<TestHost> {
	const hostName = name ?? `rkt-th-${process.pid}-${++hostCount}`;
	const binds = [process.env['TESTHOST_BINDS'], ...(opts.binds ?? [])].filter((b) => b !== undefined && b !== '');
	const env = { ...process.env, TESTHOST_BINDS: binds.join(':') };
	running.add(hostName);
	const started = await runTesthost(['start', hostName], { env, timeoutMs: 90_000 });
	if (started.exitCode !== 0) {
		running.delete(hostName);
		throw new Error(`hack/testhost start ${hostName} failed (exit ${started.exitCode}):\n${started.stdout}${started.stderr}`);
	}
	const booted = /booted \(\w+\) in ([0-9.]+)s, nspawn pid (\d+)/.exec(started.stdout);
	if (booted === null) throw new Error(`hack/testhost start ${hostName}: unexpected output: ${started.stdout}`);
	const stateDir = path.join(process.env['RKT_TESTHOST_STATE'] ?? '/run/rkt-testhost', hostName);

	const exec = (cmd: readonly string[], execOpts: ExecOptions = {}) =>
		runTesthost(['exec', hostName, ...cmd], { env, ...execOpts });
	return {
		name: hostName,
		bootSeconds: Number(booted[1]),
		nspawnPid: Number(booted[2]),
		stateDir,
		exec,
		sh: (script, execOpts) => exec(['/bin/sh', '-c', script], execOpts),
		async stop() {
			const stopped = await runTesthost(['stop', hostName], { env, timeoutMs: 90_000 });
			running.delete(hostName);
			if (stopped.exitCode !== 0) {
				throw new Error(`hack/testhost stop ${hostName} failed (exit ${stopped.exitCode}):\n${stopped.stdout}${stopped.stderr}`);
			}
		},
	};
}

// A worker that exits without running its after.always hooks (an uncaught exception) must not leave hosts
// behind. Nothing helps against SIGKILL; hack/testhost start cleans the stale state of a reused name.
process.on('exit', () => {
	for (const name of running) {
		spawnSync(testhostScript, ['stop', name], { stdio: 'ignore', timeout: 90_000 });
	}
});

interface RunOptions extends ExecOptions {
	readonly env: NodeJS.ProcessEnv;
}

function runTesthost(args: readonly string[], opts: RunOptions): Promise<ExecResult> {
	const timeoutMs = opts.timeoutMs ?? 60_000;
	return new Promise((resolve, reject) => {
		const child = spawn(testhostScript, args, {
			env: opts.env,
			stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
		});
		const stdout: Buffer[] = [];
		const stderr: Buffer[] = [];
		// both are pipes as requested above; the typings cannot tell from a computed stdio array
		child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
		child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
		let timedOut = false;
		const timer = setTimeout(() => {
			timedOut = true;
			child.kill('SIGTERM');
		}, timeoutMs);
		child.on('error', (err) => {
			clearTimeout(timer);
			reject(new Error(`hack/testhost ${args.join(' ')}: ${err.message}`, { cause: err }));
		});
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			const out = { stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
			if (timedOut) {
				reject(new Error(`hack/testhost ${args.join(' ')}: timed out after ${timeoutMs} ms\n${out.stdout}${out.stderr}`));
			} else if (code === null) {
				reject(new Error(`hack/testhost ${args.join(' ')}: killed by ${signal ?? 'a signal'}\n${out.stdout}${out.stderr}`));
			} else {
				resolve({ exitCode: code, ...out });
			}
		});
		if (child.stdin !== null) {
			// a command that exits without reading all of its input closes the pipe early
			child.stdin.on('error', (err: NodeJS.ErrnoException) => {
				if (err.code !== 'EPIPE') reject(err);
			});
			child.stdin.end(opts.input);
		}
	});
}

function findOnPath(tool: string): string | undefined {
	for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
		const candidate = path.join(dir || '.', tool);
		try {
			accessSync(candidate, constants.X_OK);
			return candidate;
		} catch (err) {
			if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
		}
	}
	return undefined;
}

/** Whether pid names a live (not zombie) process. */
export function processRunning(pid: number): boolean {
	let stat: string;
	try {
		stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
		throw err;
	}
	return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** The suite of a host test file that runs pods: one test host, booted with the sample image fetched. */
export interface PodHostSuite {
	readonly suite: HostTests;
	/** `rkt --dir=<dir> --insecure-options=image` as a command line inside the test host. */
	readonly rkt: string;
	/** The booted test host (throws if it did not start). */
	readonly host: () => TestHost;
	/** Runs a shell script inside the test host. */
	readonly sh: (script: string) => Promise<ExecResult>;
}

/**
 * A host test file's suite for pods: skipped with the reason where the host tier or its images are missing;
 * otherwise one test host for the file, booted before its tests (then `prepare`, a shell script, runs in it)
 * with build/busybox.aci fetched into `dir` as example.com/busybox, and stopped after them.
 */
export function podHostSuite(dir: string, prepare?: string): PodHostSuite {
	const suite = hostTests(hostPodsSkipReason());
	const rkt = `node ${path.join(repoRoot, 'dist/bin/rkt.js')} --dir=${dir} --insecure-options=image`;
	let booted: TestHost | undefined;
	const host = (): TestHost => {
		if (booted === undefined) throw new Error('test host did not start');
		return booted;
	};
	const sh = (script: string): Promise<ExecResult> => host().sh(script);
	suite.before(async () => {
		booted = await startTestHost();
		if (prepare !== undefined) {
			const p = await sh(prepare);
			if (p.exitCode !== 0) throw new Error(`preparing the test host failed: ${p.stderr}`);
		}
		const f = await sh(`${rkt} fetch ${path.join(repoRoot, 'build/busybox.aci')}`);
		if (f.exitCode !== 0) throw new Error(`fetch in the test host failed: ${f.stderr}`);
	});
	suite.after(async () => {
		if (booted !== undefined) await booted.stop();
	});
	return { suite, rkt, host, sh };
}
