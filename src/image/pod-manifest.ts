/**
 * The Pod Manifest (appc 0.8.11): the apps of a pod, the images they run (by Image ID), their volumes, isolators,
 * annotations and exposed ports. Parsed into readonly types with errors naming the field
 * (`invalid pod manifest: apps[0].mounts[1].volume: no volume named "work"`), and written back as canonical JSON.
 */
import { isIPv4 } from '../common/ip.js';
import { isolatorToJson, readIsolators, type Isolator } from './isolators.js';
import { readLabels, type Label } from './labels.js';
import {
  annotationsToJson,
  appToJson,
  compact,
  labelsToJson,
  parseJson,
  portToJson,
  readAcKind,
  readAcVersion,
  readAnnotations,
  readApp,
  readPort,
  type Annotation,
  type App,
  type Port,
} from './manifest.js';
import {
  Field,
  ObjectReader,
  readAbsolutePath,
  readAcIdentifier,
  readAcName,
  readBoolean,
  readImageId,
  readInteger,
  readList,
  readNamedList,
  readNonEmptyString,
  readOneOf,
  readString,
  readStringMap,
  show,
  withoutUndefined,
  type JsonValue,
  type Reader,
} from './names.js';

/** The image an app runs: always by ID; name and labels say where it came from. */
export interface RuntimeImage {
  readonly name?: string;
  readonly id: string;
  readonly labels: readonly Label[];
}

/** A bind mount of a host directory. */
export interface HostVolume {
  readonly name: string;
  readonly kind: 'host';
  readonly source: string;
  readonly readOnly?: boolean;
  readonly recursive?: boolean;
}

/** A directory that lives and dies with the pod; mode, uid and gid take appc's defaults when left out. */
export interface EmptyVolume {
  readonly name: string;
  readonly kind: 'empty';
  readonly readOnly?: boolean;
  readonly recursive?: boolean;
  /** Octal, as a string: `"0755"` by default. */
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
}

export type Volume = HostVolume | EmptyVolume;

export interface Mount {
  readonly volume: string;
  /** Where in the app's filesystem; relative paths are taken from the app's root. */
  readonly path: string;
  /** A volume given inline, used instead of the pod's volume of the same name. */
  readonly appVolume?: Volume;
}

export interface RuntimeApp {
  readonly name: string;
  readonly image: RuntimeImage;
  /** Replaces the image manifest's `app` when present. */
  readonly app?: App;
  readonly readOnlyRootFS?: boolean;
  readonly mounts: readonly Mount[];
  readonly annotations: readonly Annotation[];
}

export interface ExposedPort {
  readonly name: string;
  readonly hostPort: number;
  readonly hostIP?: string;
  readonly podPort?: Port;
}

/** A pod manifest; absent lists are empty. */
export interface PodManifest {
  readonly acVersion: string;
  readonly acKind: 'PodManifest';
  readonly apps: readonly RuntimeApp[];
  readonly volumes: readonly Volume[];
  readonly isolators: readonly Isolator[];
  readonly annotations: readonly Annotation[];
  readonly ports: readonly ExposedPort[];
  readonly userAnnotations?: Readonly<Record<string, string>>;
  readonly userLabels?: Readonly<Record<string, string>>;
}

/** The defaults appc gives an empty volume's mode, uid and gid. */
export const EMPTY_VOLUME_DEFAULTS = { mode: '0755', uid: 0, gid: 0 } as const;

const readMode: Reader<string> = (value, at) => {
  const s = readString(value, at);
  return /^[0-7]{1,4}$/.test(s) ? s : at.fail(`${show(s)} is not an octal mode (such as "0755")`);
};

const readVolume: Reader<Volume> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', readAcName);
  const kind = o.required('kind', readOneOf(['host', 'empty'] as const));
  if (kind === 'host') {
    const source = o.required('source', readAbsolutePath);
    for (const key of ['mode', 'uid', 'gid']) {
      const given = o.raw(key);
      if (given !== undefined) at.key(key).fail(`${show(given)} given for a host volume (only empty volumes have one)`);
    }
    return { name, kind, source, ...readVolumeFlags(o) };
  }
  const source = o.raw('source');
  if (source !== undefined) at.key('source').fail(`${show(source)} given for an empty volume`);
  return {
    name,
    kind,
    ...readVolumeFlags(o),
    mode: o.optional('mode', readMode) ?? EMPTY_VOLUME_DEFAULTS.mode,
    uid: o.optional('uid', readInteger(0)) ?? EMPTY_VOLUME_DEFAULTS.uid,
    gid: o.optional('gid', readInteger(0)) ?? EMPTY_VOLUME_DEFAULTS.gid,
  };
};

function readVolumeFlags(o: ObjectReader): { readonly readOnly?: boolean; readonly recursive?: boolean } {
  const readOnly = o.optional('readOnly', readBoolean);
  return withoutUndefined({ readOnly, recursive: o.optional('recursive', readBoolean) });
}

const readMount: Reader<Mount> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const volume = o.required('volume', readAcName);
  const path = o.required('path', readNonEmptyString);
  const appVolume = o.optional('appVolume', readVolume);
  if (appVolume !== undefined && appVolume.name !== volume) {
    at.key('appVolume').key('name').fail(`${show(appVolume.name)} does not match the mount's volume ${show(volume)}`);
  }
  return withoutUndefined({ volume, path, appVolume });
};

const readRuntimeImage: Reader<RuntimeImage> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.optional('name', readAcIdentifier);
  const id = o.required('id', readImageId);
  const labels = o.list('labels', readLabels);
  return withoutUndefined({ name, id, labels });
};

const readRuntimeApp: Reader<RuntimeApp> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', readAcName);
  const image = o.required('image', readRuntimeImage);
  const app = o.optional('app', readApp);
  const readOnlyRootFS = o.optional('readOnlyRootFS', readBoolean);
  const mounts = o.list('mounts', readList(readMount));
  const annotations = o.list('annotations', readAnnotations);
  return withoutUndefined({ name, image, app, readOnlyRootFS, mounts, annotations });
};

const readExposedPort: Reader<ExposedPort> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', readAcName);
  const hostPort = o.required('hostPort', readInteger(1, 65535));
  const hostIP = o.optional('hostIP', (v, ipAt) => {
    const s = readString(v, ipAt);
    return isIPv4(s) ? s : ipAt.fail(`${show(s)} is not an IPv4 address in dotted-quad form`);
  });
  const podPort = o.optional('podPort', readPort);
  return withoutUndefined({ name, hostPort, hostIP, podPort });
};

/**
 * Validate an untrusted value (parsed JSON) as a pod manifest; throws EPODMANIFEST naming the first bad field.
 * Beyond each field's rules: app, volume and port names are unique, and every mount names a volume of the pod
 * unless it carries its own `appVolume`.
 */
export function validatePodManifest(value: unknown): PodManifest {
  const root = Field.root('EPODMANIFEST', 'pod manifest');
  const o = ObjectReader.of(value, root);
  const acVersion = o.required('acVersion', readAcVersion);
  const acKind = o.required('acKind', readAcKind('PodManifest'));
  // Required, but Go writes `null` for a pod without apps yet.
  if (!o.has('apps')) root.key('apps').fail('required field is missing');
  const apps = o.list('apps', readNamedList(readRuntimeApp, 'app'));
  const volumes = o.list('volumes', readNamedList(readVolume, 'volume'));
  const volumeNames = new Set(volumes.map((v) => v.name));
  apps.forEach((app, i) => {
    app.mounts.forEach((mount, j) => {
      if (mount.appVolume !== undefined || volumeNames.has(mount.volume)) return;
      const at = root.key('apps').index(i).key('mounts').index(j).key('volume');
      at.fail(`no volume named ${show(mount.volume)} in the pod`);
    });
  });
  const isolators = o.list('isolators', readIsolators);
  const annotations = o.list('annotations', readAnnotations);
  const ports = o.list('ports', readNamedList(readExposedPort, 'port'));
  const userAnnotations = o.optional('userAnnotations', readStringMap);
  const userLabels = o.optional('userLabels', readStringMap);
  return withoutUndefined({
    acVersion, acKind, apps, volumes, isolators, annotations, ports, userAnnotations, userLabels,
  });
}

/** Parse a pod manifest from its JSON text or bytes (UTF-8) and validate it; throws EPODMANIFEST. */
export function parsePodManifest(text: string | Uint8Array): PodManifest {
  return validatePodManifest(parseJson(text, Field.root('EPODMANIFEST', 'pod manifest')));
}

function ifDefined<T>(value: T | undefined, toJson: (value: T) => JsonValue): JsonValue | undefined {
  return value === undefined ? undefined : toJson(value);
}

function volumeToJson(v: Volume): JsonValue {
  const common = { name: v.name, kind: v.kind };
  return v.kind === 'host'
    ? compact({ ...common, source: v.source, readOnly: v.readOnly, recursive: v.recursive })
    : compact({ ...common, readOnly: v.readOnly, recursive: v.recursive, mode: v.mode, uid: v.uid, gid: v.gid });
}

function runtimeAppToJson(a: RuntimeApp): JsonValue {
  return compact({
    name: a.name,
    image: compact({ name: a.image.name, id: a.image.id, labels: labelsToJson(a.image.labels) }),
    app: ifDefined(a.app, appToJson),
    readOnlyRootFS: a.readOnlyRootFS,
    mounts: a.mounts.map((m) =>
      compact({ volume: m.volume, path: m.path, appVolume: ifDefined(m.appVolume, volumeToJson) }),
    ),
    annotations: annotationsToJson(a.annotations),
  });
}

/**
 * The manifest as canonical JSON text (keys in spec order; `apps` always written, other empty lists left out),
 * indented by two spaces when `pretty`; no final newline.
 */
export function serializePodManifest(m: PodManifest, pretty = false): string {
  const json = {
    acVersion: m.acVersion,
    acKind: m.acKind,
    apps: m.apps.map(runtimeAppToJson),
    ...compact({
      volumes: m.volumes.map(volumeToJson),
      isolators: m.isolators.map(isolatorToJson),
      annotations: annotationsToJson(m.annotations),
      ports: m.ports.map((p) =>
        compact({ name: p.name, hostPort: p.hostPort, hostIP: p.hostIP, podPort: ifDefined(p.podPort, portToJson) }),
      ),
      userAnnotations: m.userAnnotations,
      userLabels: m.userLabels,
    }),
  };
  return JSON.stringify(json, null, pretty ? 2 : undefined);
}
