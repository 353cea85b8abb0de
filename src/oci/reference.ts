/**
 * OCI and Docker image references as users write them: `docker://[REGISTRY[:PORT]/]REPO[:TAG|@sha256:DIGEST]`,
 * `oci-archive:PATH[:REF]` and `oci:DIR[:REF]`. Pure: no file system, no network.
 */
import { RktError } from '../common/errors.js';

/** Docker Hub as references name it, and the host its registry API answers on. */
export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';
export const DEFAULT_TAG = 'latest';

/** An image in a registry: `registry` is the host[:port] as written (docker.io when none). */
export interface RegistryReference {
  readonly kind: 'docker';
  readonly registry: string;
  /** The repository path, `library/` added for a single name on Docker Hub. */
  readonly repository: string;
  /** The tag; `latest` when neither tag nor digest was given. Undefined when pinned by digest alone. */
  readonly tag?: string;
  /** `sha256:<64 hex>` when the reference is pinned by digest. */
  readonly digest?: string;
}

/** An image in an OCI layout (a directory, or a tar of one): `ref` picks a manifest by its ref.name annotation. */
export interface LayoutReference {
  readonly kind: 'oci' | 'oci-archive';
  readonly path: string;
  readonly ref?: string;
}

export type OciReference = RegistryReference | LayoutReference;

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** True if `arg` is written as an OCI or Docker reference (it starts with docker://, oci: or oci-archive:). */
export function isOciReference(arg: string): boolean {
  return arg.startsWith('docker://') || arg.startsWith('oci:') || arg.startsWith('oci-archive:');
}

function bad(arg: string, why: string): RktError {
  return new RktError('ENAME', `invalid image reference "${arg}": ${why}`, {
    hint: 'write docker://[REGISTRY[:PORT]/]REPO[:TAG|@sha256:DIGEST], oci:DIR[:REF] or oci-archive:PATH[:REF]',
  });
}

/** Whether the first path component names a registry host, as Docker decides: it has a dot or a port, or is localhost. */
function isRegistryHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

function parseDocker(arg: string): RegistryReference {
  let rest = arg.slice('docker://'.length);
  if (rest === '') throw bad(arg, 'no repository');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(arg, `"${digest}" is not a sha256 digest (sha256: and 64 lowercase hex digits)`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(arg, `"${tag}" is not a valid tag`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0];
  if (parts.length > 1 && first !== undefined && isRegistryHost(first)) {
    registry = first;
    parts.shift();
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (parts.length === 0) throw bad(arg, 'no repository');
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw bad(arg, `repository component "${p}" must be lowercase letters and digits, separated by ".", "_", "__" or "-"`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { kind: 'docker', registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

function parseLayout(arg: string, kind: 'oci' | 'oci-archive'): LayoutReference {
  const rest = arg.slice(kind.length + 1);
  // PATH[:REF]: the last colon splits, unless what follows it has a slash (then it is part of the path).
  const colon = rest.lastIndexOf(':');
  let p = rest;
  let ref: string | undefined;
  if (colon !== -1 && !rest.slice(colon + 1).includes('/')) {
    p = rest.slice(0, colon);
    ref = rest.slice(colon + 1);
    if (ref === '') ref = undefined;
  }
  if (p === '') throw bad(arg, `no ${kind === 'oci' ? 'directory' : 'archive path'}`);
  return { kind, path: p, ...(ref !== undefined ? { ref } : {}) };
}

/** Parse a reference (see the module comment); throws ENAME naming what is wrong. */
export function parseOciReference(arg: string): OciReference {
  if (arg.startsWith('docker://')) return parseDocker(arg);
  if (arg.startsWith('oci-archive:')) return parseLayout(arg, 'oci-archive');
  if (arg.startsWith('oci:')) return parseLayout(arg, 'oci');
  throw bad(arg, 'not a docker://, oci: or oci-archive: reference');
}

/** The host the registry API of `registry` answers on (Docker Hub's differs from its name). */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** The reference written back in full: `docker://docker.io/library/busybox:latest`, `oci:DIR:REF`. */
export function formatReference(ref: OciReference): string {
  if (ref.kind !== 'docker') return `${ref.kind}:${ref.path}${ref.ref !== undefined ? `:${ref.ref}` : ''}`;
  return `docker://${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The appc-style name of an image from a reference: `registry/repository` (tag and digest go to labels). */
export function imageNameOf(ref: OciReference): string {
  const raw = ref.kind === 'docker' ? `${ref.registry}/${ref.repository}` : `oci/${ref.path.replace(/\/+$/, '').split('/').pop() ?? 'image'}`;
  // An AC Identifier: a port's colon (127.0.0.1:5000) and anything else appc names refuse become `-`.
  const name = raw.toLowerCase().replace(/[^a-z0-9._~/-]+/g, '-').replace(/([-._~/])[-._~/]+/g, '$1').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return name === '' ? 'oci/image' : name;
}
