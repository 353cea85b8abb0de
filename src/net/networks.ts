/**
 * CNI network configurations: validation of net.d files, the built-in `default` and `default-restricted`
 * networks, and the plan of a pod's networks from `--net`, the loaded configurations and `--port`. Pure.
 */
import { RktError, UsageError } from '../common/errors.js';
import { cniArgsString, isNetName, type NetSelection } from './flags.js';
import type { PortMapping } from './ports.js';

/** A plugin's configuration object, as JSON (its `type` names the plugin binary). */
export type PluginConf = { readonly type: string } & { readonly [key: string]: unknown };

/** A network as a CNI configuration list (a `.conf` file is read as a list of one plugin). */
export interface NetConfList {
  readonly cniVersion: string;
  readonly name: string;
  readonly plugins: readonly PluginConf[];
}

/** A network that `--net` can name. */
export interface NetworkDef {
  readonly name: string;
  /** The net.d file it came from; undefined for a built-in network. */
  readonly file: string | undefined;
  readonly conf: NetConfList;
}

/** What `net.d` held: networks in lexical order of their file names, and the directories searched. */
export interface LoadedNetworks {
  readonly networks: readonly NetworkDef[];
  readonly dirs: readonly string[];
}

/** The CNI versions the configuration may declare (Debian's plugins speak all of them). */
export const CNI_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;

/** The `netConf` recorded for a built-in network. */
export const BUILT_IN_CONF = '(built-in)';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parse and check one net.d file's text: a `.conf` (one plugin: `name`, `type`, `cniVersion`) or a
 * `.conflist` (`name`, `cniVersion`, a non-empty `plugins` list each with a `type`). A bad file is an
 * `ENETCONF` RktError naming it.
 */
export function parseNetConf(file: string, text: string): NetworkDef {
  const bad = (why: string) => new RktError('ENETCONF', `bad network configuration ${file}: ${why}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isObject(json)) throw bad('not a JSON object');
  const name = json['name'];
  if (typeof name !== 'string' || !isNetName(name)) throw bad('"name" must be a network name (letters, digits, "_", "." and "-")');
  if (name === 'host' || name === 'none' || name === 'all' || name === 'default-restricted') throw bad(`"${name}" is a reserved network name`);
  const version = json['cniVersion'];
  if (typeof version !== 'string') throw bad('"cniVersion" is missing');
  if (!(CNI_VERSIONS as readonly string[]).includes(version)) throw bad(`"cniVersion" ${version} is not one of ${CNI_VERSIONS.join(', ')}`);
  const checkType = (p: Record<string, unknown>, at: string): PluginConf => {
    const type = p['type'];
    if (typeof type !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(type)) throw bad(`${at}"type" must name a plugin`);
    return p as PluginConf;
  };
  if (file.endsWith('.conflist')) {
    const plugins = json['plugins'];
    if (!Array.isArray(plugins) || plugins.length === 0) throw bad('"plugins" must be a non-empty list');
    const list = plugins.map((p: unknown, i) => {
      if (!isObject(p)) throw bad(`plugins[${i}] is not an object`);
      return checkType(p, `plugins[${i}]: `);
    });
    return { name, file, conf: { cniVersion: version, name, plugins: list } };
  }
  const { name: _n, cniVersion: _v, ...plugin } = json;
  return { name, file, conf: { cniVersion: version, name, plugins: [checkType(plugin, '')] } };
}

/** Options of the built-in networks. */
export interface BuiltInOptions {
  /** host-local's lease directory (default: the plugin's own, /var/lib/cni/networks). */
  readonly ipamDataDir?: string;
}

/**
 * The built-in networks. `default`: ptp + host-local on 172.16.28.0/24, masquerade, a default route through
 * the host side. `default-restricted`: ptp + host-local on 172.31.0.0/16, no masquerade, no routes but the
 * host side's own address.
 */
export function builtInNetworks(opts: BuiltInOptions = {}): { readonly default: NetworkDef; readonly 'default-restricted': NetworkDef } {
  const dataDir = opts.ipamDataDir === undefined ? {} : { dataDir: opts.ipamDataDir };
  const net = (name: string, subnet: string, ipMasq: boolean, routes: readonly object[]): NetworkDef => ({
    name,
    file: undefined,
    conf: {
      cniVersion: '1.0.0',
      name,
      plugins: [{ type: 'ptp', ipMasq, ipam: { type: 'host-local', ...dataDir, ranges: [[{ subnet }]], routes } }],
    },
  });
  return {
    default: net('default', '172.16.28.0/24', true, [{ dst: '0.0.0.0/0' }]),
    'default-restricted': net('default-restricted', '172.31.0.0/16', false, []),
  };
}

/** One network of a pod, as it will be set up. */
export interface PlannedNetwork {
  readonly name: string;
  /** The net.d file, or BUILT_IN_CONF. */
  readonly netConf: string;
  /** The configuration list to run, with the port forwarding plugin chained where ports are forwarded. */
  readonly conf: NetConfList;
  /** `CNI_ARGS`. */
  readonly args: string;
  readonly ifName: string;
  /** The ports forwarded into the pod through this network (passed as `runtimeConfig.portMappings`). */
  readonly portMappings: readonly PortMapping[];
}

/** A pod's networking: the host's namespace, loopback only, or CNI networks in a namespace of its own. */
export type NetworkPlan =
  | { readonly kind: 'host' }
  | { readonly kind: 'none' }
  | { readonly kind: 'cni'; readonly networks: readonly PlannedNetwork[] };

export interface PlanOptions extends BuiltInOptions {
  /** Forwarded ports (see mapPorts); they go through the pod's first network. */
  readonly ports?: readonly PortMapping[];
}

/** The plugin chained after a network to forward `--port`s. */
export const PORTMAP_PLUGIN: PluginConf = { type: 'portmap', capabilities: { portMappings: true }, snat: true };

function withPortmap(conf: NetConfList): NetConfList {
  const has = conf.plugins.some((p) => isObject(p['capabilities']) && (p['capabilities'] as Record<string, unknown>)['portMappings'] === true);
  if (has) return conf;
  return { ...conf, plugins: [...conf.plugins, PORTMAP_PLUGIN] };
}

/**
 * The networks a pod gets for `selection`, in order, each with its interface name (eth0, eth1, …).
 * Named networks come in the order given, `all` in net.d order; a net.d network named `default` replaces
 * the built-in one; `default-restricted` is added last whenever `default` is not among them. An unknown name
 * is an `ENETUNKNOWN` RktError naming the net.d directories searched. Ports need a pod network.
 */
export function planNetworks(selection: NetSelection, loaded: LoadedNetworks, opts: PlanOptions = {}): NetworkPlan {
  const ports = opts.ports ?? [];
  if (selection.kind !== 'cni') {
    if (ports.length > 0) throw new UsageError(`--port needs a pod network, not --net=${selection.kind}`);
    return selection;
  }
  const builtIn = builtInNetworks(opts);
  const byName = new Map<string, NetworkDef>(loaded.networks.map((n) => [n.name, n]));
  const find = (name: string): NetworkDef => {
    const def = byName.get(name) ?? (name === 'default' || name === 'default-restricted' ? builtIn[name] : undefined);
    if (def !== undefined) return def;
    const known = [...loaded.networks.map((n) => n.name), 'default', 'default-restricted'];
    throw new RktError('ENETUNKNOWN', `network "${name}" not found in ${loaded.dirs.length > 0 ? loaded.dirs.join(' or ') : 'any net.d directory'}`, {
      hint: `known networks: ${[...new Set(known)].join(', ')}`,
    });
  };
  const chosen: { def: NetworkDef; args: readonly (readonly [string, string])[] }[] = selection.all
    ? loaded.networks.map((def) => ({ def, args: [] }))
    : selection.networks.map((r) => ({ def: find(r.name), args: r.args }));
  if (!chosen.some((c) => c.def.name === 'default')) {
    if (!chosen.some((c) => c.def.name === 'default-restricted')) chosen.push({ def: builtIn['default-restricted'], args: [] });
  }
  return {
    kind: 'cni',
    networks: chosen.map((c, i) => {
      const forwards = i === 0 ? ports : [];
      return {
        name: c.def.name,
        netConf: c.def.file ?? BUILT_IN_CONF,
        conf: forwards.length > 0 ? withPortmap(c.def.conf) : c.def.conf,
        args: cniArgsString(c.args),
        ifName: `eth${i}`,
        portMappings: forwards,
      };
    }),
  };
}

/**
 * What is wrong with `value` as a NetworkPlan read back from disk (a pod's options), or undefined if nothing:
 * the kind, and for `cni` each network's name, netConf, interface, args, configuration list and port mappings.
 */
export function networkPlanProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'not an object';
  const kind = value['kind'];
  if (kind === 'host' || kind === 'none') return undefined;
  if (kind !== 'cni') return `kind ${JSON.stringify(kind)} is not host, none or cni`;
  const nets = value['networks'];
  if (!Array.isArray(nets)) return '"networks" is not a list';
  for (const [i, n] of nets.entries()) {
    if (!isObject(n)) return `networks[${i}] is not an object`;
    for (const k of ['name', 'netConf', 'args', 'ifName']) if (typeof n[k] !== 'string') return `networks[${i}].${k} is not a string`;
    const conf = n['conf'];
    if (!isObject(conf) || typeof conf['name'] !== 'string' || typeof conf['cniVersion'] !== 'string' || !Array.isArray(conf['plugins'])
      || !conf['plugins'].every((p: unknown) => isObject(p) && typeof p['type'] === 'string')) {
      return `networks[${i}].conf is not a configuration list`;
    }
    if (!Array.isArray(n['portMappings'])) return `networks[${i}].portMappings is not a list`;
  }
  return undefined;
}
