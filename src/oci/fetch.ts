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
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, isErrno, RktError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import { readConfig } from '../common/config.js';
import { serializeImageManifest } from '../image/manifest.js';
import { TarScanner } from '../image/tar-scan.js';
import type { FetchOptions } from '../fetch/options.js';
import { startExtraction } from '../store/extract.js';
import { ensureStoreDir, type StoreLayout } from '../store/layout.js';
import {
  diffIdMismatch, LayerChecker, ociBlob, TREE_LAYERS_FILE, ociBlobsDir, publishLayer, readLayerInfo, stageLayer, storeBlobBytes, withOciLock,
  type LayerInfo, type OciRecordInfo, type StagedLayer,
} from '../store/oci.js';
import { lookupInLayers, ociLayerTree, type RootLookup } from '../store/oci-lowers.js';
import { listRecords, writeRecord, type ImageRecord } from '../store/records.js';
import { convertConfig } from './convert.js';
import {
  layerCompression, parseImageConfig, parseManifestOrIndex, selectByRefName, selectPlatform, type Descriptor, type ImageManifest,
} from './manifest.js';
import { formatReference, imageNameOf, parseOciReference, type OciReference } from './reference.js';
import { credentialsFor, digestVerifier, RegistryClient, type FetchedManifest } from './registry.js';

/** How many layers one fetch downloads and extracts at once (2 cores: one's I/O and tar overlap another's hashing). */
const LAYER_JOBS = 3;

/**
 * `job` for each item, at most `limit` at a time. On the first failure no new job starts; the ones running
 * are waited for (they write into the store's tmp/, which the caller cleans up after), then it is thrown.
 */
export async function forEachLimit<T>(items: readonly T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await job(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.err;
}

/** Where manifests and blobs come from: a registry or a layout on disk. */
interface BlobSource {
  /** The top-level manifest or index the reference names. */
  top(): Promise<FetchedManifest>;
  /** A manifest by digest (an index entry). */
  manifest(digest: string): Promise<FetchedManifest>;
  /** A blob's bytes, not yet checked (see fetchBlob, fetchAndStage), and the words naming it in messages. */
  open(d: Descriptor): Promise<{ readonly body: Readable; readonly what: string }>;
  close(): Promise<void>;
}

/** Blob `d` from `src` to `file` (created, must not exist), verified; on a failure the file is removed. */
async function fetchBlob(src: BlobSource, d: Descriptor, file: string): Promise<void> {
  const { body, what } = await src.open(d);
  try {
    await pipeline(body, digestVerifier(d.digest, d.size, what), createWriteStream(file, { flags: 'wx', mode: 0o644 }));
  } catch (err) {
    await fs.rm(file, { force: true });
    throw err;
  }
}

/**
 * Layer blob `d` from `src` to `file` (created, must not exist) and, from the same bytes as they arrive, its
 * staged extraction by `stage` (one pass over the blob: the download and the extraction overlap, and the blob
 * is never read back). The blob is judged first: when its size or digest is wrong (or the download fails),
 * that error is thrown whatever the extraction made of the bytes, and the staging is removed; otherwise the
 * extraction's own failure, if any. The extraction sees unchecked bytes, but only into tmp/, with every tar
 * header checked as for any layer, and it can only succeed once the digest has matched (its input ends only
 * after the verifier's check passed). If the extraction stops early the download still completes, so that a
 * corrupted blob is reported as one. On a failure `file` is removed.
 */
async function fetchAndStage(src: BlobSource, d: Descriptor, file: string, stage: (bytes: Readable) => Promise<StagedLayer>): Promise<StagedLayer> {
  const { body, what } = await src.open(d);
  const verifier = digestVerifier(d.digest, d.size, what);
  const feed = new PassThrough({ highWaterMark: 1 << 20 });
  // The extraction reports what fails it through its own promise below.
  feed.on('error', (err) => trace(`${what}: extraction input: ${describe(err)}, ignoring`));
  verifier.pipe(feed);
  const downloaded = pipeline(body, verifier, createWriteStream(file, { flags: 'wx', mode: 0o644 })).then(() => undefined, (err: unknown) => {
    // The extraction must not wait for bytes that will not come: it is ended (an end is kept until it is read,
    // where an error could be emitted before the extraction listens), then discarded below whatever it made.
    if (!feed.destroyed) feed.end();
    return { err };
  });
  // A refused layer stops reading: the download goes on to the file alone (pipe drops a destroyed target).
  const staging = stage(feed).then((staged) => ({ staged, err: undefined }), (err: unknown) => { feed.destroy(); return { staged: undefined, err }; });
  const [failed, { staged, err }] = await Promise.all([downloaded, staging]);
  if (failed === undefined && staged !== undefined) return staged;
  if (staged !== undefined) await fs.rm(staged.work, { recursive: true, force: true });
  await fs.rm(file, { force: true });
  throw failed !== undefined ? failed.err : err;
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
    async open(d) {
      const src = path.join(dir, 'blobs', 'sha256', d.digest.slice('sha256:'.length));
      try {
        await fs.access(src);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) throw new RktError('EOCI', `${what}: blob ${d.digest} is missing from the layout`, { cause: err });
        throw err;
      }
      return { body: createReadStream(src, { highWaterMark: 1 << 20 }), what: `${what}: blob ${d.digest}` };
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
    open: (d) => client.blobStream(d.digest),
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

/** Read a small file of the image's root through its layers if it is a regular file there (never through a symlink). */
async function rootText(lookup: RootLookup, rel: string): Promise<string | undefined> {
  const p = await lookup(rel);
  if (p === undefined) return undefined;
  const st = await fs.lstat(p);
  if (!st.isFile() || st.size > 1 << 20) return undefined;
  return fs.readFile(p, 'utf8');
}

/**
 * A pause point for tests (Documentation/hacking.md): with RKT_TEST_PAUSE_AT=`point`, say so on stderr and wait
 * until the FIFO RKT_TEST_PAUSE_FIFO is written to and closed, so that a test can act at exactly this point.
 */
async function testPause(point: string, what: string): Promise<void> {
  if (process.env['RKT_TEST_PAUSE_AT'] !== point) return;
  const fifo = process.env['RKT_TEST_PAUSE_FIFO'] ?? '';
  process.stderr.write(`rkt: RKT_TEST_PAUSE_AT=${point}: ${what}: waiting for ${fifo}\n`);
  await fs.readFile(fifo);
}

/** A layer this fetch holds in tmp/ until it commits: its extraction (unless stored) and its blob (unless stored). */
interface HeldLayer {
  readonly info: LayerInfo;
  /** Where its tree is now (staged or stored). */
  readonly tree: string;
  readonly staged?: StagedLayer;
  readonly blobTmp?: string;
}

/** The record of a fetch, not yet committed: its tree staged in tmp/ and the blobs and layers it names. */
interface PendingImage {
  readonly id: string;
  readonly work: string;
  readonly record: ImageRecord;
  readonly manifestBytes: Buffer;
  readonly manifestDigest: string;
  readonly configBytes: Buffer;
  readonly configDigest: string;
  readonly layers: readonly string[];
  readonly held: ReadonlyMap<string, HeldLayer>;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/** Layers of `layers` that the store does not have complete (tree, layer.json and blob), `held` ones aside. */
async function missingLayers(l: StoreLayout, layers: readonly string[], held?: ReadonlyMap<string, HeldLayer>): Promise<string[]> {
  const gone: string[] = [];
  for (const d of new Set(layers)) {
    const h = held?.get(d);
    const treeOk = h?.staged !== undefined || (await readLayerInfo(l, d)) !== undefined;
    const blobOk = h?.blobTmp !== undefined || (await exists(ociBlob(l, d)));
    if (!treeOk || !blobOk) gone.push(d);
  }
  return gone;
}

/**
 * Commit a fetched image under the OCI lock: re-check that every stored layer it reuses is still there (an
 * `image rm` or gc may have removed one since it was found), publish the layers and blobs it holds in tmp/,
 * store its manifest and config blobs, publish its tree and blob and write its record, which makes it exist.
 * Returns the layers found missing instead (nothing is then committed).
 */
async function commit(l: StoreLayout, p: PendingImage): Promise<string[]> {
  return withOciLock(l, async () => {
    const gone = await missingLayers(l, p.layers, p.held);
    if (gone.length > 0) return gone;
    for (const [d, h] of p.held) {
      if (h.staged !== undefined) await publishLayer(l, h.staged);
      if (h.blobTmp !== undefined) await fs.rename(h.blobTmp, ociBlob(l, d));
    }
    await storeBlobBytes(l, p.configDigest, p.configBytes);
    await storeBlobBytes(l, p.manifestDigest, p.manifestBytes);
    await ensureStoreDir(l.trees);
    try {
      await fs.rename(p.work, l.tree(p.id));
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      await fs.rm(p.work, { recursive: true, force: true });
    }
    // The blob file must exist for the store's bookkeeping (touchRecord): the image's manifest, by its Image ID.
    await ensureStoreDir(l.blobs);
    await fs.writeFile(l.blob(p.id), p.manifestBytes, { flag: 'w' });
    await writeRecord(l, p.record);
    return [];
  });
}

/**
 * Fetch the OCI image `arg` names (docker://, oci:, oci-archive:) under the pull policy; returns its record.
 * Nothing is listed and no blob or layer of it is left behind unless the whole image was fetched and checked.
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
    const layers = manifest.layers.map((d) => d.digest);
    // Stored already: the record is touched (and keeps the reference it was fetched by now), under the lock so
    // that an image rm cannot remove it meanwhile; if it is gone or lost a layer, it is fetched again.
    const touched = (await opts.store.get(id)) === undefined ? undefined : await withOciLock(l, async () => {
      const existing = await opts.store.get(id);
      if (existing === undefined || existing.oci === undefined || (await missingLayers(l, existing.oci.layers)).length > 0) return undefined;
      const now = new Date().toISOString();
      const updated: ImageRecord = { ...existing, lastUsed: now, oci: { ...existing.oci, reference, ...(ref.kind === 'docker' && ref.tag !== undefined ? { tag: ref.tag } : {}) } };
      await writeRecord(l, updated);
      return updated;
    });
    if (touched !== undefined) {
      opts.note?.(`rkt: ${reference}: image ${top.digest} is already in the store`);
      return touched;
    }
    await ensureStoreDir(ociBlobsDir(l));
    await ensureStoreDir(l.tmp);
    const tmpFile = (d: string) => path.join(l.tmp, `blob-${process.pid}-${randomBytes(6).toString('hex')}-${d.slice(7, 19)}`);
    // The config, verified; kept by digest when the image is committed.
    const cfgTmp = tmpFile(manifest.config.digest);
    let configBytes: Buffer;
    try {
      await fetchBlob(src, manifest.config, cfgTmp);
      configBytes = await fs.readFile(cfgTmp);
    } finally {
      await fs.rm(cfgTmp, { force: true });
    }
    const config = parseImageConfig(configBytes, `${what}: config`);
    if (config.diffIds.length !== manifest.layers.length) {
      throw new RktError('EOCI', `${what}: the image config lists ${config.diffIds.length} diff_ids for the manifest's ${manifest.layers.length} layers`, {
        hint: 'the image is corrupt: rebuild or push it again',
      });
    }
    const compressions = manifest.layers.map((layer, i) => layerCompression(layer.mediaType, `${what}: layer ${i}`));
    // Layers the store lacks are downloaded and extracted into tmp/ and published only by the commit.
    const held = new Map<string, HeldLayer>();
    const scratch: string[] = [];
    /** Layer i: stored already (its recorded diff_id checked against the config), or fetched into tmp/. */
    const ensureLayer = async (i: number): Promise<HeldLayer> => {
      const layer = manifest.layers[i];
      const diffId = config.diffIds[i];
      const compression = compressions[i];
      if (layer === undefined || diffId === undefined || compression === undefined) throw new Error(`no layer ${i}`);
      const lwhat = `${what}: layer ${layer.digest}`;
      const expect = { diffId, index: i };
      const already = held.get(layer.digest);
      if (already !== undefined) {
        if (already.info.diffId !== diffId) throw diffIdMismatch(lwhat, i, diffId, already.info.diffId);
        return already;
      }
      const blobFile = ociBlob(l, layer.digest);
      const have = await readLayerInfo(l, layer.digest);
      if (have !== undefined && have.diffId !== diffId) throw diffIdMismatch(`${lwhat} (stored, checked when it was fetched)`, i, diffId, have.diffId);
      let blobTmp: string | undefined;
      let staged: StagedLayer | undefined;
      if (!(await exists(blobFile))) {
        opts.note?.(`rkt: ${reference}: downloading layer ${layer.digest} (${layer.size} bytes)`);
        const file = tmpFile(layer.digest);
        scratch.push(file);
        // Neither blob nor tree stored: both from one pass over the download.
        if (have === undefined) staged = await fetchAndStage(src, layer, file, (bytes) => stageLayer(l, layer.digest, bytes, compression, lwhat, expect));
        else await fetchBlob(src, layer, file);
        blobTmp = file;
      } else if (have !== undefined) {
        opts.note?.(`rkt: ${reference}: layer ${layer.digest} already stored`);
      }
      let h: HeldLayer;
      if (have !== undefined) h = { info: have, tree: ociLayerTree(l, layer.digest), ...(blobTmp !== undefined ? { blobTmp } : {}) };
      else {
        staged ??= await stageLayer(l, layer.digest, blobFile, compression, lwhat, expect);
        scratch.push(staged.work);
        h = { info: staged.info, tree: path.join(staged.work, 'tree'), staged, ...(blobTmp !== undefined ? { blobTmp } : {}) };
      }
      if (h.staged !== undefined || h.blobTmp !== undefined) held.set(layer.digest, h);
      return h;
    };
    const work = path.join(l.tmp, `oci-${process.pid}-${randomBytes(6).toString('hex')}`);
    scratch.push(work);
    try {
      // Distinct layers are fetched and extracted LAYER_JOBS at a time: one's download, inflate (zlib's thread
      // pool) and GNU tar overlap another's hashing on this thread. A layer listed twice is then found held.
      const got = new Map<number, HeldLayer>();
      // Largest first: the biggest layer is the longest job, and started last it would run alone at the end.
      const firsts = manifest.layers.map((_d, i) => i).filter((i) => manifest.layers.findIndex((d) => d.digest === manifest.layers[i]?.digest) === i)
        .sort((a, b) => (manifest.layers[b]?.size ?? 0) - (manifest.layers[a]?.size ?? 0) || a - b);
      await forEachLimit(firsts, LAYER_JOBS, async (i) => { got.set(i, await ensureLayer(i)); });
      const stack: HeldLayer[] = [];
      for (let i = 0; i < manifest.layers.length; i++) stack.push(got.get(i) ?? await ensureLayer(i));
      const contentBytes = stack.reduce((n, h) => n + h.info.contentBytes, 0);
      // The tree: the appc manifest and the layer list; the rootfs is the layers themselves (never rendered).
      await fs.mkdir(work, { mode: 0o755 });
      const root: RootLookup = (rel) => lookupInLayers([...stack].reverse().map((h) => ({
        tree: h.tree, whiteouts: new Set(h.info.whiteouts), opaque: new Set(h.info.opaque),
      })), rel);
      const appc = convertConfig({
        name: imageNameOf(ref), config, reference, manifestDigest: top.digest,
        ...(ref.kind === 'docker' ? { registry: ref.registry, repository: ref.repository, ...(ref.tag !== undefined ? { tag: ref.tag } : {}) } : {}),
        ...(ref.kind !== 'docker' && ref.ref !== undefined ? { tag: ref.ref } : {}),
        passwd: await rootText(root, 'etc/passwd'),
        group: await rootText(root, 'etc/group'),
      });
      await fs.writeFile(path.join(work, 'manifest'), serializeImageManifest(appc) + '\n');
      await fs.writeFile(path.join(work, TREE_LAYERS_FILE), JSON.stringify(layers) + '\n');
      const now = new Date().toISOString();
      const oci: OciRecordInfo = {
        reference, manifestDigest: top.digest, configDigest: manifest.config.digest, layers,
        source: ref.kind === 'docker' ? `${ref.registry}/${ref.repository}` : ref.path,
        ...(ref.kind === 'docker' && ref.tag !== undefined ? { tag: ref.tag } : {}),
      };
      // The tree holds no files of its own beyond these two: its size is the layers' content bytes.
      const record: ImageRecord = {
        id, name: appc.name, labels: appc.labels, importTime: now, lastUsed: now, blobSize: manifest.layers.reduce((n, d) => n + d.size, 0),
        size: contentBytes, treeSize: contentBytes, compression: 'oci', latest: ref.kind === 'docker' && ref.tag === 'latest', dependencies: [], oci,
      };
      const pending: PendingImage = {
        id, work, record, manifestBytes: top.bytes, manifestDigest: top.digest, configBytes, configDigest: manifest.config.digest, layers, held,
      };
      await testPause('oci-before-commit', `the layers of ${id} are ready, its record is not written`);
      // A stored layer removed meanwhile (image rm/gc of the last image that had it) is fetched again, then the
      // commit is tried again; each round needs another removal to race it, so a few rounds end it.
      for (let round = 0; ; round++) {
        const gone = await commit(l, pending);
        if (gone.length === 0) return record;
        if (round === 3) throw new RktError('ESTORE', `${what}: layers of the image were removed from the store while it was fetched, ${round + 1} times`, { hint: 'fetch it again once no image gc or image rm is running' });
        opts.note?.(`rkt: ${reference}: ${gone.length} stored layer(s) were removed meanwhile: fetching them again`);
        for (const d of gone) {
          // What this fetch held of it (a blob beside a stored tree) goes with it: fetched whole again.
          held.delete(d);
          await ensureLayer(layers.indexOf(d));
        }
      }
    } finally {
      // What the commit did not publish (all of it on failure).
      for (const p of scratch) await fs.rm(p, { recursive: true, force: true });
    }
  } finally {
    await src.close();
  }
}
