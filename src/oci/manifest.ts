/**
 * OCI image manifests, indexes (and their Docker schema 2 twins) and image configs, parsed from untrusted JSON
 * into readonly types, and the choice of an index entry by platform. Pure.
 */
import { RktError } from '../common/errors.js';

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

/** The Accept header of a manifest GET: every manifest and index kind rkt reads. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');

/** How a layer's bytes are compressed, from its media type. */
export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: { readonly os: string; readonly architecture: string; readonly variant?: string };
}

export interface ImageManifest {
  readonly kind: 'manifest';
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

export interface ImageIndex {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
}

/** The parts of an image config rkt uses. */
export interface ImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly config: {
    readonly User?: string;
    readonly ExposedPorts?: readonly string[];
    readonly Env?: readonly string[];
    readonly Entrypoint?: readonly string[];
    readonly Cmd?: readonly string[];
    readonly Volumes?: readonly string[];
    readonly WorkingDir?: string;
    readonly Labels?: Readonly<Record<string, string>>;
  };
  /** The uncompressed layers' digests, in order. */
  readonly diffIds: readonly string[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

function fail(what: string, why: string): RktError {
  return new RktError('EOCI', `${what}: ${why}`);
}

function obj(v: unknown, what: string, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(what, `${at} is not an object`);
  return v as Record<string, unknown>;
}

function str(v: unknown, what: string, at: string): string {
  if (typeof v !== 'string') throw fail(what, `${at} is not a string`);
  return v;
}

function optStr(v: unknown, what: string, at: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, what, at);
}

function strList(v: unknown, what: string, at: string): readonly string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw fail(what, `${at} is not a list`);
  return v.map((e, i) => str(e, what, `${at}[${i}]`));
}

function strMap(v: unknown, what: string, at: string): Readonly<Record<string, string>> | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, what, at);
  const out: Record<string, string> = {};
  for (const [k, e] of Object.entries(o)) out[k] = str(e, what, `${at}.${k}`);
  return out;
}

/** A sha256 digest as the registry and the layout name blobs; throws EOCI for anything else. */
export function checkDigest(v: unknown, what: string, at: string): string {
  const d = str(v, what, at);
  if (!DIGEST.test(d)) throw fail(what, `${at} "${d}" is not a sha256 digest`);
  return d;
}

function descriptor(v: unknown, what: string, at: string): Descriptor {
  const o = obj(v, what, at);
  const size = o['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw fail(what, `${at}.size is not a byte count`);
  const annotations = strMap(o['annotations'], what, `${at}.annotations`);
  let platform: Descriptor['platform'];
  if (o['platform'] !== undefined) {
    const p = obj(o['platform'], what, `${at}.platform`);
    const variant = optStr(p['variant'], what, `${at}.platform.variant`);
    platform = { os: str(p['os'], what, `${at}.platform.os`), architecture: str(p['architecture'], what, `${at}.platform.architecture`), ...(variant !== undefined ? { variant } : {}) };
  }
  return {
    mediaType: str(o['mediaType'], what, `${at}.mediaType`), digest: checkDigest(o['digest'], what, `${at}.digest`), size,
    ...(annotations !== undefined ? { annotations } : {}), ...(platform !== undefined ? { platform } : {}),
  };
}

function parseJson(bytes: Buffer | string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString());
  } catch (err) {
    throw new RktError('EOCI', `${what}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return obj(v, what, 'the document');
}

/**
 * A manifest or an index from its bytes. `contentType` (the HTTP Content-Type) is used when the document
 * does not name its media type. Docker schema 1 is refused with the reason.
 */
export function parseManifestOrIndex(bytes: Buffer | string, what: string, contentType?: string): ImageManifest | ImageIndex {
  const o = parseJson(bytes, what);
  const mediaType = optStr(o['mediaType'], what, 'mediaType') ?? contentType?.split(';')[0]?.trim() ?? '';
  if (o['schemaVersion'] === 1 || mediaType.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw fail(what, 'Docker schema 1 manifests are not supported (push the image again with a current client)');
  }
  if (Array.isArray(o['manifests']) || mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList) {
    if (!Array.isArray(o['manifests'])) throw fail(what, 'an index without "manifests"');
    return { kind: 'index', mediaType: mediaType || MEDIA.ociIndex, manifests: o['manifests'].map((m, i) => descriptor(m, what, `manifests[${i}]`)) };
  }
  if (o['config'] === undefined || !Array.isArray(o['layers'])) throw fail(what, `not an image manifest or index (media type "${mediaType}")`);
  return {
    kind: 'manifest', mediaType: mediaType || MEDIA.ociManifest,
    config: descriptor(o['config'], what, 'config'), layers: o['layers'].map((l, i) => descriptor(l, what, `layers[${i}]`)),
  };
}

/** The platform of an index entry as users write it: `linux/amd64`, `linux/arm/v7`. */
export function platformOf(d: Descriptor): string {
  const p = d.platform;
  if (p === undefined) return 'unknown';
  return `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ''}`;
}

/**
 * The entry of `index` for `os`/`arch` (default linux/amd64); throws EOCI listing the platforms it offers.
 * Entries that are attestations (platform unknown/unknown) are not offered.
 */
export function selectPlatform(index: ImageIndex, what: string, os = 'linux', arch = 'amd64'): Descriptor {
  const found = index.manifests.find((m) => m.platform?.os === os && m.platform.architecture === arch);
  if (found !== undefined) return found;
  const offered = index.manifests.map(platformOf).filter((p) => p !== 'unknown/unknown');
  throw new RktError('EOCI', `${what}: the index has no image for ${os}/${arch}; it offers: ${offered.length > 0 ? offered.join(', ') : 'nothing'}`);
}

/** The entry of a layout's index.json named `ref` (annotation org.opencontainers.image.ref.name), or its only entry. */
export function selectByRefName(index: ImageIndex, what: string, ref: string | undefined): Descriptor {
  const name = (d: Descriptor) => d.annotations?.['org.opencontainers.image.ref.name'];
  if (ref === undefined) {
    const only = index.manifests[0];
    if (only !== undefined && index.manifests.length === 1) return only;
    const names = index.manifests.map(name).filter((n) => n !== undefined);
    throw fail(what, `the layout holds ${index.manifests.length} images: name one (${names.join(', ') || 'none has a ref.name'})`);
  }
  const found = index.manifests.find((d) => name(d) === ref);
  if (found === undefined) {
    const names = index.manifests.map(name).filter((n) => n !== undefined);
    throw fail(what, `no image named "${ref}" in the layout (it has: ${names.join(', ') || 'none named'})`);
  }
  return found;
}

/** The compression of a layer from its media type; throws EOCI for a kind rkt cannot apply (foreign layers too). */
export function layerCompression(mediaType: string, what: string): LayerCompression {
  switch (mediaType) {
    case 'application/vnd.oci.image.layer.v1.tar+gzip':
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
      return 'gzip';
    case 'application/vnd.oci.image.layer.v1.tar+zstd':
      return 'zstd';
    case 'application/vnd.oci.image.layer.v1.tar':
    case 'application/vnd.docker.image.rootfs.diff.tar':
      return 'none';
    default:
      throw fail(what, `layer media type "${mediaType}" is not supported (tar, tar+gzip and tar+zstd are)`);
  }
}

/** An image config from its bytes (only the fields rkt uses are read and checked). */
export function parseImageConfig(bytes: Buffer | string, what: string): ImageConfig {
  const o = parseJson(bytes, what);
  const c = o['config'] === undefined || o['config'] === null ? {} : obj(o['config'], what, 'config');
  const exposed = c['ExposedPorts'] === undefined || c['ExposedPorts'] === null ? undefined : Object.keys(obj(c['ExposedPorts'], what, 'config.ExposedPorts'));
  const volumes = c['Volumes'] === undefined || c['Volumes'] === null ? undefined : Object.keys(obj(c['Volumes'], what, 'config.Volumes'));
  const rootfs = o['rootfs'] === undefined ? {} : obj(o['rootfs'], what, 'rootfs');
  const diffIds = (strList(rootfs['diff_ids'], what, 'rootfs.diff_ids') ?? []).map((d, i) => checkDigest(d, what, `rootfs.diff_ids[${i}]`));
  const config: ImageConfig['config'] = {};
  const set = <K extends keyof ImageConfig['config']>(k: K, v: ImageConfig['config'][K] | undefined) => {
    if (v !== undefined) (config as Record<string, unknown>)[k] = v;
  };
  set('User', optStr(c['User'], what, 'config.User'));
  set('ExposedPorts', exposed);
  set('Env', strList(c['Env'], what, 'config.Env'));
  set('Entrypoint', strList(c['Entrypoint'], what, 'config.Entrypoint'));
  set('Cmd', strList(c['Cmd'], what, 'config.Cmd'));
  set('Volumes', volumes);
  set('WorkingDir', optStr(c['WorkingDir'], what, 'config.WorkingDir'));
  set('Labels', strMap(c['Labels'], what, 'config.Labels'));
  const os = optStr(o['os'], what, 'os');
  const architecture = optStr(o['architecture'], what, 'architecture');
  return { ...(os !== undefined ? { os } : {}), ...(architecture !== undefined ? { architecture } : {}), config, diffIds };
}
