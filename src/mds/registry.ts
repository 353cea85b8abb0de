/**
 * The metadata service's registry of pods and the protocol rkt registers pods with: one JSON object per line
 * on the unix socket, one JSON reply line each. Pure: messages in, validated values out; the registry itself is
 * a pair of maps.
 *
 *   {"op":"info"}                                   → {"ok":true,"port":18112,"pods":3}
 *   {"op":"register","pod":{uuid,token,…}}           → {"ok":true}
 *   {"op":"unregister","uuid":"…"}                  → {"ok":true,"found":true}
 *   {"op":"list"}                                   → {"ok":true,"pods":[{"uuid":…,"apps":[…]}]}
 *   anything else                                   → {"ok":false,"error":"…"}
 */
import type { Annotation } from '../image/manifest.js';
import { parseImageManifest } from '../image/manifest.js';
import { parsePodManifest } from '../image/pod-manifest.js';
import { uuidBytes } from './hmac.js';

/** The registration socket rkt uses unless RKT_METADATA_SOCKET names another (tests). */
export const DEFAULT_SOCKET = '/run/rkt/metadata-svc.sock';
/** The port rkt 1.x's metadata service listened on. */
export const DEFAULT_PORT = 18112;

/** One app of a registered pod, as its endpoints serve it. */
export interface RegisteredApp {
  readonly name: string;
  readonly imageId: string;
  /** The image manifest as stored (the original bytes, as text). */
  readonly imageManifest: string;
  /** The image's annotations with the pod manifest app entry's merged in (appAnnotations). */
  readonly annotations: readonly Annotation[];
}

/** What rkt sends to register a pod (`pod` of the register message). */
export interface Registration {
  readonly uuid: string;
  /** The secret path element of the pod's AC_METADATA_URL. */
  readonly token: string;
  /** The pod manifest as written in the pod directory (text). */
  readonly manifest: string;
  /** Each app's image manifest as stored, by app name. */
  readonly imageManifests: Readonly<Record<string, string>>;
  /** rkt's data directory (`--dir`) and the pod's directory: where the service checks that the pod still runs. */
  readonly dataDir: string;
  readonly podDir: string;
  /** Where the pod reaches the service: 127.0.0.1 for host-network pods, the host side of its network otherwise. */
  readonly hostAddress: string;
  /** The pod has a network of its own: its requests must come from one of its own addresses (net-info.json). */
  readonly ownNetwork: boolean;
}

/** A registered pod, its manifests parsed once. */
export interface RegisteredPod {
  readonly reg: Registration;
  readonly podAnnotations: readonly Annotation[];
  readonly apps: ReadonlyMap<string, RegisteredApp>;
}

/** A request on the registration socket. */
export type RegistryRequest =
  | { readonly op: 'info' }
  | { readonly op: 'list' }
  | { readonly op: 'register'; readonly pod: Registration }
  | { readonly op: 'unregister'; readonly uuid: string };

/**
 * An app's annotations as the app endpoint serves them: the image's, each replaced in place by the pod
 * manifest app entry's annotation of the same name, then the entry's new ones in their order.
 */
export function appAnnotations(image: readonly Annotation[], app: readonly Annotation[]): Annotation[] {
  const out = image.map((a) => app.find((b) => b.name === a.name) ?? a);
  for (const b of app) if (!image.some((a) => a.name === b.name)) out.push(b);
  return out;
}

const str = (o: Record<string, unknown>, k: string): string => {
  const v = o[k];
  if (typeof v !== 'string' || v === '') throw new Error(`"${k}" is not a non-empty string`);
  return v;
};

/** A registration as received: every field checked. Throws an Error naming the bad field. */
export function validateRegistration(value: unknown): Registration {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('"pod" is not an object');
  const o = value as Record<string, unknown>;
  const uuid = str(o, 'uuid');
  if (uuidBytes(uuid) === undefined) throw new Error(`"uuid" is not a canonical UUID: ${uuid}`);
  const token = str(o, 'token');
  if (!/^[A-Za-z0-9_-]{22,}$/.test(token)) throw new Error('"token" is not at least 128 bits of URL-safe base64');
  const im = o['imageManifests'];
  if (typeof im !== 'object' || im === null || Array.isArray(im)) throw new Error('"imageManifests" is not an object');
  const imageManifests: Record<string, string> = {};
  for (const [k, v] of Object.entries(im)) {
    if (typeof v !== 'string') throw new Error(`"imageManifests.${k}" is not a string`);
    imageManifests[k] = v;
  }
  if (typeof o['ownNetwork'] !== 'boolean') throw new Error('"ownNetwork" is not a boolean');
  return {
    uuid, token, manifest: str(o, 'manifest'), imageManifests, dataDir: str(o, 'dataDir'), podDir: str(o, 'podDir'),
    hostAddress: str(o, 'hostAddress'), ownNetwork: o['ownNetwork'],
  };
}

/** A registered pod from its registration: the manifests parsed (throws, naming what is wrong). */
export function toRegisteredPod(reg: Registration): RegisteredPod {
  const pm = parsePodManifest(reg.manifest);
  const apps = new Map<string, RegisteredApp>();
  for (const a of pm.apps) {
    const text = reg.imageManifests[a.name];
    if (text === undefined) throw new Error(`no image manifest for app ${a.name}`);
    const im = parseImageManifest(text);
    apps.set(a.name, { name: a.name, imageId: a.image.id, imageManifest: text, annotations: appAnnotations(im.annotations, a.annotations) });
  }
  return { reg, podAnnotations: pm.annotations, apps };
}

/** One line of the registration protocol, parsed and checked. Throws an Error saying what is wrong. */
export function parseRegistryRequest(line: string): RegistryRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  const o = v as Record<string, unknown>;
  switch (o['op']) {
    case 'info':
    case 'list':
      return { op: o['op'] };
    case 'register':
      return { op: 'register', pod: validateRegistration(o['pod']) };
    case 'unregister': {
      const uuid = str(o, 'uuid');
      return { op: 'unregister', uuid };
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(o['op'])}`);
  }
}

/** The registered pods, by token and by UUID. A UUID registered again replaces its earlier registration. */
export class Registry {
  private readonly byToken = new Map<string, RegisteredPod>();
  private readonly byUuid = new Map<string, RegisteredPod>();

  /** Add (or replace) a pod. */
  add(pod: RegisteredPod): void {
    this.remove(pod.reg.uuid);
    const other = this.byToken.get(pod.reg.token);
    if (other !== undefined) throw new Error(`token already registered by pod ${other.reg.uuid}`);
    this.byToken.set(pod.reg.token, pod);
    this.byUuid.set(pod.reg.uuid, pod);
  }

  /** Remove pod `uuid`; returns it if it was registered. */
  remove(uuid: string): RegisteredPod | undefined {
    const pod = this.byUuid.get(uuid);
    if (pod === undefined) return undefined;
    this.byUuid.delete(uuid);
    this.byToken.delete(pod.reg.token);
    return pod;
  }

  /** The pod a token belongs to. */
  byTokenOf(token: string): RegisteredPod | undefined {
    return this.byToken.get(token);
  }

  /** Every registered pod. */
  all(): RegisteredPod[] {
    return [...this.byUuid.values()];
  }

  get size(): number {
    return this.byUuid.size;
  }
}
