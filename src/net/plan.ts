/**
 * The whole plan of a pod's networking from its flags, in one call, for stage0: `--net`, `--port` against the
 * images' ports, net.d. And the pure pieces stage0 needs around it: nspawn's argument, the DNS/hosts files.
 */
import type { Port } from '../image/manifest.js';
import { type CniDns, hostsText, resolvConfText } from './dns.js';
import { parseDnsFlags, parseHostsEntryFlags, parseNetFlags, parsePortFlag, type DnsFlagValues } from './flags.js';
import type { NetInfo } from './net-info.js';
import { loadNetworks } from './netd.js';
import { planNetworks, type NetworkPlan } from './networks.js';
import { podNetnsPath } from './pod-network.js';
import { mapPorts } from './ports.js';

export interface PodNetworkRequest {
  /** The `--net` values as given (none: `default`). */
  readonly net: readonly string[];
  /** The `--port` values as given. */
  readonly ports: readonly string[];
  /** Every app's declared ports (image manifest `app.ports`). */
  readonly imagePorts: readonly Port[];
  readonly localConfig: string;
  readonly systemConfig: string;
  /** host-local's lease directory for the built-in networks (default /var/lib/cni/networks). */
  readonly ipamDataDir?: string;
}

/**
 * Parse the flags, load net.d and plan the pod's networks. Throws UsageError for a bad flag value, an
 * RktError for a bad net.d file or an unknown network. The plan is plain JSON data: it may be saved with the
 * pod and used later (run-prepared).
 */
export async function planPodNetwork(r: PodNetworkRequest): Promise<NetworkPlan> {
  const selection = parseNetFlags(r.net);
  const mappings = mapPorts(r.ports.map(parsePortFlag), r.imagePorts);
  const opts = { ports: mappings, ...(r.ipamDataDir === undefined ? {} : { ipamDataDir: r.ipamDataDir }) };
  if (selection.kind !== 'cni') return planNetworks(selection, { networks: [], dirs: [] }, opts);
  return planNetworks(selection, await loadNetworks(r.localConfig, r.systemConfig), opts);
}

/** nspawn's network arguments for a plan: none for `host`, else the pod's namespace file. */
export function nspawnNetworkArgs(plan: NetworkPlan, podDir: string): string[] {
  return plan.kind === 'host' ? [] : [`--network-namespace-path=${podNetnsPath(podDir)}`];
}

export interface DnsFiles {
  /** Each app's /etc/resolv.conf, or undefined: write none (keep the image's). */
  readonly resolvConf: string | undefined;
  /** Each app's /etc/hosts, or undefined: write none (keep the image's; see defaultHostsText). */
  readonly hosts: string | undefined;
}

/**
 * The resolv.conf and hosts every app gets, from the `--dns*` and `--hosts-entry` values, the pod's CNI
 * results and the host's own files (their text, undefined where the host has none).
 */
export function dnsFiles(flags: DnsFlagValues & { readonly hostsEntry?: readonly string[] }, info: NetInfo | undefined, host: { readonly resolvConf?: string; readonly hosts?: string }): DnsFiles {
  const cniDns = (info?.networks ?? []).map((n) => n.result?.['dns'] as CniDns | undefined);
  return {
    resolvConf: resolvConfText(parseDnsFlags(flags), cniDns, host.resolvConf),
    hosts: hostsText(parseHostsEntryFlags(flags.hostsEntry ?? []), host.hosts),
  };
}
