/** Acting on existing pods: stop, enter, remove, collect garbage. */
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { describe, isErrno, RktError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import type { Store } from '../store/store.js';
import * as pods from '../pod/pods.js';
import type { PodInfo } from '../pod/pods.js';
import { POD_MANIFEST } from '../pod/layout.js';
import { parsePodManifest, type PodManifest } from '../image/pod-manifest.js';
import { readPodOptions } from './run.js';
import { cgroupDirsFor, removeCgroups } from './cgroups.js';

/** A stage1 entrypoint of a pod, run from the stage1 image's tree in the store (a pod's own tree is mounted only inside it). */
async function entrypoint(store: Store, pod: PodInfo, which: 'stage1Stop' | 'stage1Enter'): Promise<string> {
  const o = await readPodOptions(pod.dir);
  return path.join(store.layout.tree(o.stage1Id), 'rootfs', o[which]);
}

function runProgram(cmd: string, args: readonly string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; stdio: 'inherit' | 'pipe' }): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: opts.stdio === 'inherit' ? 'inherit' : ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', (err) => reject(new RktError('ESTAGE1', `cannot run the stage1 entrypoint ${cmd}: ${isErrno(err, 'ENOENT') ? 'no such file' : describe(err)}`, {
      cause: err, hint: 'the pod\'s stage1 tree in the store is damaged: "rkt image verify" repairs it',
    })));
    child.on('close', (code, signal) => resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stderr }));
  });
}

/** The pod manifest of a pod. */
export async function readPodManifest(pod: PodInfo): Promise<PodManifest> {
  try {
    return parsePodManifest(await fs.readFile(path.join(pod.dir, POD_MANIFEST)));
  } catch (err) {
    if (err instanceof RktError) throw err;
    throw new RktError('EPODREAD', `pod ${pod.uuid} has no readable manifest: ${describe(err)}`, { cause: err });
  }
}

/**
 * Stop a running pod: gracefully (the pod's systemd stops the apps, post-stop handlers run) or with SIGKILL.
 * Waits up to `timeoutMs` for it to exit. Returns false if the pod was not running.
 */
export async function stopPod(store: Store, dataDir: string, pod: PodInfo, force: boolean, timeoutMs = 30_000): Promise<boolean> {
  if (pod.state !== 'running') return false;
  if (pod.pid === undefined) throw new RktError('ESTOP', `pod ${pod.uuid} is starting (no pid recorded yet)`, { hint: 'try again in a moment' });
  // A pod registered with machined is stopped through it (the same signal, to the leader machined knows);
  // otherwise, or if machined cannot be asked, the stage1's stop entrypoint signals the pod's PID 1.
  // A fly pod (fly.json) is its app's own process, known to no machined: its stop entrypoint signals that.
  const fly = existsSync(path.join(pod.dir, 'fly.json'));
  const { systemdBooted } = await import('../systemd/detect.js');
  const viaMachined = !fly && (await systemdBooted())
    && await (await import('../systemd/machined.js')).signalPodMachine(pod.uuid, pod.pid, force).catch((err: unknown) => {
      // machined could not be asked (no bus, a refusal): the stop entrypoint does the same job.
      if (!(err instanceof RktError)) throw err;
      trace(`cannot stop pod ${pod.uuid} through machined: ${err.message}, using the stage1 stop entrypoint`);
      return false;
    });
  const r = viaMachined ? { code: 0, stderr: '' }
    : await runProgram(await entrypoint(store, pod, 'stage1Stop'), [String(pod.pid), ...(force ? ['--force'] : [])], { cwd: pod.dir, stdio: 'pipe' });
  if (r.code !== 0) {
    const now = await pods.getPod(dataDir, pod.uuid);
    if (now.state !== 'running') return true;
    throw new RktError('ESTOP', `failed to stop pod ${pod.uuid}: ${r.stderr.trim() || `stop entrypoint exited ${r.code}`}`);
  }
  const start = Date.now();
  for (;;) {
    const now = await pods.getPod(dataDir, pod.uuid);
    if (now.state !== 'running') return true;
    if (Date.now() - start > timeoutMs) throw new RktError('ETIMEOUT', `pod ${pod.uuid} did not stop within ${timeoutMs / 1000}s`, { hint: 'use rkt stop --force' });
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Run CMD in an app of a running pod, with the app's environment; returns CMD's exit status. */
export async function enterPod(store: Store, pod: PodInfo, app: string | undefined, cmd: readonly string[]): Promise<number> {
  if (pod.state !== 'running' || pod.pid === undefined) throw new RktError('EENTER', `cannot enter pod ${pod.uuid}: it is ${pod.state}, not running`);
  const manifest = await readPodManifest(pod);
  const names = manifest.apps.map((a) => a.name);
  const chosen = app ?? (names.length === 1 ? names[0] : undefined);
  if (chosen === undefined) throw new RktError('EENTER', `pod ${pod.uuid} has several apps (${names.join(', ')})`, { hint: 'choose one with --app' });
  const a = manifest.apps.find((x) => x.name === chosen);
  if (a === undefined) throw new RktError('EENTER', `pod ${pod.uuid} has no app "${chosen}" (it has ${names.join(', ')})`);
  const env: NodeJS.ProcessEnv = Object.fromEntries((a.app?.environment ?? []).map((e) => [e.name, e.value]));
  let argv = [...cmd];
  if (argv.length === 0) {
    const { ociImageRoot } = await import('../store/oci-lowers.js');
    const layered = await ociImageRoot(store.layout, a.image.id);
    const bash = layered !== undefined ? await (await import('./app-setup.js')).resolveInRoot(layered.lookup, '/bin/bash') : path.join(store.layout.tree(a.image.id), 'rootfs', 'bin', 'bash');
    argv = [bash !== undefined && (await fs.lstat(bash).then(() => true, () => false)) ? '/bin/bash' : '/bin/sh'];
  }
  const r = await runProgram(await entrypoint(store, pod, 'stage1Enter'), [String(pod.pid), chosen, ...argv], { cwd: pod.dir, env, stdio: 'inherit' });
  return r.code;
}

/** Remove a pod that is not running: any state but running/preparing. */
export async function removePod(dataDir: string, pod: PodInfo): Promise<void> {
  if (pod.state === 'running' || pod.state === 'preparing' || pod.state === 'embryo') {
    throw new RktError('EPODSTATE', `cannot remove pod ${pod.uuid}: it is ${pod.state}`, { hint: pod.state === 'running' ? 'stop it first: rkt stop ' + pod.uuid : undefined });
  }
  let dir = pod.dir;
  if (pod.state === 'exited') dir = await pods.toExitedGarbage(dataDir, pod.uuid);
  else if (pod.state === 'prepared' || pod.state === 'aborted-prepare') dir = await pods.toGarbage(dataDir, pod.uuid);
  await tearDownNetwork(dir, pod.uuid, () => undefined);
  await removeCgroups(await cgroupDirsFor(pod.uuid));
  await pods.removePodDir(dir);
}

/**
 * Undo what is left of a pod's networks (src/net: CNI DEL of each, the namespace unmounted). Best-effort: a
 * failure is logged "…, ignoring"; a namespace still mounted then keeps the pod directory (removePodDir
 * refuses it) and the next gc tries again.
 */
async function tearDownNetwork(dir: string, uuid: string, log: (m: string) => void): Promise<void> {
  const { tearDownPodNetwork } = await import('../net/pod-network.js');
  for (const f of await tearDownPodNetwork(dir)) log(`cannot tear down the network of pod ${uuid}: ${f}, ignoring`);
}

export interface GcOptions { readonly graceMs: number; readonly expirePreparedMs: number; readonly markOnly: boolean }
export interface GcReport { readonly marked: string[]; readonly removed: string[]; readonly failed: string[] }

/**
 * Garbage-collect pods: exited pods are marked (moved to exited-garbage); marked pods older than the grace
 * period, aborted prepares, expired prepared pods and abandoned embryos (unlocked, older than
 * EMBRYO_ABANDONED_MS) are removed. A running pod is never touched.
 */
export async function gcPods(dataDir: string, o: GcOptions, log: (m: string) => void, now = Date.now()): Promise<GcReport> {
  const report: GcReport = { marked: [], removed: [], failed: [] };
  for (const p of await pods.listPods(dataDir)) {
    try {
      if (p.state === 'exited') {
        const dir = await pods.toExitedGarbage(dataDir, p.uuid);
        await fs.writeFile(path.join(dir, 'gc-marked'), `${new Date(now).toISOString()}\n`);
        // An exited pod's addresses and forwarded ports are free at once, not after the grace period.
        await tearDownNetwork(dir, p.uuid, log);
        report.marked.push(p.uuid);
        log(`moving pod ${p.uuid} to garbage`);
      }
    } catch (err) {
      if (!(err instanceof RktError)) throw err;
      log(`cannot mark pod ${p.uuid}: ${err.message}, ignoring`);
    }
  }
  if (o.markOnly) return report;
  // With systemd as PID 1, what it may still hold of a collected pod (its unit, its machine) goes too; the
  // D-Bus code is loaded only then, and only once a pod is collected.
  const { systemdBooted } = await import('../systemd/detect.js');
  const systemd = (await systemdBooted()) ? await import('../systemd/machined.js') : undefined;
  const bus = systemd?.lazyBus();
  const cleanSystemd = async (uuid: string) => {
    if (systemd === undefined || bus === undefined) return;
    let b;
    try {
      b = await bus.get();
    } catch (err) {
      log(`cannot clean up the unit and machine of pod ${uuid}: ${describe(err)}, ignoring`);
      return;
    }
    await systemd.cleanupPod(b, uuid, log);
  };
  try {
    for (const p of await pods.listPods(dataDir)) {
      try {
        let dir: string | undefined;
        if (p.state === 'exited-garbage') {
          const marked = await fs.readFile(path.join(p.dir, 'gc-marked'), 'utf8').then((s) => Date.parse(s.trim()), (err: unknown) => {
            if (isErrno(err, 'ENOENT')) return 0;
            throw err;
          });
          if (now - marked >= o.graceMs) dir = p.dir;
        } else if (p.state === 'aborted-prepare' || p.state === 'garbage') {
          dir = p.state === 'garbage' ? p.dir : await pods.toGarbage(dataDir, p.uuid);
        } else if (p.state === 'prepared' && p.created !== undefined && now - p.created.getTime() >= o.expirePreparedMs) {
          dir = await pods.toGarbage(dataDir, p.uuid);
        } else if (p.state === 'embryo' && !p.locked && now - (p.created?.getTime() ?? dirMtime(p.dir, now)) >= pods.EMBRYO_ABANDONED_MS) {
          // A pod whose rkt died while creating it (a crash, a kill): no rkt will ever move it on.
          dir = await pods.abandonedEmbryoToGarbage(dataDir, p.uuid);
        }
        if (dir === undefined) continue;
        await cleanSystemd(p.uuid);
        await tearDownNetwork(dir, p.uuid, log);
        await removeCgroups(await cgroupDirsFor(p.uuid));
        await pods.removePodDir(dir);
        report.removed.push(p.uuid);
        log(`garbage collecting pod ${p.uuid}`);
      } catch (err) {
        if (!(err instanceof RktError)) throw err;
        report.failed.push(p.uuid);
        log(`cannot collect pod ${p.uuid}: ${err.message}, ignoring`);
      }
    }
  } finally {
    bus?.close();
  }
  return report;
}

/** When directory `dir` last changed (ms), or `now` if it is gone: the age of an embryo without a `created` file. */
function dirMtime(dir: string, now: number): number {
  try {
    return statSync(dir).mtimeMs;
  } catch {
    return now;
  }
}

/**
 * Image IDs that pods still need: the apps' images and the stage1 of every pod that is running, being
 * prepared or prepared (an exited pod's images may go; its own files stay until gc).
 */
export async function imagesInUse(dataDir: string): Promise<Map<string, string>> {
  const used = new Map<string, string>();
  for (const p of await pods.listPods(dataDir)) {
    if (!['running', 'preparing', 'prepared', 'embryo'].includes(p.state)) continue;
    try {
      const m = await readPodManifest(p);
      for (const a of m.apps) used.set(a.image.id, p.uuid);
      const o = await readPodOptions(p.dir);
      used.set(o.stage1Id, p.uuid);
    } catch (err) {
      // A pod still being laid out has no manifest yet: it has not claimed images we could miss later,
      // because prepare fetches (and so touches lastUsed) before it writes its manifest.
      if (!(err instanceof RktError)) throw err;
    }
  }
  return used;
}

/**
 * Export an app of an exited pod as an ACI: the image's tree with everything the app wrote (its overlay
 * upper layer, whiteouts included) on top, and the image's manifest. Written atomically to `out`.
 */
export async function exportPodApp(store: Store, pod: PodInfo, app: string | undefined, out: string): Promise<string> {
  if (!['exited', 'exited-garbage'].includes(pod.state)) {
    throw new RktError('EEXPORT', `cannot export pod ${pod.uuid}: it is ${pod.state}; only an exited pod can be exported`, {
      hint: pod.state === 'running' ? `stop it first: rkt stop ${pod.uuid}` : undefined,
    });
  }
  const manifest = await readPodManifest(pod);
  const names = manifest.apps.map((a) => a.name);
  const chosen = app ?? (names.length === 1 ? names[0] : undefined);
  if (chosen === undefined) throw new RktError('EEXPORT', `pod ${pod.uuid} has several apps (${names.join(', ')})`, { hint: 'choose one with --app' });
  const a = manifest.apps.find((x) => x.name === chosen);
  if (a === undefined) throw new RktError('EEXPORT', `pod ${pod.uuid} has no app "${chosen}" (it has ${names.join(', ')})`);
  const tree = store.layout.tree(a.image.id);
  try {
    await fs.access(tree);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    throw new RktError('EEXPORT', `cannot export pod ${pod.uuid}: its image ${a.image.id} is no longer in the store`);
  }
  const options = await readPodOptions(pod.dir);
  const { buildAci } = await import('../image/aci-build.js');
  const { overlayUpperDir, appRootfs } = await import('../pod/layout.js');
  const { imageLowerDirs } = await import('../store/oci-lowers.js');
  const work = await fs.mkdtemp(path.join(pod.dir, '.export-'));
  try {
    await fs.copyFile(path.join(tree, 'manifest'), path.join(work, 'manifest'));
    await fs.mkdir(path.join(work, 'rootfs'));
    const rootfsMount = options.noOverlay
      ? { kind: 'bind' as const, layers: [appRootfs(pod.dir, a.name)] }
      : { kind: 'overlay' as const, layers: [overlayUpperDir(pod.dir, a.name), ...(imageLowerDirs(store.layout, a.image.id) ?? [path.join(tree, 'rootfs')])] };
    const info = await buildAci(work, out, 'none', { rootfsMount });
    return info.imageId;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
