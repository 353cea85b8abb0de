/**
 * Where a pod reaches the metadata service, decided from its network plan before the pod exists (the apps'
 * AC_METADATA_URL is written into their units at prepare time). Pure.
 */
import { UsageError } from '../common/errors.js';
import type { NetworkPlan } from '../net/networks.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first host address of an IPv4 CIDR (`172.16.28.0/24` → `172.16.28.1`), as host-local's default gateway. */
export function firstHost(cidr: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (m === null) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits > 30) return undefined;
  const n = octets.reduce((a, o) => a * 256 + o, 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const host = ((n & mask) >>> 0) + 1;
  return [24, 16, 8, 0].map((s) => (host >>> s) & 255).join('.');
}

/** The gateway a CNI plugin configuration's IPAM gives its network's host side: explicit, or the subnet's first address. */
function ipamGateway(plugin: Record<string, unknown>): string | undefined {
  const ipam = plugin['ipam'];
  if (!isObject(ipam)) return undefined;
  const ranges = ipam['ranges'];
  const first = Array.isArray(ranges) && Array.isArray(ranges[0]) && isObject(ranges[0][0]) ? ranges[0][0] : ipam;
  if (typeof first['gateway'] === 'string') return first['gateway'];
  return typeof first['subnet'] === 'string' ? firstHost(first['subnet']) : undefined;
}

/**
 * The address the pod's apps reach the service on: loopback for a pod on the host's network; for a pod with
 * networks of its own, the host side of its first network (its IPAM gateway). `none` cannot reach the host:
 * a usage error, as is a network whose host side cannot be told from its configuration.
 */
export function metadataAddress(plan: NetworkPlan): string {
  if (plan.kind === 'host') return '127.0.0.1';
  if (plan.kind === 'none') {
    throw new UsageError('--mds-register needs a network that reaches the host: --net=none has only its own loopback', { hint: 'use --net=host, default or default-restricted' });
  }
  const net = plan.networks[0];
  const gateway = net === undefined ? undefined : net.conf.plugins.map((p) => ipamGateway(p)).find((g) => g !== undefined);
  if (net === undefined || gateway === undefined) {
    throw new UsageError(`--mds-register: cannot tell the host side of network ${net?.name ?? '(none)'} from its configuration`, {
      hint: 'give its IPAM a subnet (host-local ranges) or a gateway, or run the pod with --net=host',
    });
  }
  return gateway;
}

/** The AC_METADATA_URL of a pod: `http://<address>:<port>/<token>`. */
export function metadataUrl(address: string, port: number, token: string): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}/${token}`;
}
