/**
 * Port forwarding: `--port` requests matched against the ports an image declares (pure), and the check that
 * no other pod already forwards the same host port (reads other pods' net-info.json).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RktError, UsageError, isErrno } from '../common/errors.js';
import type { Port } from '../image/manifest.js';
import type { PortRequest } from './flags.js';
import { NET_INFO_FILE, parseNetInfo } from './net-info.js';

/** One forwarded port range, in the form of CNI's `portMappings` capability (one entry per port). */
export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp';
  /** Only on this host address; absent: every address. */
  readonly hostIP?: string;
}

function describePort(p: Port): string {
  return p.count > 1 ? `${p.name} (${p.protocol} ${p.port}-${p.port + p.count - 1})` : `${p.name} (${p.protocol} ${p.port})`;
}

/**
 * The mappings for `requests` against the ports the pod's images declare (`ports`: every app's). A port that
 * declares `count` N forwards N consecutive host ports. An unknown name is a UsageError listing the image's
 * ports; two requests for one host port are a UsageError.
 */
export function mapPorts(requests: readonly PortRequest[], ports: readonly Port[]): PortMapping[] {
  const out: PortMapping[] = [];
  for (const r of requests) {
    const p = ports.find((q) => q.name === r.name);
    if (p === undefined) {
      const have = ports.length > 0 ? `the image's ports are ${ports.map(describePort).join(', ')}` : 'the image declares no ports';
      throw new UsageError(`bad --port value "${r.name}:${r.hostIP === undefined ? '' : `${r.hostIP}:`}${r.hostPort}": no port named "${r.name}": ${have}`);
    }
    if (r.hostPort + p.count - 1 > 65535) throw new UsageError(`bad --port value for "${r.name}": ${p.count} ports from ${r.hostPort} go past port 65535`);
    for (let i = 0; i < p.count; i++) {
      const m: PortMapping = { hostPort: r.hostPort + i, containerPort: p.port + i, protocol: p.protocol, ...(r.hostIP === undefined ? {} : { hostIP: r.hostIP }) };
      const clash = out.find((o) => overlaps(o, m));
      if (clash !== undefined) throw new UsageError(`--port: host port ${m.hostPort}/${m.protocol} is given twice`);
      out.push(m);
    }
  }
  return out;
}

/** True if the two mappings claim the same host port (same protocol, and one address covers the other). */
export function overlaps(a: PortMapping, b: PortMapping): boolean {
  if (a.hostPort !== b.hostPort || a.protocol !== b.protocol) return false;
  const any = (ip: string | undefined) => ip === undefined || ip === '0.0.0.0' || ip === '';
  return any(a.hostIP) || any(b.hostIP) || a.hostIP === b.hostIP;
}

/**
 * Refuse `mappings` that another running-state pod already forwards: reads `<podsRoot>/run/<uuid>/net-info.json`
 * of every pod but `selfUuid` (skipping torn-down networks), and throws `EPORTINUSE` naming the pod.
 */
export async function checkPortsFree(podsRoot: string, mappings: readonly PortMapping[], selfUuid?: string): Promise<void> {
  if (mappings.length === 0) return;
  const runDir = path.join(podsRoot, 'run');
  let uuids: string[];
  try {
    uuids = await fs.readdir(runDir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  for (const uuid of uuids.sort()) {
    if (uuid === selfUuid) continue;
    const file = path.join(runDir, uuid, NET_INFO_FILE);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
      throw err;
    }
    const info = parseNetInfo(file, text);
    if (info === undefined || info.tornDown) continue;
    for (const theirs of info.portMappings) {
      const mine = mappings.find((m) => overlaps(m, theirs));
      if (mine !== undefined) {
        throw new RktError('EPORTINUSE', `host port ${mine.hostPort}/${mine.protocol} is already forwarded by pod ${uuid}`, {
          hint: `stop or garbage-collect pod ${uuid}, or choose another host port`,
        });
      }
    }
  }
}
