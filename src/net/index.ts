/**
 * The pod networking API (see README.md): parse the flags, plan the networks, set them up before stage1
 * starts, tear them down when the pod ends or in gc, and render resolv.conf and hosts.
 */
export {
  parseNetFlags, parsePortFlag, parseDnsFlags, parseHostsEntryFlags, cniArgsString, isNetName, BUILT_IN_NETWORKS,
  type NetSelection, type NetRequest, type PortRequest, type DnsConfig, type DnsFlagValues, type HostsConfig,
} from './flags.js';
export {
  planNetworks, builtInNetworks, parseNetConf, BUILT_IN_CONF, PORTMAP_PLUGIN,
  type NetworkPlan, type PlannedNetwork, type NetworkDef, type NetConfList, type LoadedNetworks, type PlanOptions,
} from './networks.js';
export { loadNetworks } from './netd.js';
export { mapPorts, checkPortsFree, type PortMapping } from './ports.js';
export { resolvConfText, hostsText, defaultHostsText, type CniDns } from './dns.js';
export { NET_INFO_FILE, NETNS_FILE, networksText, networksJson, type NetInfo, type NetInfoEntry } from './net-info.js';
export { setUpPodNetwork, tearDownPodNetwork, readNetInfo, podNetnsPath, type NetOptions } from './pod-network.js';
export { DEFAULT_CNI_PATH } from './cni-exec.js';
export { planPodNetwork, nspawnNetworkArgs, dnsFiles, type PodNetworkRequest, type DnsFiles } from './plan.js';
