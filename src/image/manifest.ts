/**
 * The Image Manifest (appc 0.8.11): parsed from untrusted bytes into readonly types, every rule checked, every
 * error naming the field (`invalid image manifest: app.exec[0]: "bin/sh" is not an absolute path`), and written
 * back as canonical JSON. Unknown keys are ignored, as appc asks for forward compatibility.
 */
import { isErrno } from '../common/errors.js';
import { isolatorToJson, readIsolators, type Isolator } from './isolators.js';
import { readLabels, type Label } from './labels.js';
import {
  Field,
  isEnvironmentName,
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

export interface EventHandler {
  readonly name: 'pre-start' | 'post-stop';
  readonly exec: readonly string[];
}

export interface EnvironmentVariable {
  readonly name: string;
  readonly value: string;
}

export interface MountPoint {
  readonly name: string;
  readonly path: string;
  readonly readOnly?: boolean;
}

export interface Port {
  readonly name: string;
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
  /** How many consecutive ports from `port`; 1 when the manifest leaves it out. */
  readonly count: number;
  readonly socketActivated?: boolean;
}

/** How to run an image (an image manifest's `app`, or a pod app's replacement for it). Absent lists are empty. */
export interface App {
  readonly exec: readonly string[];
  readonly user: string;
  readonly group: string;
  readonly supplementaryGIDs: readonly number[];
  readonly eventHandlers: readonly EventHandler[];
  readonly workingDirectory?: string;
  readonly environment: readonly EnvironmentVariable[];
  readonly isolators: readonly Isolator[];
  readonly mountPoints: readonly MountPoint[];
  readonly ports: readonly Port[];
  readonly userAnnotations?: Readonly<Record<string, string>>;
  readonly userLabels?: Readonly<Record<string, string>>;
}

export interface Dependency {
  readonly imageName: string;
  readonly imageID?: string;
  readonly labels: readonly Label[];
  readonly size?: number;
}

export interface Annotation {
  readonly name: string;
  readonly value: string;
}

export interface ImageManifest {
  readonly acKind: 'ImageManifest';
  readonly acVersion: string;
  readonly name: string;
  readonly labels: readonly Label[];
  readonly app?: App;
  readonly dependencies: readonly Dependency[];
  readonly pathWhitelist: readonly string[];
  readonly annotations: readonly Annotation[];
}

// ---------------------------------------------------------------------------------------------------------------
// Shared readers: the pod manifest reads apps, ports and annotations with these too.

const NUMBER = '(?:0|[1-9][0-9]*)';
const PRERELEASE_PART = '(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)';
const PRERELEASE = `-${PRERELEASE_PART}(?:\\.${PRERELEASE_PART})*`;
const BUILD = '\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*';
const SEMVER = new RegExp(`^${NUMBER}\\.${NUMBER}\\.${NUMBER}(?:${PRERELEASE})?(?:${BUILD})?$`);

/** True if `s` is a SemVer 2.0.0 version such as `0.8.11` or `1.0.0-rc.1+build.5`. */
export function isSemver(s: string): boolean {
  return SEMVER.test(s);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

/** True if `s` is an RFC 3339 date-time (`2014-10-27T19:32:27.67021798Z`), with "T" and with a real date. */
export function isRfc3339(s: string): boolean {
  const m = RFC3339.exec(s);
  if (m === null) return false;
  const n = (group: number) => Number(m[group] ?? '0');
  const [year, month, day] = [n(1), n(2), n(3)];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return days !== undefined && day >= 1 && day <= days
    && n(4) <= 23 && n(5) <= 59 && n(6) <= 60 && n(7) <= 23 && n(8) <= 59;
}

/** Reads the `acVersion` of either manifest. */
export const readAcVersion: Reader<string> = (value, at) => {
  const s = readString(value, at);
  return isSemver(s) ? s : at.fail(`${show(s)} is not a semantic version (such as "0.8.11")`);
};

const readExecList: Reader<readonly string[]> = (value, at) => {
  const exec = readList(readString)(value, at);
  if (exec.length > 0) readAbsolutePath(exec[0], at.index(0));
  return exec;
};

const readEventHandler: Reader<EventHandler> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', readOneOf(['pre-start', 'post-stop'] as const));
  const exec = o.required('exec', readList(readString));
  return exec.length > 0 ? { name, exec } : at.key('exec').fail('an empty list is not allowed');
};

const readEnvironmentVariable: Reader<EnvironmentVariable> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', (v, nameAt) => {
    const s = readString(v, nameAt);
    return isEnvironmentName(s) ? s : nameAt.fail(`${show(s)} is not a valid environment variable name`);
  });
  return { name, value: o.required('value', readString) };
};

const readMountPoint: Reader<MountPoint> = (value, at) => {
  const o = ObjectReader.of(value, at);
  return withoutUndefined({
    name: o.required('name', readAcName),
    path: o.required('path', readAbsolutePath),
    readOnly: o.optional('readOnly', readBoolean),
  });
};

/** Reads a port of an app (or a pod's `podPort`): name, tcp/udp, 1..65535, and a count that stays in range. */
export const readPort: Reader<Port> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', readAcName);
  const protocol = o.required('protocol', readOneOf(['tcp', 'udp'] as const));
  const port = o.required('port', readInteger(1, 65535));
  const count = o.optional('count', readInteger(1)) ?? 1;
  if (port + count - 1 > 65535) at.key('count').fail(`${count} ports from ${port} go past port 65535`);
  const socketActivated = o.optional('socketActivated', readBoolean);
  return withoutUndefined({ name, protocol, port, count, socketActivated });
};

/** Reads an `app` object, of an image manifest or of a pod manifest's app, with all of appc's rules. */
export const readApp: Reader<App> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const exec = o.list('exec', readExecList);
  const user = o.required('user', readNonEmptyString);
  const group = o.required('group', readNonEmptyString);
  const supplementaryGIDs = o.list('supplementaryGIDs', readList(readInteger(0)));
  const eventHandlers = o.list('eventHandlers', readNamedList(readEventHandler, 'event handler'));
  const workingDirectory = o.optional('workingDirectory', readAbsolutePath);
  const environment = o.list('environment', readNamedList(readEnvironmentVariable, 'environment variable'));
  const isolators = o.list('isolators', readIsolators);
  const mountPoints = o.list('mountPoints', readNamedList(readMountPoint, 'mount point'));
  const ports = o.list('ports', readNamedList(readPort, 'port'));
  const userAnnotations = o.optional('userAnnotations', readStringMap);
  const userLabels = o.optional('userLabels', readStringMap);
  return withoutUndefined({
    exec, user, group, supplementaryGIDs, eventHandlers, workingDirectory,
    environment, isolators, mountPoints, ports, userAnnotations, userLabels,
  });
};

const readAnnotation: Reader<Annotation> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', readAcIdentifier);
  const text = o.required('value', readString);
  const valueAt = at.key('value');
  if (name === 'created' && !isRfc3339(text)) valueAt.fail(`${show(text)} is not an RFC 3339 date-time`);
  if ((name === 'homepage' || name === 'documentation') && !isHttpUrl(text)) {
    valueAt.fail(`${show(text)} is not an http(s) URL`);
  }
  return { name, value: text };
};

function isHttpUrl(s: string): boolean {
  if (!URL.canParse(s)) return false;
  const url = new URL(s);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.host !== '';
}

/**
 * Reads an annotation list: unique AC Identifier names; `created` is an RFC 3339 date-time, `homepage` and
 * `documentation` are http(s) URLs.
 */
export const readAnnotations: Reader<readonly Annotation[]> = readNamedList(readAnnotation, 'annotation');

const readDependency: Reader<Dependency> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const imageName = o.required('imageName', readAcIdentifier);
  const imageID = o.optional('imageID', readImageId);
  const labels = o.list('labels', readLabels);
  const size = o.optional('size', readInteger(0));
  return withoutUndefined({ imageName, imageID, labels, size });
};

/** Reads the `acKind` of a manifest, which must be `kind`. */
export function readAcKind<K extends string>(kind: K): Reader<K> {
  return (value, at) => {
    const s = readString(value, at);
    return s === kind ? kind : at.fail(`${show(s)} is not "${kind}"`);
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** Validate an untrusted value (parsed JSON) as an image manifest; throws EMANIFEST naming the first bad field. */
export function validateImageManifest(value: unknown): ImageManifest {
  const o = ObjectReader.of(value, Field.root('EMANIFEST', 'image manifest'));
  const acKind = o.required('acKind', readAcKind('ImageManifest'));
  const acVersion = o.required('acVersion', readAcVersion);
  const name = o.required('name', readAcIdentifier);
  const labels = o.list('labels', readLabels);
  const app = o.optional('app', readApp);
  const dependencies = o.list('dependencies', readList(readDependency));
  const pathWhitelist = o.list('pathWhitelist', readList(readAbsolutePath));
  const annotations = o.list('annotations', readAnnotations);
  return withoutUndefined({ acKind, acVersion, name, labels, app, dependencies, pathWhitelist, annotations });
}

/**
 * Parse an image manifest from its JSON text or bytes (UTF-8) and validate it; throws EMANIFEST for text that
 * is not JSON as for a manifest that breaks a rule.
 */
export function parseImageManifest(text: string | Uint8Array): ImageManifest {
  return validateImageManifest(parseJson(text, Field.root('EMANIFEST', 'image manifest')));
}

/** Strict UTF-8 (a decoder without `stream` keeps no state between calls: one serves every document). */
let utf8: InstanceType<typeof TextDecoder> | undefined;

/** JSON.parse for a document, failing at `at` (root) with the parser's reason. Shared with the pod manifest. */
export function parseJson(text: string | Uint8Array, at: Field): unknown {
  let s: string;
  if (typeof text === 'string') {
    s = text;
  } else {
    try {
      utf8 ??= new TextDecoder('utf-8', { fatal: true });
      s = utf8.decode(text);
    } catch (err) {
      if (isErrno(err, 'ERR_ENCODING_INVALID_ENCODED_DATA')) return at.fail('not valid UTF-8');
      throw err;
    }
  }
  try {
    return JSON.parse(s) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) return at.fail(err.message);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Canonical JSON: keys in the order the spec lists them, optional members and empty optional lists left out.

type JsonObject = { readonly [key: string]: JsonValue };

/** An object with its undefined members and empty lists dropped, keys kept in the order given. */
export function compact(members: Readonly<Record<string, JsonValue | undefined>>): JsonObject {
  return Object.fromEntries(
    Object.entries(members).filter(
      (e): e is [string, JsonValue] => e[1] !== undefined && !(Array.isArray(e[1]) && e[1].length === 0),
    ),
  );
}

/** Labels as canonical JSON. */
export function labelsToJson(labels: readonly Label[]): JsonValue {
  return labels.map((l) => ({ name: l.name, value: l.value }));
}

/** Annotations as canonical JSON. */
export function annotationsToJson(annotations: readonly Annotation[]): JsonValue {
  return annotations.map((a) => ({ name: a.name, value: a.value }));
}

/** A port as canonical JSON (count always written). */
export function portToJson(p: Port): JsonValue {
  const { name, protocol, port, count, socketActivated } = p;
  return compact({ name, protocol, port, count, socketActivated });
}

/** An app as canonical JSON. */
export function appToJson(app: App): JsonValue {
  return compact({
    exec: app.exec,
    user: app.user,
    group: app.group,
    supplementaryGIDs: app.supplementaryGIDs,
    eventHandlers: app.eventHandlers.map((h) => ({ exec: h.exec, name: h.name })),
    workingDirectory: app.workingDirectory,
    environment: app.environment.map((e) => ({ name: e.name, value: e.value })),
    isolators: app.isolators.map(isolatorToJson),
    mountPoints: app.mountPoints.map((m) => compact({ name: m.name, path: m.path, readOnly: m.readOnly })),
    ports: app.ports.map(portToJson),
    userAnnotations: app.userAnnotations,
    userLabels: app.userLabels,
  });
}

/** The manifest as canonical JSON text (keys in spec order), indented by two spaces when `pretty`; no final newline. */
export function serializeImageManifest(m: ImageManifest, pretty = false): string {
  const json = compact({
    acKind: m.acKind,
    acVersion: m.acVersion,
    name: m.name,
    labels: labelsToJson(m.labels),
    app: m.app === undefined ? undefined : appToJson(m.app),
    dependencies: m.dependencies.map((d) =>
      compact({ imageName: d.imageName, imageID: d.imageID, labels: labelsToJson(d.labels), size: d.size }),
    ),
    pathWhitelist: m.pathWhitelist,
    annotations: annotationsToJson(m.annotations),
  });
  return JSON.stringify(json, null, pretty ? 2 : undefined);
}

