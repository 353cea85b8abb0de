/**
 * OCI test fixtures: layer tars written from directory specs, OCI image layouts built from them (gzip, zstd or
 * plain layers; a manifest list of several platforms), and a real registry (Debian's docker-registry) on
 * 127.0.0.1 filled with `skopeo copy`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO } from './rkt.js';

export const OCI_TOOLS_MISSING: string | undefined = (() => {
  for (const tool of ['docker-registry', 'skopeo', 'zstd', 'python3']) {
    const found = execFileSync('sh', ['-c', `command -v ${tool} || true`]).toString().trim();
    if (found === '') return `${tool} is not installed (hack/setup installs it)`;
  }
  return undefined;
})();

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** One entry of a layer: a file with content, a dir, a symlink, a hard link, or a raw name (whiteouts). */
export type LayerEntry =
  | { readonly path: string; readonly content: string; readonly mode?: number }
  | { readonly path: string; readonly dir: true }
  | { readonly path: string; readonly symlink: string }
  | { readonly path: string; readonly hardlink: string };

/** A layer tar (GNU tar, numeric owners 0) of `entries`, written through a directory in `work`. */
export function layerTar(work: string, entries: readonly LayerEntry[]): Buffer {
  const dir = mkdtempSync(path.join(work, 'layer-'));
  const names: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.path);
    mkdirSync(path.dirname(p), { recursive: true });
    if ('content' in e) writeFileSync(p, e.content, { mode: e.mode ?? 0o644 });
    else if ('dir' in e) mkdirSync(p, { recursive: true });
    else if ('symlink' in e) execFileSync('ln', ['-s', e.symlink, p]);
    else execFileSync('ln', [path.join(dir, e.hardlink), p]);
    names.push(e.path);
  }
  const tar = execFileSync('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '--no-recursion', ...names], { maxBuffer: 1 << 28 });
  rmSync(dir, { recursive: true, force: true });
  return tar;
}

/** The busybox base layer: the rootfs of build/busybox.aci as a tar. */
export function busyboxLayer(work: string): Buffer {
  const dir = mkdtempSync(path.join(work, 'busybox-'));
  execFileSync('tar', ['-C', dir, '-xf', path.join(REPO, 'build/busybox.aci'), 'rootfs']);
  const tar = execFileSync('tar', ['-C', path.join(dir, 'rootfs'), '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
  rmSync(dir, { recursive: true, force: true });
  return tar;
}

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface ImageSpec {
  readonly layers: readonly { readonly tar: Buffer; readonly compression?: LayerCompression }[];
  readonly config?: Record<string, unknown>;
  readonly architecture?: string;
  /** The config's rootfs.diff_ids from the layers' true ones (a config that lies about its layers). */
  readonly diffIds?: (real: readonly string[]) => readonly string[];
}

/** Write a blob into a layout; returns its descriptor fields. */
function blob(layout: string, bytes: Buffer): { digest: string; size: number } {
  const digest = sha(bytes);
  const dir = path.join(layout, 'blobs', 'sha256');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

function compress(tar: Buffer, c: LayerCompression): Buffer {
  if (c === 'gzip') return gzipSync(tar);
  if (c === 'zstd') return execFileSync('zstd', ['-q', '-c'], { input: tar, maxBuffer: 1 << 28 });
  return tar;
}

const LAYER_TYPE: Record<LayerCompression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

/** Write one image's config, layers and manifest into `layout`; returns the manifest's descriptor. */
export function writeImage(layout: string, spec: ImageSpec): { digest: string; size: number; mediaType: string; layerDigests: string[] } {
  const layers = spec.layers.map((l) => ({ ...blob(layout, compress(l.tar, l.compression ?? 'gzip')), mediaType: LAYER_TYPE[l.compression ?? 'gzip'], diff: sha(l.tar) }));
  const config = Buffer.from(JSON.stringify({
    architecture: spec.architecture ?? 'amd64', os: 'linux', config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: (spec.diffIds ?? ((d) => d))(layers.map((l) => l.diff)) },
  }));
  const cfg = blob(layout, config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  }));
  return { ...blob(layout, manifest), mediaType: 'application/vnd.oci.image.manifest.v1+json', layerDigests: layers.map((l) => l.digest) };
}

/** An OCI layout at `layout` whose index.json names each of `refs` (ref.name → manifest descriptor). */
export function writeLayout(layout: string, refs: Readonly<Record<string, { digest: string; size: number; mediaType: string }>>): void {
  mkdirSync(layout, { recursive: true });
  writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: Object.entries(refs).map(([ref, d]) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { 'org.opencontainers.image.ref.name': ref } })),
  }));
}

/** An index (manifest list) of `entries` by platform, written as a blob; returns its descriptor. */
export function writeIndex(layout: string, entries: readonly { digest: string; size: number; mediaType: string; arch: string }[]): { digest: string; size: number; mediaType: string } {
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: entries.map((e) => ({ mediaType: e.mediaType, digest: e.digest, size: e.size, platform: { os: 'linux', architecture: e.arch } })),
  }));
  return { ...blob(layout, bytes), mediaType: 'application/vnd.oci.image.index.v1+json' };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

export interface TestRegistry {
  /** host:port */
  readonly host: string;
  /** The registry's storage (`docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data` holds each blob as served). */
  readonly dataDir: string;
  readonly stop: () => Promise<void>;
  /** `skopeo copy` of `oci:LAYOUT:REF` to `REPO:TAG` in this registry (--all keeps an index whole). */
  readonly push: (layout: string, ref: string, repoTag: string, all?: boolean) => void;
}

/**
 * Start docker-registry on 127.0.0.1 at a free port, with TLS (cert/key) or plain http, and htpasswd auth when
 * `users` is given ({user: password}). Resolves once it answers /v2/.
 */
export async function startRegistry(work: string, opts: { tls?: { cert: string; key: string; ca: string }; users?: Readonly<Record<string, string>> }): Promise<TestRegistry> {
  const port = await freePort();
  const root = mkdtempSync(path.join(work, 'registry-'));
  let auth = '';
  if (opts.users !== undefined) {
    // docker-registry reads bcrypt hashes only: libcrypt's (through python3's crypt) makes them.
    const file = path.join(root, 'htpasswd');
    const hash = (p: string) => execFileSync('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))', p]).toString().trim();
    writeFileSync(file, Object.entries(opts.users).map(([u, p]) => `${u}:${hash(p)}`).join('\n') + '\n');
    auth = `auth:\n  htpasswd:\n    realm: rkt-test\n    path: ${file}\n`;
  }
  const tls = opts.tls !== undefined ? `  tls:\n    certificate: ${opts.tls.cert}\n    key: ${opts.tls.key}\n` : '';
  const config = `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${root}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${tls}${auth}`;
  writeFileSync(path.join(root, 'config.yml'), config);
  const child: ChildProcess = spawn('docker-registry', ['serve', path.join(root, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 400) throw new Error(`docker-registry did not listen on ${host}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const creds = opts.users !== undefined ? Object.entries(opts.users)[0] : undefined;
  // skopeo reads every *.crt of its cert dir as a CA and pairs each *.key with a client cert: the CA alone.
  const certDir = path.join(root, 'certs');
  mkdirSync(certDir);
  if (opts.tls !== undefined) writeFileSync(path.join(certDir, 'ca.crt'), readFileSync(opts.tls.ca));
  return {
    host,
    dataDir: path.join(root, 'data'),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(root, { recursive: true, force: true });
    },
    push: (layout, ref, repoTag, all = false) => {
      const args = ['copy', '--quiet', ...(all ? ['--all'] : []), '--dest-tls-verify=' + (opts.tls !== undefined ? 'true' : 'false'),
        ...(opts.tls !== undefined ? ['--dest-cert-dir', certDir] : []),
        ...(creds !== undefined ? ['--dest-creds', `${creds[0]}:${creds[1]}`] : []),
        '--preserve-digests', `oci:${layout}:${ref}`, `docker://${host}/${repoTag}`];
      execFileSync('skopeo', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    },
  };
}

/** The files under `dir` (relative paths), sorted, for comparing trees. */
export function listTree(dir: string): string[] {
  return execFileSync('find', ['.', '-mindepth', '1'], { cwd: dir }).toString().trim().split('\n').filter((s) => s !== '').sort();
}

export { readFileSync };
