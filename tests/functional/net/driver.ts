/**
 * Runs src/net in the network namespace it is started in (the tests start it with
 * `nsenter --net=/run/netns/<test netns>`, so that namespace is the pods' host side). argv[2] is a JSON
 * request, or a list of them run in order; stdout is one JSON line: the list of outcomes
 * (`{ ok: true, info }` or `{ ok: false, code, message, hint }`).
 *
 *   { "op": "setup", "podDir": "/abs", "uuid": "…", "net": ["default"], "ports": ["http:8080"],
 *     "imagePorts": [{ "name": "http", "protocol": "tcp", "port": 80, "count": 1 }],
 *     "localConfig": "/abs", "systemConfig": "/abs", "ipamDataDir": "/abs", "cniPath": ["/abs", "/usr/lib/cni"],
 *     "podsRoot": "/abs" }
 *   { "op": "teardown", "podDir": "/abs", "cniPath": [...] }
 */
import { mkdirSync } from 'node:fs';
import { RktError } from '../../../src/common/errors.js';
import { planPodNetwork, setUpPodNetwork, tearDownPodNetwork } from '../../../src/net/index.js';
import type { Port } from '../../../src/image/manifest.js';

interface Request {
  readonly op: 'setup' | 'teardown';
  readonly podDir: string;
  readonly uuid?: string;
  readonly net?: readonly string[];
  readonly ports?: readonly string[];
  readonly imagePorts?: readonly Port[];
  readonly localConfig?: string;
  readonly systemConfig?: string;
  readonly ipamDataDir?: string;
  readonly cniPath?: readonly string[];
  readonly podsRoot?: string;
}

async function one(r: Request): Promise<unknown> {
  const cni = r.cniPath === undefined ? {} : { cniPath: r.cniPath };
  try {
    if (r.op === 'teardown') return { ok: true, failures: await tearDownPodNetwork(r.podDir, cni) };
    mkdirSync(r.podDir, { recursive: true });
    const plan = await planPodNetwork({
      net: r.net ?? [], ports: r.ports ?? [], imagePorts: r.imagePorts ?? [],
      localConfig: r.localConfig ?? '/nonexistent/local', systemConfig: r.systemConfig ?? '/nonexistent/system',
      ...(r.ipamDataDir === undefined ? {} : { ipamDataDir: r.ipamDataDir }),
    });
    return { ok: true, info: await setUpPodNetwork(r.podDir, r.uuid ?? 'no-uuid', plan, { ...cni, ...(r.podsRoot === undefined ? {} : { podsRoot: r.podsRoot }) }) ?? null };
  } catch (err) {
    if (err instanceof RktError) return { ok: false, code: err.code, message: err.message, hint: err.hint ?? null };
    throw err;
  }
}

const arg = process.argv[2];
if (arg === undefined) throw new Error('usage: driver.ts JSON');
const parsed = JSON.parse(arg) as Request | Request[];
const out: unknown[] = [];
for (const r of Array.isArray(parsed) ? parsed : [parsed]) out.push(await one(r));
process.stdout.write(`${JSON.stringify(out)}\n`);
