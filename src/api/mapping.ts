/**
 * What rkt's state on disk looks like in the v1alpha protocol, and the protocol's filters. Pure: data in,
 * message objects out (field names as in v1alpha.proto, int64 fields as decimal strings, enums by name).
 */
import type { PodState as RktPodState } from '../pod/layout.js';
import type { PodInfo } from '../pod/pods.js';
import type { PodManifest } from '../image/pod-manifest.js';
import type { ImageManifest } from '../image/manifest.js';
import type { ImageRecord } from '../store/records.js';
import type { NetInfo } from '../net/net-info.js';
import { APPC_VERSION } from '../common/version.js';

/** The v1alpha API version this service speaks (rkt 1.x's own). */
export const API_VERSION = '1.0.0-alpha';

export type V1PodState =
  | 'POD_STATE_UNDEFINED' | 'POD_STATE_EMBRYO' | 'POD_STATE_PREPARING' | 'POD_STATE_PREPARED' | 'POD_STATE_RUNNING'
  | 'POD_STATE_ABORTED_PREPARE' | 'POD_STATE_EXITED' | 'POD_STATE_DELETING' | 'POD_STATE_GARBAGE';
export type V1AppState = 'APP_STATE_UNDEFINED' | 'APP_STATE_RUNNING' | 'APP_STATE_EXITED';
export type V1ImageType = 'IMAGE_TYPE_UNDEFINED' | 'IMAGE_TYPE_APPC' | 'IMAGE_TYPE_DOCKER' | 'IMAGE_TYPE_OCI';
export type V1EventType =
  | 'EVENT_TYPE_UNDEFINED' | 'EVENT_TYPE_POD_PREPARED' | 'EVENT_TYPE_POD_PREPARE_ABORTED' | 'EVENT_TYPE_POD_STARTED'
  | 'EVENT_TYPE_POD_EXITED' | 'EVENT_TYPE_POD_GARBAGE_COLLECTED' | 'EVENT_TYPE_APP_STARTED' | 'EVENT_TYPE_APP_EXITED'
  | 'EVENT_TYPE_IMAGE_IMPORTED' | 'EVENT_TYPE_IMAGE_REMOVED';

/** The enums' numbers (v1alpha.proto): a client may send either the name or the number. */
export const POD_STATES: readonly V1PodState[] = [
  'POD_STATE_UNDEFINED', 'POD_STATE_EMBRYO', 'POD_STATE_PREPARING', 'POD_STATE_PREPARED', 'POD_STATE_RUNNING',
  'POD_STATE_ABORTED_PREPARE', 'POD_STATE_EXITED', 'POD_STATE_DELETING', 'POD_STATE_GARBAGE',
];
export const EVENT_TYPES: readonly V1EventType[] = [
  'EVENT_TYPE_UNDEFINED', 'EVENT_TYPE_POD_PREPARED', 'EVENT_TYPE_POD_PREPARE_ABORTED', 'EVENT_TYPE_POD_STARTED',
  'EVENT_TYPE_POD_EXITED', 'EVENT_TYPE_POD_GARBAGE_COLLECTED', 'EVENT_TYPE_APP_STARTED', 'EVENT_TYPE_APP_EXITED',
  'EVENT_TYPE_IMAGE_IMPORTED', 'EVENT_TYPE_IMAGE_REMOVED',
];

export interface KeyValue { readonly Key: string; readonly value: string }
export interface V1ImageFormat { readonly type: V1ImageType; readonly version: string }
export interface V1Image {
  readonly base_format: V1ImageFormat;
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly import_timestamp: string;
  readonly manifest: Buffer;
  readonly size: string;
  readonly annotations: readonly KeyValue[];
  readonly labels: readonly KeyValue[];
}
export interface V1Network { readonly name: string; readonly ipv4: string; readonly ipv6: string }
export interface V1App {
  readonly name: string;
  readonly image: V1Image;
  readonly state: V1AppState;
  readonly exit_code: number;
  readonly annotations: readonly KeyValue[];
}
export interface V1Pod {
  readonly id: string;
  readonly pid: number;
  readonly state: V1PodState;
  readonly apps: readonly V1App[];
  readonly networks: readonly V1Network[];
  readonly manifest: Buffer;
  readonly annotations: readonly KeyValue[];
  readonly cgroup: string;
  readonly created_at: string;
  readonly started_at: string;
  readonly gc_marked_at: string;
}
export interface V1Event {
  readonly type: V1EventType;
  readonly id: string;
  readonly from: string;
  readonly time: string;
  readonly data: readonly KeyValue[];
}

/** A filter as grpc-js decodes it (repeated fields may be absent, enums a name or a number, int64 a string). */
export interface PodFilter {
  readonly ids?: readonly string[];
  readonly states?: readonly (string | number)[];
  readonly app_names?: readonly string[];
  readonly image_ids?: readonly string[];
  readonly network_names?: readonly string[];
  readonly annotations?: readonly KeyValue[];
  readonly cgroups?: readonly string[];
  readonly pod_sub_cgroups?: readonly string[];
}
export interface ImageFilter {
  readonly ids?: readonly string[];
  readonly prefixes?: readonly string[];
  readonly base_names?: readonly string[];
  readonly keywords?: readonly string[];
  readonly labels?: readonly KeyValue[];
  readonly imported_after?: string | number;
  readonly imported_before?: string | number;
  readonly annotations?: readonly KeyValue[];
  readonly full_names?: readonly string[];
}
export interface EventFilter {
  readonly types?: readonly (string | number)[];
  readonly ids?: readonly string[];
  readonly names?: readonly string[];
  readonly since_time?: string | number;
  readonly until_time?: string | number;
}

/**
 * rkt's pod state in v1alpha terms. Both garbage states are POD_STATE_GARBAGE, as rkt 1.x reported them
 * (exited-garbage is "exited and marked by gc"; DELETING is never reported: rkt gc has no such state here).
 */
export function v1PodState(state: RktPodState): V1PodState {
  switch (state) {
    case 'embryo': return 'POD_STATE_EMBRYO';
    case 'preparing': return 'POD_STATE_PREPARING';
    case 'aborted-prepare': return 'POD_STATE_ABORTED_PREPARE';
    case 'prepared': return 'POD_STATE_PREPARED';
    case 'running': return 'POD_STATE_RUNNING';
    case 'exited': return 'POD_STATE_EXITED';
    case 'exited-garbage':
    case 'garbage': return 'POD_STATE_GARBAGE';
  }
}

/** An enum value as a client sent it (name or number) → its name; undefined if it is neither. */
export function enumName<T extends string>(values: readonly T[], v: string | number): T | undefined {
  if (typeof v === 'number') return values[v];
  return (values as readonly string[]).includes(v) ? (v as T) : undefined;
}

/** Nanoseconds since the epoch of `d` as a decimal string ("0" for none): int64 exceeds a double's precision. */
export function nanos(d: Date | undefined): string {
  return d === undefined ? '0' : (BigInt(d.getTime()) * 1_000_000n).toString();
}

/** Seconds since the epoch of `d`. */
export function seconds(d: Date): string {
  return String(Math.floor(d.getTime() / 1000));
}

/** An int64 as grpc-js hands it over (string, number, or absent) → a number of seconds; 0 when unset. */
export function int64(v: string | number | undefined): number {
  if (v === undefined) return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

function kv(list: readonly { name: string; value: string }[]): KeyValue[] {
  return list.map((x) => ({ Key: x.name, value: x.value }));
}

/** The "version" label, or "latest" when there is none (rkt's rule). */
function versionOf(labels: readonly { name: string; value: string }[]): string {
  return labels.find((l) => l.name === 'version')?.value ?? 'latest';
}

const APPC_FORMAT: V1ImageFormat = { type: 'IMAGE_TYPE_APPC', version: APPC_VERSION };

/** An image of the store as v1alpha's Image; `manifest` is the image manifest's text (left empty when undefined). */
export function v1Image(r: ImageRecord, manifest: ImageManifest | undefined, manifestBytes: Buffer | undefined): V1Image {
  const importedAt = new Date(r.importTime);
  return {
    base_format: r.oci !== undefined ? { type: 'IMAGE_TYPE_OCI', version: '1.0' } : APPC_FORMAT,
    id: r.id,
    name: manifest?.name ?? r.name,
    version: versionOf(manifest?.labels ?? r.labels),
    import_timestamp: Number.isNaN(importedAt.getTime()) ? '0' : seconds(importedAt),
    manifest: manifestBytes ?? Buffer.alloc(0),
    size: String((r.blobSize ?? 0) + (r.treeSize ?? 0)),
    annotations: kv(manifest?.annotations ?? []),
    labels: kv(manifest?.labels ?? r.labels),
  };
}

/** What the service read about one pod, besides `rkt list`'s PodInfo. */
export interface PodExtras {
  readonly manifest?: PodManifest;
  readonly manifestBytes?: Buffer;
  readonly net?: NetInfo;
  /** The cgroup of the pod's PID 1 (running pods only). */
  readonly cgroup?: string;
  /** When the pod was moved to exited-garbage or garbage. */
  readonly gcMarkedAt?: Date;
}

/** Whether a pod in `state` has run (its apps have exited, or some may still run). */
function hasRun(state: RktPodState): boolean {
  return state === 'exited' || state === 'exited-garbage';
}

/**
 * One pod as v1alpha's Pod. Apps come from the pod manifest (their image: ID, name, version, as the manifest
 * names them); an app with a recorded exit status is EXITED with it, other apps of a running pod RUNNING, of a
 * pod that has run EXITED with -1 (killed before its status was written), otherwise UNDEFINED with -1.
 * Networks only while the pod runs. An embryo has only its id and state.
 */
export function v1Pod(p: PodInfo, x: PodExtras): V1Pod {
  const state = v1PodState(p.state);
  const base: V1Pod = {
    id: p.uuid, pid: -1, state, apps: [], networks: [], manifest: Buffer.alloc(0), annotations: [], cgroup: '',
    created_at: '0', started_at: '0', gc_marked_at: '0',
  };
  if (p.state === 'embryo') return base;
  const running = p.state === 'running';
  const apps: V1App[] = (x.manifest?.apps ?? []).map((a) => {
    const status = p.appStatuses.get(a.name);
    const appState: V1AppState = status !== undefined ? 'APP_STATE_EXITED' : running ? 'APP_STATE_RUNNING' : hasRun(p.state) ? 'APP_STATE_EXITED' : 'APP_STATE_UNDEFINED';
    return {
      name: a.name,
      image: {
        base_format: APPC_FORMAT, id: a.image.id, name: a.image.name ?? '', version: versionOf(a.image.labels),
        import_timestamp: '0', manifest: Buffer.alloc(0), size: '0', annotations: [], labels: kv(a.image.labels),
      },
      state: appState,
      exit_code: status ?? -1,
      annotations: kv(a.annotations),
    };
  });
  const networks: V1Network[] = running
    ? (x.net?.networks ?? []).filter((n) => n.ip !== '').map((n) => ({ name: n.netName, ipv4: n.ip.includes(':') ? '' : n.ip, ipv6: n.ip.includes(':') ? n.ip : '' }))
    : [];
  return {
    ...base,
    pid: p.pid ?? -1,
    apps,
    networks,
    manifest: x.manifestBytes ?? Buffer.alloc(0),
    annotations: kv(x.manifest?.annotations ?? []),
    cgroup: running ? x.cgroup ?? '' : '',
    created_at: nanos(p.created),
    started_at: nanos(p.started),
    gc_marked_at: nanos(p.state === 'exited-garbage' || p.state === 'garbage' ? x.gcMarkedAt : undefined),
  };
}

/** True if `have` holds every wanted key with the wanted value. */
function hasAll(have: readonly KeyValue[], want: readonly KeyValue[]): boolean {
  return want.every((w) => have.some((h) => h.Key === w.Key && h.value === w.value));
}

const empty = <T>(l: readonly T[] | undefined): l is undefined => l === undefined || l.length === 0;

/** One PodFilter, rkt's semantics: ids, states, cgroups any-of; app names, image IDs, networks, annotations all-of. */
export function podMatches(pod: V1Pod, f: PodFilter): boolean {
  if (!empty(f.ids) && !f.ids.includes(pod.id)) return false;
  if (!empty(f.states) && !f.states.some((s) => enumName(POD_STATES, s) === pod.state)) return false;
  if (!empty(f.app_names) && !f.app_names.every((n) => pod.apps.some((a) => a.name === n))) return false;
  if (!empty(f.image_ids) && !f.image_ids.every((id) => pod.apps.some((a) => a.image.id === id))) return false;
  if (!empty(f.network_names) && !f.network_names.every((n) => pod.networks.some((x) => x.name === n))) return false;
  if (!empty(f.annotations) && !hasAll(pod.annotations, f.annotations)) return false;
  if (!empty(f.cgroups) && !f.cgroups.includes(pod.cgroup)) return false;
  if (!empty(f.pod_sub_cgroups) && (pod.cgroup === '' || !f.pod_sub_cgroups.some((c) => c.startsWith(pod.cgroup)))) return false;
  return true;
}

/** No filters: every pod; otherwise a pod matching any of them. */
export function podMatchesAny(pod: V1Pod, filters: readonly PodFilter[] | undefined): boolean {
  return filters === undefined || filters.length === 0 || filters.some((f) => podMatches(pod, f));
}

/** The last path element of an image name (`coreos.com/etcd` → `etcd`). */
function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/** One ImageFilter, rkt's semantics: ids, full names, prefixes, base names, keywords any-of; labels, annotations all-of. */
export function imageMatches(img: V1Image, f: ImageFilter): boolean {
  if (!empty(f.ids) && !f.ids.includes(img.id)) return false;
  if (!empty(f.full_names) && !f.full_names.includes(img.name)) return false;
  if (!empty(f.prefixes) && !f.prefixes.some((p) => img.name.startsWith(p))) return false;
  if (!empty(f.base_names) && !f.base_names.some((b) => baseName(img.name) === b)) return false;
  if (!empty(f.keywords) && !f.keywords.some((k) => img.name.includes(k))) return false;
  const at = Number(img.import_timestamp);
  const after = int64(f.imported_after);
  const before = int64(f.imported_before);
  if (after > 0 && at <= after) return false;
  if (before > 0 && at >= before) return false;
  if (!empty(f.labels) && !hasAll(img.labels, f.labels)) return false;
  if (!empty(f.annotations) && !hasAll(img.annotations, f.annotations)) return false;
  return true;
}

export function imageMatchesAny(img: V1Image, filters: readonly ImageFilter[] | undefined): boolean {
  return filters === undefined || filters.length === 0 || filters.some((f) => imageMatches(img, f));
}

/** An event against an EventFilter (types, ids, names any-of; since/until in seconds, 0 = unset). */
export function eventMatches(e: V1Event, f: EventFilter | undefined): boolean {
  if (f === undefined || f === null) return true;
  if (!empty(f.types) && !f.types.some((t) => enumName(EVENT_TYPES, t) === e.type)) return false;
  if (!empty(f.ids) && !f.ids.includes(e.id)) return false;
  if (!empty(f.names) && !f.names.includes(e.from)) return false;
  const at = Number(e.time);
  const since = int64(f.since_time);
  const until = int64(f.until_time);
  if (since > 0 && at < since) return false;
  if (until > 0 && at > until) return false;
  return true;
}

/** `--insecure-options` as rkt's GetInfo printed it: the checks joined with commas, or "none". */
export function insecureFlagsText(checks: ReadonlySet<string>): string {
  return checks.size === 0 ? 'none' : [...checks].sort().join(',');
}

// ---------------------------------------------------------------------------------------------------------
// Events: what changed between two looks at the pods and images.

/** What the event watcher remembers of one pod. */
export interface PodSnapshot {
  readonly state: RktPodState;
  /** App names with a recorded exit status, and the status. */
  readonly exited: ReadonlyMap<string, number>;
  /** Apps seen started (the stage1's `.started-<app>` markers, or an exit status). */
  readonly started: ReadonlySet<string>;
}

/** Pod states in lifecycle order, for telling which transitions a pod went through between two looks. */
const ORDER: Readonly<Record<RktPodState, number>> = {
  embryo: 0, preparing: 1, 'aborted-prepare': 2, prepared: 2, running: 3, exited: 4, 'exited-garbage': 5, garbage: 5,
};

/**
 * The events between two looks at the pods (`before` may lack pods that are new; `after` lacks pods that are
 * gone). A pod seen a step or more further on gets every event of the steps it took (a short pod seen first
 * as exited was started, then exited), so a client never misses one because the watcher looked late.
 */
export function podEvents(before: ReadonlyMap<string, PodSnapshot>, after: ReadonlyMap<string, PodSnapshot>, now: Date): V1Event[] {
  const out: V1Event[] = [];
  const time = seconds(now);
  const ev = (type: V1EventType, id: string, from: string, data: KeyValue[] = []) => out.push({ type, id, from, time, data });
  for (const [uuid, a] of after) {
    const b = before.get(uuid);
    const was = b === undefined ? -1 : ORDER[b.state];
    const is = ORDER[a.state];
    if (a.state === 'prepared' && was < 2) ev('EVENT_TYPE_POD_PREPARED', uuid, uuid);
    if (a.state === 'aborted-prepare' && was < 2) ev('EVENT_TYPE_POD_PREPARE_ABORTED', uuid, uuid);
    const ran = a.state === 'running' || a.state === 'exited' || a.state === 'exited-garbage';
    if (ran && was < 3) ev('EVENT_TYPE_POD_STARTED', uuid, uuid);
    for (const app of [...a.started].sort()) if (!(b?.started.has(app) ?? false)) ev('EVENT_TYPE_APP_STARTED', uuid, app);
    for (const [app, code] of [...a.exited].sort()) if (!(b?.exited.has(app) ?? false)) ev('EVENT_TYPE_APP_EXITED', uuid, app, [{ Key: 'exit_code', value: String(code) }]);
    if ((a.state === 'exited' || a.state === 'exited-garbage') && was < 4) {
      ev('EVENT_TYPE_POD_EXITED', uuid, uuid, [...a.exited].sort().map(([app, code]) => ({ Key: `app-${app}`, value: String(code) })));
    }
    if (is === 5 && was < 5) ev('EVENT_TYPE_POD_GARBAGE_COLLECTED', uuid, uuid);
  }
  for (const [uuid, b] of before) {
    // Removed without being seen marked (gc marks and removes in one run when the grace period is 0).
    if (!after.has(uuid) && ORDER[b.state] < 5) ev('EVENT_TYPE_POD_GARBAGE_COLLECTED', uuid, uuid);
  }
  return out;
}

/** The events between two looks at the store: Image ID → name. */
export function imageEvents(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>, now: Date): V1Event[] {
  const time = seconds(now);
  const out: V1Event[] = [];
  for (const [id, name] of after) if (!before.has(id)) out.push({ type: 'EVENT_TYPE_IMAGE_IMPORTED', id, from: name, time, data: [] });
  for (const [id, name] of before) if (!after.has(id)) out.push({ type: 'EVENT_TYPE_IMAGE_REMOVED', id, from: name, time, data: [] });
  return out;
}
