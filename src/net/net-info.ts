/**
 * `<pod>/net-info.json`: what a pod's networks are, for status/list, for teardown and for the port check.
 * Pure (text ↔ data, what status and list print) but for `readNetInfo`; written by pod-network.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RktError, isErrno } from '../common/errors.js';
import type { NetConfList } from './networks.js';
import type { PortMapping } from './ports.js';

export const NET_INFO_FILE = 'net-info.json';
/** The pod's network namespace: a bind mount of the namespace onto this file in the pod directory. */
export const NETNS_FILE = 'netns';

/** One network of a pod. The first six names are the ones schedulers read from `rkt status --format=json`. */
export interface NetInfoEntry {
  readonly netName: string;
  /** The net.d file, or "(built-in)". */
  readonly netConf: string;
  /** The first plugin's binary. */
  readonly pluginPath: string;
  readonly ifName: string;
  /** The pod's first address on it, without prefix length ("" until ADD has succeeded). */
  readonly ip: string;
  /** `CNI_ARGS`. */
  readonly args: string;
  /** The configuration list ADD ran (teardown runs DEL with the same). */
  readonly conf: NetConfList;
  readonly portMappings: readonly PortMapping[];
  /** The last plugin's result, as it printed it (ips, routes, interfaces, dns); absent until ADD succeeded. */
  readonly result?: Readonly<Record<string, unknown>>;
}

export interface NetInfo {
  readonly version: 1;
  /** `CNI_CONTAINERID` of every network (the pod's UUID). */
  readonly containerId: string;
  /** False while ADDs are running (the file is written before the first one so that teardown finds them). */
  readonly complete: boolean;
  /** True once every DEL succeeded and the namespace is gone. */
  readonly tornDown: boolean;
  readonly networks: readonly NetInfoEntry[];
  /** Every forwarded port, of all networks. */
  readonly portMappings: readonly PortMapping[];
}

/** The JSON text of `info`. */
export function netInfoText(info: NetInfo): string {
  return `${JSON.stringify(info, null, 2)}\n`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parse a net-info.json text; undefined for an empty file (not yet written). Anything else unreadable is an
 * `ENETINFO` RktError naming the file.
 */
export function parseNetInfo(file: string, text: string): NetInfo | undefined {
  if (text.trim() === '') return undefined;
  const bad = (why: string) => new RktError('ENETINFO', `bad ${file}: ${why}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isObject(json) || json['version'] !== 1 || !Array.isArray(json['networks'])) throw bad('not a version 1 net-info file');
  const containerId = json['containerId'];
  if (typeof containerId !== 'string') throw bad('containerId is not a string');
  const networks = json['networks'].map((n: unknown, i): NetInfoEntry => {
    if (!isObject(n)) throw bad(`networks[${i}] is not an object`);
    for (const k of ['netName', 'netConf', 'pluginPath', 'ifName', 'ip', 'args']) {
      if (typeof n[k] !== 'string') throw bad(`networks[${i}].${k} is not a string`);
    }
    const conf = n['conf'];
    if (!isObject(conf) || typeof conf['name'] !== 'string' || typeof conf['cniVersion'] !== 'string' || !Array.isArray(conf['plugins'])) {
      throw bad(`networks[${i}].conf is not a configuration list`);
    }
    return n as unknown as NetInfoEntry;
  });
  const ports = Array.isArray(json['portMappings']) ? (json['portMappings'] as PortMapping[]) : [];
  return { version: 1, containerId, complete: json['complete'] === true, tornDown: json['tornDown'] === true, networks, portMappings: ports };
}

/** The first IPv4 (else any) address of a CNI result (1.0/0.4/0.3 `ips[]`, or 0.2/0.1 `ip4.ip`), without prefix. */
export function resultIp(result: unknown): string {
  if (!isObject(result)) return '';
  const ips = result['ips'];
  if (Array.isArray(ips)) {
    const addrs = ips.filter(isObject).map((e) => e['address']).filter((a): a is string => typeof a === 'string').map((a) => a.split('/')[0] ?? '');
    return addrs.find((a) => !a.includes(':')) ?? addrs[0] ?? '';
  }
  for (const k of ['ip4', 'ip6']) {
    const v = result[k];
    if (isObject(v) && typeof v['ip'] === 'string') return v['ip'].split('/')[0] ?? '';
  }
  return '';
}

/**
 * The pod's net-info.json, or undefined if it has none (a `--net=host` or `none` pod, or networking not set
 * up yet). A damaged file is an `ENETINFO` RktError.
 */
export async function readNetInfo(podDir: string): Promise<NetInfo | undefined> {
  const file = path.join(podDir, NET_INFO_FILE);
  try {
    // (Synchronous: the first use of fs.promises loads ten of Node's modules, ≈ 4 ms of a `rkt status`.)
    return parseNetInfo(file, readFileSync(file, 'utf8'));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** What `rkt list` and `rkt status` print of a pod's networks: `default:ip4=172.16.28.5,other:ip4=…`. */
export function networksText(info: NetInfo | undefined): string {
  return (info?.networks ?? []).filter((n) => n.ip !== '').map((n) => `${n.netName}:${n.ip.includes(':') ? 'ip6' : 'ip4'}=${n.ip}`).join(',');
}

/** The `networks` of `rkt status/list --format=json`, with the names schedulers read. */
export function networksJson(info: NetInfo | undefined): { netName: string; netConf: string; pluginPath: string; ifName: string; ip: string; args: string }[] {
  return (info?.networks ?? []).map((n) => ({ netName: n.netName, netConf: n.netConf, pluginPath: n.pluginPath, ifName: n.ifName, ip: n.ip, args: n.args }));
}
