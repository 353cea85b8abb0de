/**
 * Fetching an OCI image into the store, from a registry (`docker://`), an OCI layout directory (`oci:`) or a
 * tar of one (`oci-archive:`): the manifest (an index resolved to linux/amd64), the config, and each layer not
 * yet stored, every blob verified by its digest; then the appc manifest the config yields and the record.
 * Trust: an OCI image has no appc signature, so it needs `--insecure-options=image` unless the reference pins
 * it by digest (its content is then what the digest says).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { describe, isErrno, RktError } from '../common/errors.js';
import { readConfig } from '../common/config.js';
import { serializeImageManifest } from '../image/manifest.js';
import { TarScanner } from '../image/tar-scan.js';
import type { FetchOptions } from '../fetch/options.js';
import { startExtraction } from '../store/extract.js';
import { ensureStoreDir, type StoreLayout } from '../store/layout.js';
import {
  LayerChecker, ociBlob, TREE_LAYERS_FILE, ociBlobsDir, readLayerInfo, renderLayers, storeBlobBytes, storeLayer, type OciRecordInfo,
} from '../store/oci.js';
import { listRecords, writeRecord, type ImageRecord } from '../store/records.js';
import { convertConfig } from './convert.js';
import {
  layerCompression, parseImageConfig, parseManifestOrIndex, selectByRefName, selectPlatform, type Descriptor, type ImageManifest,
} from './manifest.js';
import { formatReference, imageNameOf, parseOciReference, type OciReference } from './reference.js';
import { credentialsFor, digestVerifier, RegistryClient, type FetchedManifest } from './registry.js';

/** Where manifests and blobs come from: a registry or a layout on disk. */
interface BlobSource {
  /** The top-level manifest or index the reference names. */
  top(): Promise<FetchedManifest>;
  /** A manifest by digest (an index entry). */
  manifest(digest: string): Promise<FetchedManifest>;
  /** A blob to `file` (must not exist), verified. */
  blob(d: Descriptor, file: string): Promise<void>;
  close(): Promise<void>;
}

async function readBlobFile(dir: string, digest: string, what: string): Promise<Buffer> {
  const file = path.join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new RktError('EOCI', `${what}: blob ${digest} is missing from the layout`);
    throw new RktError('EOCI', `${what}: cannot read ${file}: ${describe(err)}`, { cause: err });
  }
  const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (got !== digest) throw new RktError('EOCIDIGEST', `${what}: blob ${digest} does not match its digest (got ${got})`);
  return bytes;
}

/** An OCI layout directory as a blob source; `cleanup` removes what an archive was unpacked into. */
function layoutSource(dir: string, ref: string | undefined, what: string, cleanup?: () => Promise<void>): BlobSource {
  return {
    async top() {
      let text: Buffer;
      try {
        text = await fs.readFile(path.join(dir, 'index.json'));
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw new RktError('EOCI', `${what}: not an OCI layout (no index.json)`);
        throw new RktError('EOCI', `${what}: cannot read index.json: ${describe(err)}`, { cause: err });
      }
      const index = parseManifestOrIndex(text, `${what}: index.json`);
      if (index.kind !== 'index') throw new RktError('EOCI', `${what}: index.json is not an image index`);
      const d = selectByRefName(index, what, ref);
      const bytes = await readBlobFile(dir, d.digest, what);
      return { bytes, digest: d.digest, contentType: d.mediaType };
    },
    async manifest(digest) {
      return { bytes: await readBlobFile(dir, digest, what), digest, contentType: undefined };
    },
    async blob(d, file) {
      const src = path.join(dir, 'blobs', 'sha256', d.digest.slice('sha256:'.length));
      try {
        await fs.access(src);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) throw new RktError('EOCI', `${what}: blob ${d.digest} is missing from the layout`, { cause: err });
        throw err;
      }
      try {
        await pipeline(createReadStream(src), digestVerifier(d.digest, d.size, `${what}: blob ${d.digest}`), createWriteStream(file, { flags: 'wx', mode: 0o644 }));
      } catch (err) {
        await fs.rm(file, { force: true });
        throw err;
      }
    },
    close: cleanup ?? (async () => undefined),
  };
}

/** Unpack an OCI archive into `dir` (existing, empty), every header checked first as a layer's would be. */
async function unpackArchive(archive: string, dir: string, what: string): Promise<void> {
  const checker = new LayerChecker(what);
  const scanner = new TarScanner({ onEntry: (h) => { checker.check(h); return false; } });
  try {
    for await (const chunk of createReadStream(archive)) scanner.write(chunk as Buffer);
    scanner.end();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new RktError('ENOFILE', `${what}: no such file`, { cause: err });
    if (err instanceof RktError) throw err;
    throw new RktError('EOCI', `${what}: cannot read the archive: ${describe(err)}`, { cause: err });
  }
  const x = startExtraction(dir, what);
  try {
    await pipeline(createReadStream(archive), x.stdin);
  } catch (err) {
    // GNU tar stops reading at the end-of-archive blocks: what follows (padding) is not its to read.
    if (!isErrno(err, 'EPIPE') && !isErrno(err, 'ERR_STREAM_PREMATURE_CLOSE')) throw err;
  }
  await x.done;
}

async function sourceFor(opts: FetchOptions, ref: OciReference, what: string): Promise<BlobSource> {
  if (ref.kind !== 'docker') {
    if (ref.kind === 'oci') return layoutSource(ref.path, ref.ref, what);
    await ensureStoreDir(opts.store.layout.tmp);
    const dir = path.join(opts.store.layout.tmp, `oci-archive-${process.pid}-${randomBytes(6).toString('hex')}`);
    await fs.mkdir(dir, { mode: 0o700 });
    const cleanup = () => fs.rm(dir, { recursive: true, force: true });
    try {
      await unpackArchive(ref.path, dir, what);
    } catch (err) {
      await cleanup();
      throw err;
    }
    return layoutSource(dir, ref.ref, what, cleanup);
  }
  const config = await readConfig(opts.globals);
  const credentials = credentialsFor(config.dockerAuth, ref.registry);
  const client = new RegistryClient(ref, {
    allowHttp: opts.globals.insecure.has('http'), insecureTls: opts.globals.insecure.has('tls'),
    ...(credentials !== undefined ? { credentials } : {}), ...(opts.note !== undefined ? { note: opts.note } : {}),
  });
  return {
    top: () => client.manifest(ref.digest ?? ref.tag ?? 'latest'),
    manifest: (digest) => client.manifest(digest),
    blob: (d, file) => client.blob(d.digest, d.size, file),
    close: async () => undefined,
  };
}

/** The stored image fetched earlier from exactly this reference (newest first), if any. */
export async function findOciImage(layout: StoreLayout, arg: string): Promise<ImageRecord | undefined> {
  const want = formatReference(parseOciReference(arg));
  const recs = (await listRecords(layout)).filter((r) => r.oci?.reference === want);
  return recs.sort((a, b) => b.importTime.localeCompare(a.importTime))[0];
}

/** The trust rule of the module comment; throws ESIGNATURE saying exactly what would do. */
export function checkOciTrust(ref: OciReference, insecureImage: boolean, arg: string): void {
  if (insecureImage) return;
  if (ref.kind === 'docker' && ref.digest !== undefined) return;
  throw new RktError('ESIGNATURE', `${arg} cannot be verified: OCI and Docker images carry no appc signature`, {
    hint: 'pin the image by digest (docker://REPO@sha256:…, verified by its content), or skip the check with --insecure-options=image',
  });
}

/** Read a small file of the rendered rootfs if it is a regular file there (never through a symlink). */
async function rootfsText(rootfs: string, rel: string): Promise<string | undefined> {
  const p = path.join(rootfs, rel);
  try {
    const st = await fs.lstat(p);
    if (!st.isFile() || st.size > 1 << 20) return undefined;
    return await fs.readFile(p, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  }
}

/**
 * Fetch the OCI image `arg` names (docker://, oci:, oci-archive:) under the pull policy; returns its record.
 */
export async function fetchOciImage(opts: FetchOptions, arg: string): Promise<ImageRecord> {
  const ref = parseOciReference(arg);
  const reference = formatReference(ref);
  const l = opts.store.layout;
  const stored = await findOciImage(l, arg);
  if (stored !== undefined && (opts.pullPolicy === 'never' || (opts.pullPolicy === 'new' && ref.kind === 'docker'))) return stored;
  if (opts.pullPolicy === 'never') throw new RktError('ENOIMAGE', `no image from ${reference} in the store and --pull-policy=never`, { hint: `fetch it first: rkt fetch ${arg}` });
  checkOciTrust(ref, opts.globals.insecure.has('image'), arg);
  const what = reference;
  const src = await sourceFor(opts, ref, what);
  try {
    let top = await src.top();
    let doc = parseManifestOrIndex(top.bytes, `${what}: manifest`, top.contentType);
    if (doc.kind === 'index') {
      const entry = selectPlatform(doc, what);
      top = await src.manifest(entry.digest);
      doc = parseManifestOrIndex(top.bytes, `${what}: manifest ${entry.digest}`, top.contentType ?? entry.mediaType);
      if (doc.kind !== 'manifest') throw new RktError('EOCI', `${what}: index entry ${entry.digest} is another index`);
    }
    const manifest: ImageManifest = doc;
    const id = `sha512-${createHash('sha512').update(top.bytes).digest('hex')}`;
    const existing = await opts.store.get(id);
    if (existing !== undefined && existing.oci !== undefined) {
      opts.note?.(`rkt: ${reference}: image ${top.digest} is already in the store`);
      const now = new Date().toISOString();
      const updated: ImageRecord = { ...existing, lastUsed: now, oci: { ...existing.oci, reference, ...(ref.kind === 'docker' && ref.tag !== undefined ? { tag: ref.tag } : {}) } };
      await writeRecord(l, updated);
      return updated;
    }
    await ensureStoreDir(ociBlobsDir(l));
    await ensureStoreDir(l.tmp);
    const tmpFile = (d: string) => path.join(l.tmp, `blob-${process.pid}-${randomBytes(6).toString('hex')}-${d.slice(7, 19)}`);
    // The config, verified and kept by digest.
    const cfgTmp = tmpFile(manifest.config.digest);
    await src.blob(manifest.config, cfgTmp);
    const configBytes = await fs.readFile(cfgTmp);
    await fs.rm(cfgTmp, { force: true });
    const config = parseImageConfig(configBytes, `${what}: config`);
    await storeBlobBytes(l, manifest.config.digest, configBytes);
    await storeBlobBytes(l, top.digest, top.bytes);
    // The layers not yet stored: each downloaded (verified), kept by digest, extracted once.
    let blobBytes = 0;
    let contentBytes = 0;
    for (const [i, layer] of manifest.layers.entries()) {
      const compression = layerCompression(layer.mediaType, `${what}: layer ${i}`);
      const have = await readLayerInfo(l, layer.digest);
      blobBytes += layer.size;
      if (have !== undefined) {
        contentBytes += have.contentBytes;
        opts.note?.(`rkt: ${reference}: layer ${layer.digest} already stored`);
        continue;
      }
      const blobFile = ociBlob(l, layer.digest);
      let present = true;
      try {
        await fs.access(blobFile);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        present = false;
      }
      if (!present) {
        opts.note?.(`rkt: ${reference}: downloading layer ${layer.digest} (${layer.size} bytes)`);
        const t = tmpFile(layer.digest);
        await src.blob(layer, t);
        await fs.rename(t, blobFile);
      }
      const info = await storeLayer(l, layer.digest, blobFile, compression, `${what}: layer ${layer.digest}`);
      contentBytes += info.contentBytes;
    }
    // The tree: the appc manifest and the rootfs rendered from the layers by hard links.
    const work = path.join(l.tmp, `oci-${process.pid}-${randomBytes(6).toString('hex')}`);
    await fs.mkdir(path.join(work, 'rootfs'), { recursive: true, mode: 0o755 });
    try {
      const layers = manifest.layers.map((d) => d.digest);
      await renderLayers(l, layers, path.join(work, 'rootfs'));
      const appc = convertConfig({
        name: imageNameOf(ref), config, reference, manifestDigest: top.digest,
        ...(ref.kind === 'docker' ? { registry: ref.registry, repository: ref.repository, ...(ref.tag !== undefined ? { tag: ref.tag } : {}) } : {}),
        ...(ref.kind !== 'docker' && ref.ref !== undefined ? { tag: ref.ref } : {}),
        passwd: await rootfsText(path.join(work, 'rootfs'), 'etc/passwd'),
        group: await rootfsText(path.join(work, 'rootfs'), 'etc/group'),
      });
      await fs.writeFile(path.join(work, 'manifest'), serializeImageManifest(appc) + '\n');
      await fs.writeFile(path.join(work, TREE_LAYERS_FILE), JSON.stringify(layers) + '\n');
      // The rendered tree is hard links into the layers: it takes no data blocks of its own, and walking it
      // to count would cost a stat per file.
      const treeSize = contentBytes;
      await ensureStoreDir(l.trees);
      try {
        await fs.rename(work, l.tree(id));
      } catch (err) {
        if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
        await fs.rm(work, { recursive: true, force: true });
      }
      const now = new Date().toISOString();
      const oci: OciRecordInfo = {
        reference, manifestDigest: top.digest, configDigest: manifest.config.digest, layers,
        source: ref.kind === 'docker' ? `${ref.registry}/${ref.repository}` : ref.path,
        ...(ref.kind === 'docker' && ref.tag !== undefined ? { tag: ref.tag } : {}),
      };
      const record: ImageRecord = {
        id, name: appc.name, labels: appc.labels, importTime: now, lastUsed: now, blobSize: blobBytes, size: contentBytes,
        treeSize, compression: 'oci', latest: ref.kind === 'docker' && ref.tag === 'latest', dependencies: [], oci,
      };
      // The blob file must exist for the store's bookkeeping (touchRecord): the image's manifest, by its Image ID.
      await ensureStoreDir(l.blobs);
      await fs.writeFile(l.blob(id), top.bytes, { flag: 'w' });
      await writeRecord(l, record);
      return record;
    } catch (err) {
      await fs.rm(work, { recursive: true, force: true });
      throw err;
    }
  } finally {
    await src.close();
  }
}
