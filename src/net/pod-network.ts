/**
 * Setting up and tearing down a pod's networks: its namespace (`<pod>/netns`), one CNI ADD per planned network,
 * the record in `<pod>/net-info.json`; and the reverse. Runs in the caller's network namespace, which is the
 * host side of every network.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { trace } from '../common/trace.js';
import { addNetwork, delNetwork, DEFAULT_CNI_PATH, findPlugin, type CniRuntime } from './cni-exec.js';
import { NET_INFO_FILE, NETNS_FILE, netInfoText, readNetInfo, resultIp, type NetInfo, type NetInfoEntry } from './net-info.js';
import type { NetworkPlan } from './networks.js';
import { createNetns, isNetnsMounted, removeNetns } from './netns.js';
import { checkPortsFree } from './ports.js';

export interface NetOptions {
  /** Directories searched for plugins (default /usr/lib/cni). */
  readonly cniPath?: readonly string[];
  /** `<dir>/pods`: refuse host ports another pod there forwards (checkPortsFree) before making anything. */
  readonly podsRoot?: string;
}

/** The pod's network namespace file (what nspawn's `--network-namespace-path=` gets). */
export function podNetnsPath(podDir: string): string {
  return path.join(podDir, NETNS_FILE);
}

export { readNetInfo } from './net-info.js';

function runtimeFor(uuid: string, netns: string, e: NetInfoEntry, cniPath: readonly string[]): CniRuntime {
  return {
    containerId: uuid, netns, ifName: e.ifName, args: e.args, cniPath,
    ...(e.portMappings.length > 0 ? { capabilities: { portMappings: e.portMappings } } : {}),
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Give pod `uuid` (directory `podDir`) the networks of `plan`: for `host` nothing; otherwise a namespace at
 * `<pod>/netns` with loopback up and, for `cni`, one ADD per network in order (`CNI_IFNAME` eth0, eth1, …;
 * `CNI_CONTAINERID` the uuid). Every plugin is looked up, and with `podsRoot` the forwarded host ports
 * checked, before anything is made. net-info.json is written
 * before the first ADD (so that a teardown after a crash finds the networks) and again with the results.
 * On failure every network is DELeted again, the namespace removed and net-info.json deleted, and the
 * error (the plugin's own message in an `ECNI` RktError) is thrown. Returns what it wrote.
 */
export async function setUpPodNetwork(podDir: string, uuid: string, plan: NetworkPlan, opts: NetOptions = {}): Promise<NetInfo | undefined> {
  if (plan.kind === 'host') return undefined;
  const cniPath = opts.cniPath ?? DEFAULT_CNI_PATH;
  const networks = plan.kind === 'cni' ? plan.networks : [];
  const pluginPaths: string[] = [];
  for (const n of networks) {
    const paths = await Promise.all(n.conf.plugins.map((p) => findPlugin(p.type, cniPath)));
    pluginPaths.push(paths[0] ?? '');
  }
  const entries: NetInfoEntry[] = networks.map((n, i) => ({
    netName: n.name, netConf: n.netConf, pluginPath: pluginPaths[i] ?? '', ifName: n.ifName, ip: '', args: n.args,
    conf: n.conf, portMappings: n.portMappings,
  }));
  const portMappings = networks.flatMap((n) => n.portMappings);
  if (opts.podsRoot !== undefined) await checkPortsFree(opts.podsRoot, portMappings, uuid);
  const infoFile = path.join(podDir, NET_INFO_FILE);
  const netns = podNetnsPath(podDir);
  await createNetns(netns);
  trace('network namespace made');
  let done = 0;
  try {
    if (entries.length > 0) {
      await writeFileAtomic(infoFile, netInfoText({ version: 1, containerId: uuid, complete: false, tornDown: false, networks: entries, portMappings }), 0o644, false);
    }
    for (; done < entries.length; done++) {
      const e = entries[done];
      if (e === undefined) break;
      const result = await addNetwork(e.conf, runtimeFor(uuid, netns, e, cniPath)) as Record<string, unknown>;
      entries[done] = { ...e, ip: resultIp(result), result };
      trace(`network ${e.netName} added`);
    }
    const info: NetInfo = { version: 1, containerId: uuid, complete: true, tornDown: false, networks: entries, portMappings };
    await writeFileAtomic(infoFile, netInfoText(info));
    return info;
  } catch (err) {
    // The network that failed may have been half made by the plugins before the failing one: DEL it too.
    for (let i = Math.min(done, entries.length - 1); i >= 0; i--) {
      const e = entries[i];
      if (e === undefined) continue;
      try {
        await delNetwork(e.conf, runtimeFor(uuid, netns, e, cniPath), e.result);
      } catch (delErr) {
        trace(`undoing network ${e.netName} after a failed setup: ${message(delErr)}, ignoring`);
      }
    }
    try {
      await removeNetns(netns);
    } catch (nsErr) {
      trace(`removing ${netns} after a failed setup: ${message(nsErr)}, ignoring`);
    }
    await fs.rm(infoFile, { force: true });
    throw err;
  }
}

/**
 * Undo setUpPodNetwork for the pod in `podDir` (its processes may be gone or not): DEL every network of
 * net-info.json in reverse order, then unmount and remove the namespace file. Best-effort per step (a failed
 * step is traced "…, ignoring" and returned); idempotent. When every step succeeded net-info.json is marked
 * torn down (and kept: status still shows the networks). Returns the failures.
 */
export async function tearDownPodNetwork(podDir: string, opts: NetOptions = {}): Promise<string[]> {
  const uuid = path.basename(podDir);
  const cniPath = opts.cniPath ?? DEFAULT_CNI_PATH;
  const failures: string[] = [];
  const netnsFile = podNetnsPath(podDir);
  let info: NetInfo | undefined;
  try {
    info = await readNetInfo(podDir);
  } catch (err) {
    failures.push(message(err));
    trace(`reading the networks of pod ${uuid}: ${message(err)}, ignoring`);
  }
  if (info !== undefined && !info.tornDown) {
    // A namespace that is gone (a reboot): DEL with an empty CNI_NETNS still releases addresses and rules.
    const netns = (await isNetnsMounted(netnsFile)) ? netnsFile : '';
    for (const e of [...info.networks].reverse()) {
      try {
        await delNetwork(e.conf, runtimeFor(info.containerId, netns, e, cniPath), e.result);
      } catch (err) {
        failures.push(message(err));
        trace(`removing network ${e.netName} of pod ${uuid}: ${message(err)}, ignoring`);
      }
    }
  }
  try {
    await removeNetns(netnsFile);
  } catch (err) {
    failures.push(message(err));
    trace(`removing the network namespace of pod ${uuid}: ${message(err)}, ignoring`);
  }
  if (info !== undefined && !info.tornDown && failures.length === 0) {
    try {
      await writeFileAtomic(path.join(podDir, NET_INFO_FILE), netInfoText({ ...info, tornDown: true }));
    } catch (err) {
      failures.push(message(err));
      trace(`marking the networks of pod ${uuid} torn down: ${message(err)}, ignoring`);
    }
  }
  return failures;
}
