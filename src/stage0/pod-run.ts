/**
 * The whole sequence from a plan to a pod, in one place: `prepare`, `run`, `runDetached` and `runPrepared`.
 * A command file turns flags into a `PodPlan` (and `RunOptions`), calls one of these, and renders the result.
 *
 *   plan → read the files it names → resolve images, build the pod manifest → embryo (locked) → prepare/ →
 *   lay out the tree → [uuid file] → prepared/ (prepare) or run/ + launch (run), the lock handed to stage1.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, isErrno, RktError, UsageError } from '../common/errors.js';
import type { GlobalOptions } from '../common/options.js';
import { trace } from '../common/trace.js';
import type { Mount, PodManifest, Volume } from '../image/pod-manifest.js';
import { closePodDir, openPodDir } from '../pod/lock.js';
import * as pods from '../pod/pods.js';
import { POD_MANIFEST, STATUS_DIR } from '../pod/layout.js';
import { Store } from '../store/store.js';
import { systemdContext } from '../systemd/detect.js';
import type { LaunchMode } from '../stage1/launch.js';
import { parseEnvFile } from './app-setup.js';
import { buildPodManifest, layOutPod, type AppRequest, type PodOptions, type PodRequest } from './prepare.js';
import type { NetworkPlan } from '../net/networks.js';
import { resolveStage1, type Stage1, type Stage1Choice } from './stage1-image.js';

/** What a pod is to be, as the command line (or a pod file) says it: every value parsed, no file read yet. */
export interface PodPlan {
  readonly apps: readonly AppRequest[];
  readonly volumes: readonly Volume[];
  /** Mounts given before the first image: for every app. */
  readonly podMounts: readonly Mount[];
  readonly setEnv: readonly (readonly [string, string])[];
  /** `--set-env-file`s, read in order when the pod is prepared. */
  readonly setEnvFiles: readonly string[];
  readonly inheritEnv: boolean;
  readonly hostname?: string;
  /** `--net` values as given (checked by the cli; none: the built-in default of the cli). */
  readonly net: readonly string[];
  /** No `--net` was given: `net` is the cli's default (`default`), which the fly stage1 replaces with `host`. */
  readonly netDefaulted?: boolean;
  /** `--port` values as given. */
  readonly ports: readonly string[];
  /** `--dns`, `--dns-search`, `--dns-opt`, `--dns-domain`, `--hosts-entry` values as given (checked by the cli). */
  readonly dns: import('../net/flags.js').DnsFlagValues & { readonly hostsEntry: readonly string[] };
  readonly interactive: boolean;
  readonly noOverlay: boolean;
  /** `--private-users`: the pod in a user namespace of its own. */
  readonly privateUsers?: boolean;
  readonly pullPolicy: PodRequest['pullPolicy'];
  readonly stage1: Stage1Choice;
  /** `--pod-manifest`: a pod manifest file (JSON, or YAML by its name) instead of `apps`. */
  readonly podManifestFile?: string;
  /** `--uuid-file-save`: where to write the new pod's UUID once it is prepared. */
  readonly uuidFileSave?: string;
  /** `--mds-register`: give the pod an identity with the metadata service (AC_METADATA_URL), registered while it runs. */
  readonly mdsRegister?: boolean;
}

/** Where stage0 reports to: notes always shown (warnings), and progress shown on a terminal or with --debug. */
export interface Stage0Env {
  readonly globals: GlobalOptions;
  /** A line the user should see (stderr). */
  readonly warn: (message: string) => void;
  /** A line worth showing on a terminal or with --debug (progress). */
  readonly progress: (message: string) => void;
}

/** How `rkt run` places and follows a pod. */
export interface RunOptions {
  /** `--slice`, `--memory`/`--cpu` as scope properties: for a pod rkt places in a scope (systemd, from a shell). */
  readonly slice?: string;
  readonly scopeProperties?: readonly string[];
  /** Called with a function that asks the pod to stop (SIGTERM/SIGINT to rkt run). */
  readonly onStopRequest?: (stop: () => void) => void;
  /** Called before rkt execs the fly stage1 (which takes over its process): everything written reaches its descriptor. */
  readonly beforeExec?: () => Promise<void>;
  /** run-prepared `--mds-register`: false skips the registration prepare asked for; true requires it. Unset: as prepared. */
  readonly mdsRegister?: boolean;
  /** run-prepared `--net` (and `--port`): these networks instead of those the pod was prepared with. */
  readonly net?: readonly string[];
  readonly ports?: readonly string[];
  /** run-prepared `--private-users`: true/false runs the pod in its own user namespace or not, whatever prepare chose. */
  readonly privateUsers?: boolean;
}

/** A pod prepared and still locked by this process (`lockFd`). */
interface PreparedPod {
  readonly store: Store;
  readonly uuid: string;
  readonly dir: string;
  readonly lockFd: number;
  readonly manifest: PodManifest;
  readonly options: PodOptions;
  /** Prepared for the fly stage1 (src/stage0/fly-pod.ts): launched by src/stage0/fly-launch.ts. */
  readonly fly?: boolean;
  /** Its fly.json as this process wrote it (rkt run), so the launch need not read it back. */
  readonly flySpec?: import('../stage1/fly.js').FlyAppSpec;
}

async function readPlanFile(flag: string, file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new RktError('EREADFILE', `cannot read ${flag} ${file}: ${describe(err)}`, { cause: err });
  }
}

/** The plan with the files it names read: the request `buildPodManifest` and `layOutPod` take. */
async function toRequest(plan: PodPlan, store: Store): Promise<PodRequest> {
  const setEnvFile: [string, string][] = [];
  for (const f of plan.setEnvFiles) setEnvFile.push(...parseEnvFile(f, await readPlanFile('--set-env-file', f)));
  let podManifest: PodManifest | undefined;
  if (plan.podManifestFile !== undefined) {
    if (plan.apps.length > 0) throw new UsageError('--pod-manifest and images on the command line cannot be combined');
    const file = plan.podManifestFile;
    // JSON or YAML; images by ID, or by name and labels found in the store (src/stage0/pod-manifest-file.ts)
    const { loadPodManifestFile } = await import('./pod-manifest-file.js');
    podManifest = await loadPodManifestFile(store.layout, file, await readPlanFile('--pod-manifest', file));
  } else if (plan.apps.length === 0) {
    throw new UsageError('no image given');
  }
  if (plan.interactive && plan.apps.length > 1) throw new UsageError('--interactive takes exactly one app');
  return {
    apps: plan.apps, volumes: podManifest?.volumes ?? plan.volumes, podMounts: plan.podMounts, setEnv: plan.setEnv, setEnvFile,
    inheritEnv: plan.inheritEnv, ...(plan.hostname !== undefined ? { hostname: plan.hostname } : {}), net: 'host',
    interactive: plan.interactive, noOverlay: plan.noOverlay, ...(plan.privateUsers === true ? { privateUsers: true } : {}), journal: (await systemdContext()).kind !== 'none',
    pullPolicy: plan.pullPolicy, stage1: plan.stage1, ...(podManifest !== undefined ? { podManifest } : {}),
  };
}

/** A host file's text, or undefined where the host has none. */
async function hostFile(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new RktError('EREADFILE', `cannot read ${file}: ${describe(err)}`, { cause: err });
  }
}

/**
 * The apps' /etc/resolv.conf and /etc/hosts from the DNS and hosts flags (src/net/dns.ts): a text to write,
 * `null` for "write none" (--dns=none), absent where no flag decides (the layout's own rules).
 */
async function etcFiles(d: PodPlan['dns']): Promise<{ resolvConf?: string | null; hosts?: string }> {
  const given = d.dns !== undefined && d.dns.length > 0 || (d.dnsSearch ?? []).length > 0 || (d.dnsOpt ?? []).length > 0 || d.dnsDomain !== undefined;
  if (!given && d.hostsEntry.length === 0) return {};
  const { parseDnsFlags, parseHostsEntryFlags } = await import('../net/flags.js');
  const { hostsText, resolvConfText } = await import('../net/dns.js');
  const dns = parseDnsFlags(d);
  const hosts = parseHostsEntryFlags(d.hostsEntry);
  // Without --dns=IP/host/none the resolv.conf comes from the CNI results, known only at launch (not wired yet).
  const resolv = dns.mode === 'none' ? null : dns.mode === 'default' ? undefined
    : resolvConfText(dns, [], dns.mode === 'host' ? await hostFile('/etc/resolv.conf') : undefined);
  const hostsOut = hostsText(hosts, hosts.host ? await hostFile('/etc/hosts') : undefined);
  return { ...(resolv !== undefined ? { resolvConf: resolv } : {}), ...(hostsOut !== undefined ? { hosts: hostsOut } : {}) };
}

/** Prepare a pod from `plan`; returns it in prepare/, still locked. On failure nothing is left locked. */
async function preparePod(plan: PodPlan, env: Stage0Env, run?: RunOptions): Promise<PreparedPod> {
  const store = new Store(env.globals.dir);
  // rkt run's own pod needs no fsync of its files; one prepared for later (prepare, run --detach) does.
  const req = { ...await toRequest(plan, store), ...(run !== undefined ? { ephemeral: true } : {}) };
  trace('modules loaded');
  // The stage1's flavor decides what the pod may be and how it is laid out (resolved once: layOutPod asks again).
  const stage1 = await resolveStage1(store, env.globals, req.stage1);
  if (stage1.flavor === 'fly') return prepareFlyPod(plan, req, store, stage1, env, run);
  const manifest = await buildPodManifest(store, env.globals, req, env.progress);
  trace('images resolved, pod manifest built');
  // The networks are planned (flags, net.d, the images' ports) before any pod exists, set up at launch.
  // `host` and `none` alone need no CNI code loaded.
  // A pod manifest given whole brings its own forwarded ports (its `ports`), as rkt 1.x read them; --port adds to them.
  const ports = [...(req.podManifest?.ports ?? []).map((p) => `${p.name}:${p.hostIP !== undefined ? `${p.hostIP}:` : ''}${p.hostPort}`), ...plan.ports];
  const only = plan.net.length === 1 && ports.length === 0 ? plan.net[0] : undefined;
  const netPlan: NetworkPlan = only === 'host' || only === 'none' ? { kind: only } : await (await import('../net/plan.js')).planPodNetwork({
    net: plan.net, ports, imagePorts: manifest.apps.flatMap((a) => a.app?.ports ?? []),
    localConfig: env.globals.localConfig, systemConfig: env.globals.systemConfig,
  });
  const netReq = { ...(netPlan.kind === 'cni' ? { net: 'pod' as const, netPlan } : { net: netPlan.kind }), ...await etcFiles(plan.dns) };
  // Asked before the pod exists: no service running is an error that leaves nothing behind.
  const identity = plan.mdsRegister === true ? await (await import('./mds-register.js')).newPodIdentity(netPlan) : undefined;
  const embryo = await pods.createEmbryo(env.globals.dir, req.ephemeral !== true);
  trace('pod created');
  try {
    const dir = await pods.toPrepare(env.globals.dir, embryo.uuid, embryo.lockFd, req.ephemeral !== true);
    if (identity !== undefined) await (await import('./mds-register.js')).savePodIdentity(dir, identity);
    const mdsReq = identity !== undefined ? { metadataUrl: identity.url } : {};
    const { options } = await layOutPod(store, env.globals, dir, embryo.uuid, manifest, { ...req, ...netReq, ...mdsReq }, env.warn);
    trace('pod tree laid out');
    if (plan.uuidFileSave !== undefined) await pods.writeUuidFile(plan.uuidFileSave, embryo.uuid);
    return { store, uuid: embryo.uuid, dir, lockFd: embryo.lockFd, manifest, options };
  } catch (err) {
    // The pod stays in prepare/, unlocked once we close: gc collects an aborted prepare.
    closePodDir(embryo.lockFd);
    throw err;
  }
}

/** A pod of the fly stage1: refused before any pod exists if it cannot be one (fly-pod.ts), then laid out for it. */
async function prepareFlyPod(plan: PodPlan, req: PodRequest, store: Store, stage1: Stage1, env: Stage0Env, run?: RunOptions): Promise<PreparedPod> {
  const fly = await import('./fly-pod.js');
  const d = plan.dns;
  fly.checkFlyPlan({
    apps: plan.apps.length, net: plan.net, netDefaulted: plan.netDefaulted === true, ports: plan.ports.length,
    dnsOrHosts: (d.dns ?? []).length + (d.dnsSearch ?? []).length + (d.dnsOpt ?? []).length + d.hostsEntry.length > 0 || d.dnsDomain !== undefined,
    privateUsers: plan.privateUsers === true, mdsRegister: plan.mdsRegister === true,
    scope: run !== undefined && (run.slice !== undefined || (run.scopeProperties ?? []).length > 0),
  });
  const manifest = await buildPodManifest(store, env.globals, req, env.progress);
  fly.checkFlyManifest(manifest);
  trace('images resolved, pod manifest built');
  const embryo = await pods.createEmbryo(env.globals.dir, req.ephemeral !== true);
  trace('pod created');
  try {
    const dir = await pods.toPrepare(env.globals.dir, embryo.uuid, embryo.lockFd, req.ephemeral !== true);
    const { options, spec } = await fly.layOutFlyPod(store, env.globals, dir, embryo.uuid, manifest, req, stage1, env.warn);
    trace('pod tree laid out');
    if (plan.uuidFileSave !== undefined) await pods.writeUuidFile(plan.uuidFileSave, embryo.uuid);
    return { store, uuid: embryo.uuid, dir, lockFd: embryo.lockFd, manifest, options, fly: true, flySpec: spec };
  } catch (err) {
    closePodDir(embryo.lockFd);
    throw err;
  }
}

/** `rkt prepare`: a pod in prepared/, unlocked, ready for `runPrepared`. Returns its UUID. */
export async function prepare(plan: PodPlan, env: Stage0Env): Promise<string> {
  const p = await preparePod(plan, env);
  try {
    await pods.toPrepared(env.globals.dir, p.uuid, p.lockFd);
  } finally {
    closePodDir(p.lockFd);
  }
  return p.uuid;
}

/** Where the pod goes: the systemd context of this process, and the scope settings for the shell case. */
async function launchMode(o: RunOptions, warn: (m: string) => void): Promise<LaunchMode> {
  const properties = ['Delegate=yes', ...(o.scopeProperties ?? [])];
  const scoped = properties.length > 1 || o.slice !== undefined;
  const ctx = await systemdContext();
  if (ctx.kind !== 'shell' && scoped) {
    warn(`rkt: --slice, --memory and --cpu apply to a pod rkt places in a scope (systemd as PID 1, rkt run from a shell); ${ctx.kind === 'none' ? 'systemd is not PID 1 here' : `here the pod lives in ${ctx.unit}: set them on that unit`}, ignoring them`);
  }
  if (ctx.kind === 'none') return { kind: 'raw' };
  if (ctx.kind === 'service') return { kind: 'in-unit' };
  return { kind: 'scope', slice: o.slice ?? 'machine.slice', properties };
}

/**
 * Run a pod that is in run/ and locked by `lockFd` (handed to stage1 and closed here). A pod prepared with
 * --mds-register is registered with the metadata service first and unregistered when it has ended.
 */
async function launch(p: PreparedPod, o: RunOptions, env: Stage0Env): Promise<number> {
  if (p.fly === true) {
    const { launchFlyPod } = await import('./fly-launch.js');
    return launchFlyPod({
      store: p.store, pod: p.dir, uuid: p.uuid, manifest: p.manifest, options: p.options, lockFd: p.lockFd,
      ...(p.flySpec !== undefined ? { spec: p.flySpec } : {}), ...(o.beforeExec !== undefined ? { beforeExec: o.beforeExec } : {}),
    });
  }
  let mds: typeof import('./mds-register.js') | undefined;
  try {
    mds = await import('./mds-register.js');
    const id = o.mdsRegister === false ? undefined : await mds.readPodIdentity(p.dir);
    if (id === undefined && o.mdsRegister === true) {
      throw new RktError('EMDS', `pod ${p.uuid} was prepared without --mds-register: its apps have no AC_METADATA_URL`, { hint: 'prepare it again with rkt prepare --mds-register' });
    }
    if (id === undefined) mds = undefined;
    else await mds.registerPod({ store: p.store, dataDir: env.globals.dir, uuid: p.uuid, dir: p.dir, manifest: p.manifest, id, ownNetwork: p.options.net === 'pod' });
  } catch (err) {
    closePodDir(p.lockFd);
    throw err;
  }
  try {
    return await launchStage1(p, o, env);
  } finally {
    if (mds !== undefined) await mds.unregisterPod(p.uuid);
  }
}

/** The launch itself: where the pod goes, then stage1 started and waited for. */
async function launchStage1(p: PreparedPod, o: RunOptions, env: Stage0Env): Promise<number> {
  const mode = await launchMode(o, env.warn);
  // The systemd stage1's launch (node:child_process and more): not loaded for a fly pod.
  const { launchPod } = await import('./run.js');
  return launchPod({
    store: p.store, pod: p.dir, uuid: p.uuid, manifest: p.manifest, options: p.options, lockFd: p.lockFd,
    debug: env.globals.debug, mode, stdin: p.options.interactive ? 'inherit' : 'ignore',
    ...(o.onStopRequest !== undefined ? { onStopRequest: o.onStopRequest } : {}),
  });
}

/**
 * `rkt run`: prepare a pod and run it in the foreground. Returns the pod's exit status (the first failing
 * app's, 0 if all succeeded); a failure of rkt or stage1 before the apps ran is an RktError (254).
 */
export async function run(plan: PodPlan, o: RunOptions, env: Stage0Env): Promise<number> {
  const p = await preparePod(plan, env, o);
  let dir: string;
  try {
    // (Not fsynced: this pod is rkt run's own, see preparePod.)
    dir = await pods.toRun(env.globals.dir, p.uuid, p.lockFd, false);
  } catch (err) {
    closePodDir(p.lockFd);
    throw err;
  }
  return launch({ ...p, dir }, o, env);
}

/**
 * `rkt run --detach` (beyond rkt; systemd as PID 1): prepare the pod and have systemd run it as
 * `rkt-<uuid>.service` (which runs `rkt run-prepared`). Returns the UUID once the service is started.
 */
export async function runDetached(plan: PodPlan, o: RunOptions, env: Stage0Env): Promise<string> {
  const detach = await import('./detach.js');
  await detach.checkDetachPossible();
  const uuid = await prepare(plan, env);
  if ((o.scopeProperties ?? []).length > 0) {
    env.warn('rkt: --memory and --cpu apply to a pod rkt places in a scope; a detached pod lives in rkt-<uuid>.service: set them there (systemctl set-property), ignoring them');
  }
  await detach.startDetached(uuid, env.globals, o.slice);
  return uuid;
}

/**
 * A prepared pod's options with the networks `run-prepared --net` asks for, planned now (against the apps'
 * ports and net.d, as at prepare time) and saved in its options.json. Refused for a pod prepared with
 * --mds-register: its metadata address was made for the networks it was prepared with.
 */
async function withNetworks(dir: string, prepared: PodOptions, manifest: PodManifest, net: readonly string[], ports: readonly string[], env: Stage0Env): Promise<PodOptions> {
  if (await (await import('./mds-register.js')).readPodIdentity(dir) !== undefined) {
    throw new UsageError('--net cannot change the networks of a pod prepared with --mds-register: its metadata address was made for them', { hint: 'prepare it again with the networks it should have' });
  }
  const netPlan: NetworkPlan = await (await import('../net/plan.js')).planPodNetwork({
    net, ports, imagePorts: manifest.apps.flatMap((a) => a.app?.ports ?? []), localConfig: env.globals.localConfig, systemConfig: env.globals.systemConfig,
  });
  const { netPlan: _old, cniDns: _dns, ...rest } = prepared;
  const options: PodOptions = netPlan.kind === 'cni' ? { ...rest, net: 'pod', netPlan, cniDns: true } : { ...rest, net: netPlan.kind };
  const { writeFileAtomic } = await import('../common/fs-atomic.js');
  const { OPTIONS_FILE } = await import('./pod-layout.js');
  await writeFileAtomic(path.join(dir, OPTIONS_FILE), JSON.stringify(options, null, 1) + '\n');
  return options;
}

/**
 * run-prepared `--private-users[=false]` on a pod prepared the other way: a UID range is drawn now (or
 * dropped), and what prepare made for the pod's root outside its trees (the status directory, empty volumes)
 * is given to the new range. The trees themselves are shifted by nspawn at the launch.
 */
async function withPrivateUsers(dir: string, prepared: PodOptions, manifest: PodManifest, want: boolean): Promise<PodOptions> {
  if (want === (prepared.privateUsers !== undefined)) return prepared;
  const { pickIdShift } = await import('./prepare.js');
  const range = want ? await pickIdShift(path.dirname(path.dirname(dir))) : undefined;
  const delta = (range?.base ?? 0) - (prepared.privateUsers?.base ?? 0);
  const shiftOwner = async (p: string) => {
    const st = await fs.stat(p);
    await fs.chown(p, st.uid + delta, st.gid + delta);
  };
  await shiftOwner(path.join(dir, STATUS_DIR));
  for (const v of manifest.volumes) if (v.kind === 'empty') await shiftOwner(path.join(dir, 'volumes', v.name));
  const { privateUsers: _old, ...rest } = prepared;
  const options: PodOptions = range !== undefined ? { ...rest, privateUsers: range } : rest;
  const { writeFileAtomic } = await import('../common/fs-atomic.js');
  const { OPTIONS_FILE } = await import('./pod-layout.js');
  await writeFileAtomic(path.join(dir, OPTIONS_FILE), JSON.stringify(options, null, 1) + '\n');
  return options;
}

/** `rkt run-prepared`: run the prepared pod `word` (a UUID or a unique prefix) in the foreground. */
export async function runPrepared(word: string, o: RunOptions, env: Stage0Env): Promise<number> {
  const pod = await pods.getPod(env.globals.dir, word);
  // A fly pod (fly.json beside its manifest) takes no network, registration or scope: refused while it is still prepared.
  const fly = pod.state === 'prepared' && existsSync(path.join(pod.dir, 'fly.json'));
  if (fly && (o.net !== undefined || (o.ports ?? []).length > 0 || o.mdsRegister === true || o.privateUsers === true || o.slice !== undefined || (o.scopeProperties ?? []).length > 0)) {
    throw new RktError('EFLY', `pod ${pod.uuid} runs on the fly stage1: --net, --port, --mds-register, --private-users, --slice, --memory and --cpu cannot be given to run-prepared`, { exitCode: 2 });
  }
  const fd = openPodDir(pod.dir);
  let p: PreparedPod;
  try {
    const dir = await pods.toRun(env.globals.dir, pod.uuid, fd);
    const prepared = await (await import('./run.js')).readPodOptions(dir);
    const { parsePodManifest } = await import('../image/pod-manifest.js');
    const manifest = parsePodManifest(await fs.readFile(path.join(dir, POD_MANIFEST)));
    const withNets = o.net === undefined ? prepared : await withNetworks(dir, prepared, manifest, o.net, o.ports ?? [], env);
    const options = o.privateUsers === undefined ? withNets : await withPrivateUsers(dir, withNets, manifest, o.privateUsers);
    p = { store: new Store(env.globals.dir), uuid: pod.uuid, dir, lockFd: fd, manifest, options, ...(fly ? { fly } : {}) };
  } catch (err) {
    closePodDir(fd);
    throw err;
  }
  return launch(p, o, env);
}
