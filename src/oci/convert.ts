/**
 * The appc image manifest an OCI image yields: its config becomes the app (Entrypoint + Cmd → exec, Env,
 * WorkingDir, User, ExposedPorts → ports named as docker2aci named them, Volumes → mount points, Labels →
 * annotations), and the reference, digest and registry become annotations. Pure: passwd and group of the
 * image's own rootfs come in as text.
 */
import { RktError } from '../common/errors.js';
import type { Label } from '../image/labels.js';
import { isAcIdentifier } from '../image/names.js';
import type { Annotation, App, EnvironmentVariable, ImageManifest, MountPoint, Port } from '../image/manifest.js';
import type { ImageConfig } from './manifest.js';

/** Annotation names rkt writes on an image converted from OCI (read back by `rkt image list` and the store). */
export const OCI_ANNOTATIONS = {
  reference: 'coreos.com/rkt/oci/reference',
  digest: 'coreos.com/rkt/oci/manifest-digest',
  registry: 'coreos.com/rkt/oci/registry',
  repository: 'coreos.com/rkt/oci/repository',
  tag: 'coreos.com/rkt/oci/tag',
} as const;

export interface ConvertInput {
  /** The appc image name (see reference.ts `imageNameOf`). */
  readonly name: string;
  readonly config: ImageConfig;
  /** The full reference as written back (`docker://registry/repo:tag`). */
  readonly reference: string;
  readonly manifestDigest: string;
  readonly registry?: string;
  readonly repository?: string;
  readonly tag?: string;
  /** `/etc/passwd` and `/etc/group` of the image's rootfs, when it has them (to resolve a user name's group). */
  readonly passwd?: string;
  readonly group?: string;
}

/** A mount point name from a path: `/var/lib/data` → `volume-var-lib-data`, as docker2aci named them. */
export function volumeName(p: string): string {
  const body = p.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `volume-${body === '' ? 'root' : body}`;
}

/** An ExposedPorts key (`80/tcp`, `53/udp`, `8080`) as an appc port named `80-tcp`. */
export function portOf(key: string, what: string): Port {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp))?$/.exec(key.trim().toLowerCase());
  const port = m?.[1] !== undefined ? Number(m[1]) : NaN;
  if (m === null || !(port >= 1 && port <= 65535)) throw new RktError('EOCI', `${what}: exposed port "${key}" is not PORT[/tcp|/udp]`);
  const protocol = (m[3] ?? 'tcp') as 'tcp' | 'udp';
  const end = m[2] !== undefined ? Number(m[2]) : port;
  if (!(end >= port && end <= 65535)) throw new RktError('EOCI', `${what}: exposed port range "${key}" is not ascending`);
  return { name: `${port}-${protocol}`, protocol, port, count: end - port + 1 };
}

/** The fields of a passwd or group line by name (field 0), or undefined. */
function lineOf(text: string | undefined, name: string): string[] | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return f;
  }
  return undefined;
}

/**
 * appc user and group for an OCI `User`: empty → root (0/0); `uid` or `name` → that user and, where the image's
 * passwd says, their primary group (else 0); `user:group` as given. appc resolves names against the image.
 */
export function userAndGroup(user: string | undefined, passwd?: string, group?: string): { user: string; group: string } {
  const u = (user ?? '').trim();
  if (u === '') return { user: '0', group: '0' };
  const colon = u.indexOf(':');
  if (colon !== -1) {
    const name = u.slice(0, colon) || '0';
    const g = u.slice(colon + 1) || '0';
    return { user: name, group: g };
  }
  const entry = /^\d+$/.test(u) ? passwd?.split('\n').map((l) => l.split(':')).find((f) => f[2] === u) : lineOf(passwd, u);
  const gid = entry?.[3];
  if (gid === undefined || !/^\d+$/.test(gid)) return { user: u, group: '0' };
  // A group name when the image has one, so the app's group reads as the image's /etc/group says.
  const gname = group?.split('\n').map((l) => l.split(':')).find((f) => f[2] === gid)?.[0];
  return { user: u, group: gname !== undefined && gname !== '' ? gname : gid };
}

function environment(env: readonly string[] | undefined): EnvironmentVariable[] {
  const out = new Map<string, string>();
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    if (eq <= 0) continue;
    out.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return [...out].map(([name, value]) => ({ name, value }));
}

/** The appc architecture label for an OCI architecture (`arm64` → `aarch64`), or undefined if appc has none. */
export function appcArch(arch: string | undefined, variant?: string): string | undefined {
  switch (arch) {
    case undefined: return undefined;
    case 'amd64': return 'amd64';
    case '386': return 'i386';
    case 'arm64': return 'aarch64';
    case 'arm': return variant === 'v6' ? 'armv6l' : 'armv7l';
    case 'ppc64le': return 'ppc64le';
    case 's390x': return 's390x';
    default: return undefined;
  }
}

/** `s` made an AC Identifier (lowercase, runs of other characters as one `-`), or undefined if nothing is left. */
export function acIdentifierOf(s: string): string | undefined {
  if (isAcIdentifier(s)) return s;
  const t = s.toLowerCase().replace(/[^a-z0-9._~/-]+/g, '-').replace(/[-._~/]{2,}/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return isAcIdentifier(t) ? t : undefined;
}

/** The appc image manifest of an OCI image (see the module comment). */
export function convertConfig(i: ConvertInput): ImageManifest {
  const c = i.config.config;
  const what = i.reference;
  const exec = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  const { user, group } = userAndGroup(c.User, i.passwd, i.group);
  const ports = new Map<string, Port>();
  for (const key of c.ExposedPorts ?? []) {
    const p = portOf(key, what);
    ports.set(p.name, p);
  }
  const mounts = new Map<string, MountPoint>();
  for (const v of c.Volumes ?? []) mounts.set(volumeName(v), { name: volumeName(v), path: v.startsWith('/') ? v : `/${v}` });
  const app: App = {
    exec, user, group, supplementaryGIDs: [], eventHandlers: [],
    ...(c.WorkingDir !== undefined && c.WorkingDir !== '' ? { workingDirectory: c.WorkingDir } : {}),
    environment: environment(c.Env), isolators: [], mountPoints: [...mounts.values()],
    // By number: JSON object keys that look like integers ("8080") do not keep their order.
    ports: [...ports.values()].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol)),
  };
  const labels: Label[] = [];
  if (i.tag !== undefined) labels.push({ name: 'version', value: i.tag });
  if (i.config.os !== undefined) {
    labels.push({ name: 'os', value: i.config.os });
    const arch = appcArch(i.config.architecture);
    if (arch !== undefined) labels.push({ name: 'arch', value: arch });
  }
  const annotations: Annotation[] = [];
  const seen = new Set<string>();
  const add = (raw: string, value: string | undefined) => {
    const name = acIdentifierOf(raw);
    if (value === undefined || name === undefined || seen.has(name)) return;
    seen.add(name);
    annotations.push({ name, value });
  };
  add(OCI_ANNOTATIONS.reference, i.reference);
  add(OCI_ANNOTATIONS.digest, i.manifestDigest);
  add(OCI_ANNOTATIONS.registry, i.registry);
  add(OCI_ANNOTATIONS.repository, i.repository);
  add(OCI_ANNOTATIONS.tag, i.tag);
  for (const [k, v] of Object.entries(c.Labels ?? {})) add(k, v);
  return {
    acKind: 'ImageManifest', acVersion: '0.8.11', name: i.name, labels, app,
    dependencies: [], pathWhitelist: [], annotations,
  };
}
