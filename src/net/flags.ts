/**
 * The command-line values of pod networking: `--net`, `--port`, `--dns*` and `--hosts-entry`, parsed into
 * data. Pure: every bad value is a UsageError (exit 2) that names it.
 */
import { isIP } from '../common/ip.js';
import { UsageError } from '../common/errors.js';

/** One requested network and its per-network arguments (`CNI_ARGS` pairs, in the order given). */
export interface NetRequest {
  readonly name: string;
  readonly args: readonly (readonly [string, string])[];
}

/** What `--net` asks for. `cni` networks are listed in the order given; `all` means every net.d network. */
export type NetSelection =
  | { readonly kind: 'host' }
  | { readonly kind: 'none' }
  | { readonly kind: 'cni'; readonly all: boolean; readonly networks: readonly NetRequest[] };

/** The network names `--net` knows without a net.d file. */
export const BUILT_IN_NETWORKS = ['default', 'default-restricted'] as const;

/** CNI's rule for a network name. */
const NET_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** True if `name` is a valid CNI network name. */
export function isNetName(name: string): boolean {
  return NET_NAME.test(name);
}

/**
 * Parse the values of `--net` (the flag may be repeated; each value is a comma list of `host`, `none`, `all`,
 * `default`, `default-restricted` or a net.d network name, each name optionally followed by
 * `:K=V;K=V` arguments). No values means `default`. `host` and `none` stand alone; `all` takes no arguments
 * and is not combined with names; a network may be named once.
 */
export function parseNetFlags(values: readonly string[]): NetSelection {
  if (values.length === 0) return { kind: 'cni', all: false, networks: [{ name: 'default', args: [] }] };
  const items: string[] = [];
  for (const value of values) {
    for (const item of value.split(',')) {
      if (item.trim() === '') throw new UsageError(`bad --net value "${value}": empty network name`);
      items.push(item.trim());
    }
  }
  const networks: NetRequest[] = [];
  let all = false;
  let special: 'host' | 'none' | undefined;
  for (const item of items) {
    const colon = item.indexOf(':');
    const name = colon < 0 ? item : item.slice(0, colon);
    const argText = colon < 0 ? undefined : item.slice(colon + 1);
    if (name === 'host' || name === 'none') {
      if (argText !== undefined) throw new UsageError(`bad --net value "${item}": --net=${name} takes no arguments`);
      if (items.length > 1) {
        throw new UsageError(`bad --net value "${items.join(',')}": "${name}" cannot be combined with other networks`);
      }
      special = name;
      continue;
    }
    if (name === 'all') {
      if (argText !== undefined) throw new UsageError(`bad --net value "${item}": "all" takes no arguments`);
      if (items.length > 1) {
        throw new UsageError(`bad --net value "${items.join(',')}": "all" cannot be combined with other networks`);
      }
      all = true;
      continue;
    }
    if (!isNetName(name)) {
      throw new UsageError(`bad --net value "${item}": "${name}" is not a network name (letters, digits, "_", "." and "-")`);
    }
    if (networks.some((n) => n.name === name)) throw new UsageError(`bad --net value "${items.join(',')}": network "${name}" is given twice`);
    networks.push({ name, args: argText === undefined ? [] : parseNetArgs(item, argText) });
  }
  if (special !== undefined) return { kind: special };
  return { kind: 'cni', all, networks };
}

function parseNetArgs(item: string, text: string): (readonly [string, string])[] {
  const out: (readonly [string, string])[] = [];
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq);
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new UsageError(`bad --net value "${item}": "${pair}" is not an argument of the form KEY=VALUE`);
    }
    const val = pair.slice(eq + 1);
    if (key === 'IP' && isIP(val) === 0) throw new UsageError(`bad --net value "${item}": "${val}" is not an IP address`);
    out.push([key, val]);
  }
  if (out.length === 0) throw new UsageError(`bad --net value "${item}": no arguments after ":"`);
  return out;
}

/**
 * The `CNI_ARGS` string for a network's arguments: `IgnoreUnknown=1;K=V;…` (Debian's plugins refuse a key they
 * do not know, such as `IP` for ptp, unless told to ignore it), or "" when there are none.
 */
export function cniArgsString(args: readonly (readonly [string, string])[]): string {
  if (args.length === 0) return '';
  const pairs = args.some(([k]) => k === 'IgnoreUnknown') ? args : [['IgnoreUnknown', '1'] as const, ...args];
  return pairs.map(([k, v]) => `${k}=${v}`).join(';');
}

/** One `--port=NAME:[HOSTIP:]HOSTPORT`. */
export interface PortRequest {
  readonly name: string;
  readonly hostIP?: string;
  readonly hostPort: number;
}

const AC_NAME = /^[a-z0-9]+(?:[-./][a-z0-9]+)*$/;

/** Parse one `--port` value: `NAME:HOSTPORT` or `NAME:HOSTIP:HOSTPORT` (IPv4 host address). */
export function parsePortFlag(value: string): PortRequest {
  const parts = value.split(':');
  const bad = (why: string) => new UsageError(`bad --port value "${value}": ${why}`, { hint: 'the form is --port=NAME:[HOSTIP:]HOSTPORT, NAME a port of the image' });
  if (parts.length < 2 || parts.length > 3) throw bad('want NAME:[HOSTIP:]HOSTPORT');
  const name = parts[0] ?? '';
  if (!AC_NAME.test(name)) throw bad(`"${name}" is not a port name`);
  const portText = parts[parts.length - 1] ?? '';
  const hostPort = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(hostPort >= 1 && hostPort <= 65535)) throw bad(`"${portText}" is not a port number (1-65535)`);
  if (parts.length === 3) {
    const hostIP = parts[1] ?? '';
    if (isIP(hostIP) !== 4) throw bad(`"${hostIP}" is not an IPv4 address`);
    return { name, hostIP, hostPort };
  }
  return { name, hostPort };
}

/** What a pod's `/etc/resolv.conf` should be. */
export type DnsConfig =
  /** No `--dns`: the DNS of the CNI results, with any `--dns-search/opt/domain` taking their place. */
  | { readonly mode: 'default'; readonly search?: readonly string[]; readonly options?: readonly string[]; readonly domain?: string }
  /** `--dns=IP…`: these servers. */
  | { readonly mode: 'servers'; readonly servers: readonly string[]; readonly search?: readonly string[]; readonly options?: readonly string[]; readonly domain?: string }
  /** `--dns=host`: the host's own resolv.conf. */
  | { readonly mode: 'host' }
  /** `--dns=none`: rkt writes nothing (an image's own file stays). */
  | { readonly mode: 'none' };

export interface DnsFlagValues {
  readonly dns?: readonly string[];
  readonly dnsSearch?: readonly string[];
  readonly dnsOpt?: readonly string[];
  readonly dnsDomain?: string;
}

const DOMAIN = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * Parse `--dns` (repeatable, comma lists: IP addresses, or `host`, or `none`), `--dns-search`, `--dns-opt`
 * (repeatable) and `--dns-domain`. `host` and `none` stand alone and take no search/options/domain.
 */
export function parseDnsFlags(v: DnsFlagValues): DnsConfig {
  const dns = (v.dns ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const search = (v.dnsSearch ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const options = (v.dnsOpt ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const domain = v.dnsDomain?.trim();
  for (const s of search) if (!DOMAIN.test(s)) throw new UsageError(`bad --dns-search value "${s}": not a domain name`);
  for (const o of options) if (!/^[a-z][a-z0-9-]*(?::\d+)?$/.test(o)) throw new UsageError(`bad --dns-opt value "${o}": want an option such as ndots:2 or rotate`);
  if (domain !== undefined && domain !== '' && !DOMAIN.test(domain)) throw new UsageError(`bad --dns-domain value "${domain}": not a domain name`);
  const extras = {
    ...(search.length > 0 ? { search } : {}),
    ...(options.length > 0 ? { options } : {}),
    ...(domain !== undefined && domain !== '' ? { domain } : {}),
  };
  const hasExtras = Object.keys(extras).length > 0;
  for (const word of ['host', 'none'] as const) {
    if (!dns.includes(word)) continue;
    if (dns.length > 1) throw new UsageError(`bad --dns value "${dns.join(',')}": "${word}" cannot be combined with other servers`);
    if (hasExtras) throw new UsageError(`--dns=${word} cannot be combined with --dns-search, --dns-opt or --dns-domain`);
    return { mode: word };
  }
  for (const s of dns) if (isIP(s) === 0) throw new UsageError(`bad --dns value "${s}": want an IP address, "host" or "none"`);
  if (dns.length === 0) return { mode: 'default', ...extras };
  return { mode: 'servers', servers: dns, ...extras };
}

/** What a pod's `/etc/hosts` should be. */
export interface HostsConfig {
  /** `--hosts-entry=host`: start from the host's /etc/hosts. */
  readonly host: boolean;
  readonly entries: readonly { readonly ip: string; readonly hostname: string }[];
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parse `--hosts-entry` values (repeatable): `IP=HOSTNAME` or `host`. */
export function parseHostsEntryFlags(values: readonly string[]): HostsConfig {
  let host = false;
  const entries: { ip: string; hostname: string }[] = [];
  for (const value of values) {
    if (value === 'host') { host = true; continue; }
    const eq = value.indexOf('=');
    const ip = eq < 0 ? '' : value.slice(0, eq);
    const hostname = eq < 0 ? '' : value.slice(eq + 1);
    if (eq < 0) throw new UsageError(`bad --hosts-entry value "${value}": want IP=HOSTNAME or "host"`);
    if (isIP(ip) === 0) throw new UsageError(`bad --hosts-entry value "${value}": "${ip}" is not an IP address`);
    if (!HOSTNAME.test(hostname)) throw new UsageError(`bad --hosts-entry value "${value}": "${hostname}" is not a host name`);
    entries.push({ ip, hostname });
  }
  return { host, entries };
}
