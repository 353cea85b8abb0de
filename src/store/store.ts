import { promises as fs } from 'node:fs';
import { randomHex } from '../common/random.js';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { describe, isErrno, RktError } from '../common/errors.js';
import { fsyncDir } from '../common/fs-atomic.js';
import { trace } from '../common/trace.js';
import type { AciInfo } from '../image/aci.js';
import { ensureStoreDir, StoreLayout } from './layout.js';
import { readRecord, writeRecord, type ImageRecord, type RemoteInfo } from './records.js';
import { applyPathWhitelist, overlayInto } from './render.js';

/** Bytes used on disk by a tree (allocated blocks, hard links counted once). */
export async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = await fs.lstat(p);
      const key = `${st.dev}:${st.ino}`;
      if (st.nlink > 1) { if (seen.has(key)) continue; seen.add(key); }
      total += st.blocks * 512;
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return total;
}

/** An image read, checked and extracted into the store's tmp/, not yet visible to any command. */
export interface StagedImage {
  readonly info: AciInfo;
  readonly blobSize: number;
  /** The staging directory: `blob` (the bytes as read) and `tree/`. */
  readonly workDir: string;
  /** Make the image part of the store. Idempotent across processes: the first to publish wins. */
  publish(extra: { remote?: RemoteInfo; latest?: boolean; dependencies?: readonly string[] }): Promise<ImageRecord>;
  /** Drop the staged copy (after a failed signature check, say). */
  discard(): Promise<void>;
}

/** The image store under a data directory. See README.md for the layout and its crash-safety rules. */
export class Store {
  readonly layout: StoreLayout;
  constructor(dataDir: string) {
    this.layout = new StoreLayout(dataDir);
  }

  /**
   * Read an image from `input` in one pass: the raw bytes go to the blob file and to `rawSinks` (a signature
   * verifier), the uncompressed tar is hashed, checked and extracted by GNU tar. Nothing is visible until
   * publish(); on any failure the staged files are removed. (The pipeline is src/store/stage.ts, loaded only
   * by the commands that import images.)
   */
  async stage(input: Readable, what: string, rawSinks: readonly Writable[] = [], sourceFile?: string): Promise<StagedImage> {
    const { stageImage } = await import('./stage.js');
    return stageImage({ workDir: () => this.makeWorkDir(), publish: (work, info, blobSize, extra) => this.publish(work, info, blobSize, extra) },
      input, what, rawSinks, sourceFile);
  }

  /** The record of an image by full ID, or undefined. */
  get(id: string): Promise<ImageRecord | undefined> {
    return readRecord(this.layout, id);
  }

  private async makeWorkDir(): Promise<string> {
    try {
      await ensureStoreDir(this.layout.tmp);
      const work = path.join(this.layout.tmp, `import-${process.pid}-${randomHex(6)}`);
      await fs.mkdir(work, { mode: 0o700 });
      return work;
    } catch (err) {
      throw new RktError('ESTORE', `cannot write to the store in ${this.layout.root}: ${describe(err)}`, {
        cause: err, hint: isErrno(err, 'EACCES') ? 'run as root, or as a member of group rkt on a store created for it' : undefined,
      });
    }
  }

  private async publish(work: string, info: AciInfo, blobSize: number,
    extra: { remote?: RemoteInfo; latest?: boolean; dependencies?: readonly string[] }): Promise<ImageRecord> {
    const id = info.imageId;
    try {
      const existing = await readRecord(this.layout, id);
      if (existing !== undefined) {
        await fs.rm(work, { recursive: true, force: true });
        const now = new Date().toISOString();
        const updated: ImageRecord = {
          ...existing, lastUsed: now,
          ...(extra.remote !== undefined ? { remote: extra.remote } : {}),
          latest: existing.latest || extra.latest === true,
        };
        await writeRecord(this.layout, updated);
        return updated;
      }
      for (const d of [this.layout.blobs, this.layout.trees]) await ensureStoreDir(d);
      await fs.rename(path.join(work, 'blob'), this.layout.blob(id));
      await fsyncDir(this.layout.blobs);
      const deps = extra.dependencies ?? [];
      if (deps.length > 0) {
        // The image's own layer is kept; its tree is rendered from its dependencies' trees with it on top.
        await ensureStoreDir(this.layout.layers);
        try {
          await fs.rename(path.join(work, 'tree'), this.layout.layer(id));
        } catch (err) {
          if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
        }
        const rendered = path.join(work, 'tree');
        await fs.mkdir(path.join(rendered, 'rootfs'), { recursive: true, mode: 0o755 });
        for (const dep of deps) await overlayInto(path.join(this.layout.tree(dep), 'rootfs'), path.join(rendered, 'rootfs'));
        await overlayInto(this.layout.layer(id), rendered);
        await applyPathWhitelist(path.join(rendered, 'rootfs'), info.manifest.pathWhitelist);
      }
      // The tree's size from the tar's own entry sizes: walking the tree would cost a stat per file.
      const treeSize = deps.length > 0 ? await diskUsage(path.join(work, 'tree')) : info.contentBytes;
      try {
        await fs.rename(path.join(work, 'tree'), this.layout.tree(id));
        await fsyncDir(this.layout.trees);
      } catch (err) {
        // Another process published the same tree first: identical content, keep theirs.
        if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      }
      await fs.rm(work, { recursive: true, force: true });
      const now = new Date().toISOString();
      const labels = info.manifest.labels ?? [];
      const record: ImageRecord = {
        id, name: info.manifest.name, labels, importTime: now, lastUsed: now, blobSize, size: info.size, treeSize,
        compression: info.compression, latest: extra.latest === true, dependencies: extra.dependencies ?? [],
        ...(extra.remote !== undefined ? { remote: extra.remote } : {}),
      };
      // Crash-injection point for tests (Documentation/hacking.md): blob and tree are in place, the record that
      // would publish them is not written. Read here only, so a test kills rkt at exactly this point.
      if (process.env['RKT_TEST_CRASH_AT'] === 'store-before-record') {
        process.stderr.write(`rkt: RKT_TEST_CRASH_AT=store-before-record: killing myself before the record of ${id}\n`);
        process.kill(process.pid, 'SIGKILL');
      }
      await writeRecord(this.layout, record);
      return record;
    } catch (err) {
      await fs.rm(work, { recursive: true, force: true });
      if (err instanceof RktError) throw err;
      throw new RktError('ESTORE', `cannot add image ${id} to the store: ${describe(err)}`, { cause: err });
    }
  }
}
