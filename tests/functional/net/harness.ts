/**
 * A "host" for the network tests: a network namespace made for one test (`ip netns add rkt-test-<random>`),
 * in which tests/functional/net/driver.ts runs src/net (`nsenter --net=…`, never `ip netns exec`), plus
 * helpers to look at it and at pods' namespaces. Everything made is removed by `cleanup` even when the test
 * failed: pods torn down, namespace files unmounted, the namespace deleted (its veths and iptables go with it),
 * temporary directories and the leases of the real /var/lib/cni/networks/default that name a pod of the test.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO, RKT, runCmd, type Result } from '../../lib/rkt.js';

export const DRIVER = path.join(REPO, 'tests/functional/net/driver.ts');
export const REAL_DEFAULT_LEASES = '/var/lib/cni/networks/default';

/** Why these tests cannot run here, or undefined. */
export function netSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (run hack/test as root)';
  for (const f of ['/usr/lib/cni/ptp', '/usr/lib/cni/host-local', '/usr/lib/cni/bridge', '/usr/lib/cni/portmap']) {
    if (!existsSync(f)) return `needs ${f} (Debian package containernetworking-plugins, installed by hack/setup)`;
  }
  for (const f of ['/usr/bin/nsenter', '/usr/bin/unshare', '/usr/bin/busybox']) if (!existsSync(f)) return `needs ${f}`;
  return undefined;
}

export interface Outcome {
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
  readonly hint?: string | null;
  readonly failures?: readonly string[];
  readonly info?: {
    readonly networks: readonly {
      readonly netName: string; readonly netConf: string; readonly pluginPath: string; readonly ifName: string;
      readonly ip: string; readonly args: string; readonly result?: { readonly ips?: readonly { readonly address: string; readonly gateway?: string }[] };
    }[];
  } | null;
}

export interface Pod { readonly dir: string; readonly uuid: string; readonly netns: string }

export class TestHost {
  readonly name = `rkt-test-${randomBytes(4).toString('hex')}`;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'rkt-net-'));
  readonly ipamDataDir = path.join(this.dir, 'ipam');
  readonly podsRoot = path.join(this.dir, 'pods');
  readonly localConfig = path.join(this.dir, 'local');
  readonly systemConfig = path.join(this.dir, 'system');
  readonly pods: Pod[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly runs: ChildProcess[] = [];

  get netnsPath(): string { return `/run/netns/${this.name}`; }

  /** Make the namespace, with loopback up. */
  async start(): Promise<void> {
    const add = await runCmd('ip', ['netns', 'add', this.name]);
    if (add.exitCode !== 0) throw new Error(`ip netns add: ${add.stderr}`);
    const lo = await runCmd('ip', ['-n', this.name, 'link', 'set', 'lo', 'up']);
    if (lo.exitCode !== 0) throw new Error(`lo up: ${lo.stderr}`);
  }

  /** A new pod directory (not created) under <dir>/pods/run/. */
  newPod(): Pod {
    const uuid = randomUUID();
    const dir = path.join(this.podsRoot, 'run', uuid);
    const pod = { dir, uuid, netns: path.join(dir, 'netns') };
    this.pods.push(pod);
    return pod;
  }

  /** Run driver requests inside the namespace; one outcome per request. */
  async drive(requests: readonly object[]): Promise<Outcome[]> {
    const res = await runCmd('nsenter', [`--net=${this.netnsPath}`, process.execPath, '--import=tsx', DRIVER, JSON.stringify(requests)], { cwd: REPO, timeoutMs: 300_000 });
    if (res.exitCode !== 0) throw new Error(`driver exited ${res.exitCode}: ${res.stderr}${res.stdout}`);
    return JSON.parse(res.stdout) as Outcome[];
  }

  /** Set up `pod` with `--net` values `net` (and more request fields). */
  async setup(pod: Pod, net: readonly string[], more: object = {}): Promise<Outcome> {
    const [o] = await this.drive([this.setupRequest(pod, net, more)]);
    if (o === undefined) throw new Error('no outcome');
    return o;
  }

  setupRequest(pod: Pod, net: readonly string[], more: object = {}): object {
    return {
      op: 'setup', podDir: pod.dir, uuid: pod.uuid, net, localConfig: this.localConfig, systemConfig: this.systemConfig,
      ipamDataDir: this.ipamDataDir, podsRoot: this.podsRoot, ...more,
    };
  }

  async teardown(pod: Pod, more: object = {}): Promise<Outcome> {
    const [o] = await this.drive([{ op: 'teardown', podDir: pod.dir, ...more }]);
    if (o === undefined) throw new Error('no outcome');
    return o;
  }

  /** A command in the test host's namespace. */
  inHost(cmd: string, args: readonly string[]): Promise<Result> {
    return runCmd('nsenter', [`--net=${this.netnsPath}`, cmd, ...args]);
  }

  /** A command in a pod's namespace. */
  inPod(pod: Pod, cmd: string, args: readonly string[]): Promise<Result> {
    return runCmd('nsenter', [`--net=${pod.netns}`, cmd, ...args]);
  }

  /** Start a long-running command in a pod's namespace (killed by cleanup). */
  spawnInPod(pod: Pod, cmd: string, args: readonly string[]): ChildProcess {
    const child = spawn('nsenter', [`--net=${pod.netns}`, cmd, ...args], { stdio: 'ignore' });
    this.children.push(child);
    return child;
  }

  /** `rkt --dir=<rktDir> --insecure-options=image ARGS` in the test host's namespace, to its end. */
  rkt(args: readonly string[]): Promise<Result> {
    return runCmd('nsenter', [`--net=${this.netnsPath}`, process.execPath, RKT, `--dir=${this.rktDir}`, '--insecure-options=image', ...args], { timeoutMs: 120_000 });
  }

  /** The same, in the background (stopped with SIGTERM by cleanup if still running); its output collected. */
  spawnRkt(args: readonly string[]): { child: ChildProcess; done: Promise<Result>; exit: Promise<void> } {
    const child = spawn('nsenter', [`--net=${this.netnsPath}`, process.execPath, RKT, `--dir=${this.rktDir}`, '--insecure-options=image', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.runs.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    // `close` waits for every holder of the output pipes (a SIGKILLed rkt run's pod keeps them): `exit` does not.
    const done = new Promise<Result>((resolve) => child.once('close', (code, signal) => resolve({ exitCode: code ?? (signal === null ? -1 : 128 + 15), stdout, stderr })));
    const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, done, exit };
  }

  /** Interface names of the test host's namespace, but lo. */
  async hostLinks(): Promise<string[]> {
    const r = await this.inHost('ip', ['-o', 'link', 'show']);
    return r.stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => n !== '' && n !== 'lo');
  }

  /** The CNI lines of the test host's iptables (every table). */
  async cniRules(): Promise<string[]> {
    const r = await this.inHost('iptables-save', []);
    if (r.exitCode !== 0) throw new Error(`iptables-save: ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => /CNI/.test(l));
  }

  /** Lease files (named by address) in a host-local data directory for network `name`. */
  leases(name: string, dataDir = this.ipamDataDir): string[] {
    const d = path.join(dataDir, name);
    if (!existsSync(d)) return [];
    return readdirSync(d).filter((f) => /^[0-9a-f.:]+$/.test(f));
  }

  /** rkt's --dir for tests that run `rkt run` in the namespace. */
  get rktDir(): string { return path.join(this.dir, 'rkt'); }

  /** Every pod of the test: those made through the driver and those `rkt run` made under rktDir. */
  allPods(): Pod[] {
    const out = [...this.pods];
    const root = path.join(this.rktDir, 'pods');
    if (existsSync(root)) {
      for (const state of readdirSync(root)) {
        for (const uuid of readdirSync(path.join(root, state))) {
          const dir = path.join(root, state, uuid);
          out.push({ dir, uuid, netns: path.join(dir, 'netns') });
        }
      }
    }
    return out;
  }

  /** Leases of the real default network's directory held by this test's pods. */
  realDefaultLeases(): string[] {
    if (!existsSync(REAL_DEFAULT_LEASES)) return [];
    const ours = new Set(this.allPods().map((p) => p.uuid));
    return readdirSync(REAL_DEFAULT_LEASES).filter((f) => /^[0-9a-f.:]+$/.test(f)).filter((f) => {
      const id = readFileSync(path.join(REAL_DEFAULT_LEASES, f), 'utf8').split(/\s/)[0] ?? '';
      return ours.has(id);
    });
  }

  /** Write a net.d file under the test's local config. */
  writeNetConf(file: string, conf: object, where: 'local' | 'system' = 'local'): string {
    const dir = path.join(where === 'local' ? this.localConfig : this.systemConfig, 'net.d');
    mkdirSync(dir, { recursive: true });
    const p = path.join(dir, file);
    writeFileSync(p, JSON.stringify(conf, null, 2));
    return p;
  }

  /**
   * What is left of the test's pods' networks in the test host: veths, iptables rules or chains of a pod
   * (portmap's three shared chains stay once made, as with every CNI runtime: not counted), leases in
   * `leaseNets` of the test's data directory and of the real default network, namespace files and mounts.
   * Empty when nothing is left.
   */
  async leftovers(leaseNets: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    const veths = (await this.inHost('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout.trim();
    if (veths !== '') out.push(`veths: ${veths}`);
    const pods = this.allPods();
    const ids = pods.map((p) => p.uuid);
    const rules = (await this.cniRules()).filter((l) => ids.some((id) => l.includes(id)) || /CNI-(DN-)?[0-9a-f]{20,}/.test(l) || l.startsWith('-A CNI-HOSTPORT-DNAT'));
    if (rules.length > 0) out.push(`iptables: ${rules.join(' | ')}`);
    for (const n of leaseNets) { const l = this.leases(n); if (l.length > 0) out.push(`leases in ${n}: ${l.join(' ')}`); }
    const real = this.realDefaultLeases();
    if (real.length > 0) out.push(`leases in ${REAL_DEFAULT_LEASES}: ${real.join(' ')}`);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    for (const p of pods) {
      if (existsSync(p.netns)) out.push(`namespace file ${p.netns}`);
      if (mounts.includes(p.netns)) out.push(`namespace mount ${p.netns}`);
    }
    return out;
  }

  /** Remove everything the test made (best-effort, each step on its own). */
  async cleanup(log: (s: string) => void): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const c of this.runs) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      // rkt run stops its pod and tears its networks down on SIGTERM.
      const gone = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGTERM');
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 20_000))]);
      if (c.exitCode === null && c.signalCode === null) { log('cleanup: rkt run did not stop, killing it'); c.kill('SIGKILL'); }
    }
    // Pods still running without their rkt run (a test killed it): stop them, and wait for their end.
    const runDir = path.join(this.rktDir, 'pods', 'run');
    for (const uuid of existsSync(runDir) ? readdirSync(runDir) : []) {
      const st = await this.rkt(['status', uuid]);
      if (!st.stdout.includes('state=running')) continue;
      const stop = await this.rkt(['stop', '--force', uuid]);
      const wait = await this.rkt(['status', '--wait=30s', uuid]);
      if (stop.exitCode !== 0 || wait.exitCode !== 0) log(`cleanup: pod ${uuid} did not stop: ${stop.stderr}${wait.stderr}`);
    }
    const live = this.allPods().filter((p) => existsSync(p.dir));
    if (live.length > 0) {
      try {
        await this.drive(live.map((p) => ({ op: 'teardown', podDir: p.dir })));
      } catch (err) {
        log(`cleanup: teardown: ${String(err)}`);
      }
    }
    for (const p of this.allPods()) {
      while ((await runCmd('mountpoint', ['-q', p.netns])).exitCode === 0) {
        const u = await runCmd('umount', [p.netns]);
        if (u.exitCode !== 0) { log(`cleanup: umount ${p.netns}: ${u.stderr}`); break; }
      }
    }
    await runCmd('ip', ['netns', 'del', this.name]);
    for (const f of this.realDefaultLeases()) rmSync(path.join(REAL_DEFAULT_LEASES, f), { force: true });
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch (err) {
      log(`cleanup: ${String(err)} (a pod's mount is left; see findmnt under ${this.dir})`);
    }
  }
}
