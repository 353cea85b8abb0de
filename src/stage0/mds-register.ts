/**
 * `--mds-register`: the pod's metadata-service identity, made at prepare time and kept in the pod directory
 * (`mds.json`, root-only: the token is the pod's secret), and its registration with the service around the
 * pod's run. The service itself is src/mds.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RktError } from '../common/errors.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { trace } from '../common/trace.js';
import type { PodManifest } from '../image/pod-manifest.js';
import { POD_MANIFEST } from '../pod/layout.js';
import { readPodJson } from '../pod/pods.js';
import type { NetworkPlan } from '../net/networks.js';
import type { Store } from '../store/store.js';

/** The pod's identity file in its directory (mode 0600). */
export const MDS_FILE = 'mds.json';

/** What prepare decided: the pod's token, where it reaches the service, and its AC_METADATA_URL. */
export interface PodIdentity {
  readonly token: string;
  readonly hostAddress: string;
  readonly port: number;
  readonly url: string;
}

/**
 * A new identity for a pod on `net`: asks the running service its port (EMDS, naming the socket and how to
 * start the service, when none runs) and makes a fresh token. Writes nothing.
 */
export async function newPodIdentity(net: NetworkPlan): Promise<PodIdentity> {
  const { metadataAddress, metadataUrl } = await import('../mds/address.js');
  const { metadataSocket, servicePort } = await import('../mds/client.js');
  const { newPodToken } = await import('../mds/hmac.js');
  const hostAddress = metadataAddress(net);
  const port = await servicePort(metadataSocket());
  const token = newPodToken();
  return { token, hostAddress, port, url: metadataUrl(hostAddress, port, token) };
}

/** Keep `id` in the pod directory (root-only). */
export async function savePodIdentity(podDir: string, id: PodIdentity): Promise<void> {
  await writeFileAtomic(path.join(podDir, MDS_FILE), `${JSON.stringify(id)}\n`, 0o600);
}

/** The identity prepare kept in `podDir`; undefined for a pod prepared without --mds-register. */
export async function readPodIdentity(podDir: string): Promise<PodIdentity | undefined> {
  const file = path.join(podDir, MDS_FILE);
  const v = await readPodJson(file, true);
  if (v === undefined) return undefined;
  const o = v as Partial<Record<keyof PodIdentity, unknown>> | null;
  if (typeof o !== 'object' || o === null || typeof o.token !== 'string' || typeof o.hostAddress !== 'string' || typeof o.port !== 'number' || typeof o.url !== 'string') {
    throw new RktError('EPODCORRUPT', `${file} is corrupt: not a pod identity`, { hint: 'remove the pod (rkt rm) and prepare it again' });
  }
  return { token: o.token, hostAddress: o.hostAddress, port: o.port, url: o.url };
}

export interface RegisterInput {
  readonly store: Store;
  readonly dataDir: string;
  readonly uuid: string;
  /** The pod's directory in run/. */
  readonly dir: string;
  readonly manifest: PodManifest;
  readonly id: PodIdentity;
  readonly ownNetwork: boolean;
}

/** Register the pod with the service (before its launch). EMDS when the service is not running or refuses. */
export async function registerPod(i: RegisterInput): Promise<void> {
  const { metadataSocket, register } = await import('../mds/client.js');
  const imageManifests: Record<string, string> = {};
  for (const a of i.manifest.apps) imageManifests[a.name] = await fs.readFile(path.join(i.store.layout.tree(a.image.id), 'manifest'), 'utf8');
  await register(metadataSocket(), {
    uuid: i.uuid, token: i.id.token, manifest: await fs.readFile(path.join(i.dir, POD_MANIFEST), 'utf8'), imageManifests,
    dataDir: i.dataDir, podDir: i.dir, hostAddress: i.id.hostAddress, ownNetwork: i.ownNetwork,
  });
  trace('pod registered with the metadata service');
}

/** Unregister the pod once it has ended. Best-effort: the service drops pods that are no longer running anyway. */
export async function unregisterPod(uuid: string): Promise<void> {
  const { metadataSocket, unregister } = await import('../mds/client.js');
  await unregister(metadataSocket(), uuid).catch((err: unknown) => {
    if (!(err instanceof RktError && err.code === 'EMDS')) throw err;
    trace(`cannot unregister pod ${uuid} from the metadata service: ${err.message}, ignoring (the service drops ended pods itself)`);
  });
}
