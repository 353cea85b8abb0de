// The test host itself: it boots, its systemd, machined and systemd-run work as the host tier needs, and
// it goes away cleanly.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hostTierSkipReason, hostTests, processRunning, repoRoot, startTestHost, until, type TestHost } from '../lib/testhost.js';

const skipReason = hostTierSkipReason();

/** A busybox-static tree nspawn accepts: applet links in bin/, a usr/ dir, etc/os-release. */
function makeBusyboxTree(root: string): void {
	for (const dir of ['bin', 'usr', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'var', 'root']) {
		mkdirSync(path.join(root, dir), { recursive: true });
	}
	copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
	const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[\w.[-]+$/.test(a));
	for (const applet of applets) {
		if (applet !== 'busybox') symlinkSync('busybox', path.join(root, 'bin', applet));
	}
	writeFileSync(path.join(root, 'etc', 'os-release'), 'ID=busybox\nNAME=busybox\n');
	writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
	writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\n');
}

async function machineNames(host: TestHost): Promise<string[]> {
	const list = await host.exec(['machinectl', 'list', '--no-legend']);
	if (list.exitCode !== 0) throw new Error(`machinectl list: exit ${list.exitCode}: ${list.stderr}`);
	return list.stdout.split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '').filter((n) => n !== '');
}


const suite = hostTests(skipReason);

// .tmp/ is git-ignored and, as part of the repo root, bound into every test host at the same path
const tmpDir = path.join(repoRoot, '.tmp', `testhost-test-${process.pid}`);
const busyboxTree = path.join(tmpDir, 'busybox');
let host: TestHost | undefined;
let stopped = false;

const theHost = (): TestHost => {
	if (host === undefined) throw new Error('test host did not start');
	return host;
};

suite.before(async (t) => {
	makeBusyboxTree(busyboxTree);
	const t0 = performance.now();
	host = await startTestHost();
	t.log(`${host.name}: booted in ${host.bootSeconds} s (hack/testhost), ${((performance.now() - t0) / 1000).toFixed(2)} s with the client`);
});

suite.after(async () => {
	try {
		if (host !== undefined && !stopped) await host.stop();
	} finally {
		rmSync(tmpDir, { recursive: true, force: true });
	}
});

suite.test('the host system is running', async (t) => {
	const state = await theHost().exec(['systemctl', 'is-system-running']);
	t.regex(state.stdout.trim(), /^(running|degraded)$/, state.stderr);
	if (state.stdout.trim() === 'degraded') {
		t.log((await theHost().exec(['systemctl', '--failed', '--no-legend'])).stdout);
	}
});

suite.test('machinectl list answers', async (t) => {
	const list = await theHost().exec(['machinectl', 'list']);
	t.is(list.exitCode, 0, list.stderr);
});

suite.test('a nested nspawn registers with machined and can be terminated', async (t) => {
	const machine = `bb-${process.pid}`;
	const started = await theHost().exec([
		'systemd-run', '--quiet', `--unit=rkt-th-nested-${process.pid}`, '--collect', '--service-type=exec', '--',
		'systemd-nspawn', '--quiet', '--register=yes', '-M', machine, '-D', busyboxTree, '/bin/sh', '-c', 'sleep 86400',
	]);
	t.is(started.exitCode, 0, started.stderr);

	await until(`${machine} is listed`, 60_000, async () => (await machineNames(theHost())).includes(machine));
	const terminated = await theHost().exec(['machinectl', 'terminate', machine]);
	t.is(terminated.exitCode, 0, terminated.stderr);
	await until(`${machine} is gone`, 60_000, async () => !(await machineNames(theHost())).includes(machine));
	t.false((await machineNames(theHost())).includes(machine), `${machine} is still listed`);
});

suite.test('systemd-run --wait --pipe passes an exit status through', async (t) => {
	const exited = await theHost().exec(['systemd-run', '--quiet', '--wait', '--pipe', '--', 'sh', '-c', 'exit 7']);
	t.is(exited.exitCode, 7);
	const direct = await theHost().sh('exit 9');
	t.is(direct.exitCode, 9);
});

suite.test('exec passes stdin, stdout, stderr and a literal $', async (t) => {
	const cat = await theHost().exec(['cat'], { input: 'hello\n' });
	t.deepEqual(cat, { exitCode: 0, stdout: 'hello\n', stderr: '' });
	const dollar = await theHost().sh('echo "$0:$1" >&2', {});
	t.is(dollar.stderr, '/bin/sh:\n');
	const literal = await theHost().exec(['echo', '$HOME ${PATH} $$']);
	t.is(literal.stdout, '$HOME ${PATH} $$\n');
});

suite.test('the host stops cleanly', async (t) => {
	const h = theHost();
	const cgroups = readFileSync(path.join(h.stateDir, 'cgroups'), 'utf8').split('\n').filter((c) => c !== '');
	t.true(cgroups.length > 0);
	const t0 = performance.now();
	await h.stop();
	stopped = true;
	t.log(`${h.name}: stopped in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
	t.false(processRunning(h.nspawnPid), 'systemd-nspawn is still running');
	t.deepEqual(cgroups.filter((c) => existsSync(c)), [], 'cgroups left behind');
	t.false(existsSync(h.stateDir), 'state directory left behind');
});
