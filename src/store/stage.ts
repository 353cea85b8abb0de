/**
 * The import pipeline of the ACI store (src/store/store.ts's `Store.stage`), apart: it loads the ACI reader,
 * the decompressors, node:stream and GNU tar's runner, which commands that only read the store (rkt run of a
 * stored image, rkt status) never need.
 */
import { constants as fsc, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { describe, RktError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import { inspectAciStream, type AciInfo } from '../image/aci.js';
import type { ImageRecord, RemoteInfo } from './records.js';
import { startExtraction } from './extract.js';
import type { StagedImage } from './store.js';

/** Writes every chunk to all `targets`, waiting for the slowest; ends them all at the end. */
export function fanOut(targets: readonly Writable[]): Writable {
  const tee: Writable = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, done) {
      let pending = 1;
      const one = () => { if (--pending === 0) done(); };
      for (const t of targets) {
        if (!t.write(chunk)) { pending++; t.once('drain', one); }
      }
      one();
    },
    final(done) {
      Promise.all(targets.map((t) => { t.end(); return finished(t); })).then(() => done(), done);
    },
    destroy(err, done) {
      for (const t of targets) t.destroy();
      done(err);
    },
  });
  // A target's failure fails the whole; once we are torn down, the targets' own complaints are consequences.
  for (const t of targets) t.on('error', (err) => { if (!tee.destroyed) tee.destroy(err); });
  return tee;
}

/** What staging needs of the store: a fresh work directory in its tmp/, and the publication of what was staged. */
export interface StagingStore {
  workDir(): Promise<string>;
  publish(work: string, info: AciInfo, blobSize: number, extra: { remote?: RemoteInfo; latest?: boolean; dependencies?: readonly string[] }): Promise<ImageRecord>;
}

/** `Store.stage`: see there. */
export async function stageImage(store: StagingStore, input: Readable, what: string, rawSinks: readonly Writable[], sourceFile: string | undefined): Promise<StagedImage> {
  const work = await store.workDir();
  try {
    const tree = path.join(work, 'tree');
    await fs.mkdir(tree, { mode: 0o755 });
    const blobFile = path.join(work, 'blob');
    // When `input` is a local file's content, the blob is that file copied in the kernel (copy_file_range),
    // beside the stream instead of through it: the decoding pipeline never waits for the blob's writes.
    const before = sourceFile === undefined ? undefined : await fs.stat(sourceFile);
    const copied = sourceFile === undefined ? undefined : fs.copyFile(sourceFile, blobFile, fsc.COPYFILE_EXCL);
    // Awaited below, where its failure is reported; this handler only keeps an early one from going unhandled
    // when the import fails first.
    copied?.catch((err: unknown) => trace(`copying ${sourceFile} to ${blobFile}: ${describe(err)} (reported unless the import fails first)`));
    const blob = sourceFile === undefined ? createWriteStream(blobFile, { flags: 'wx', mode: 0o644 }) : undefined;
    const forInspect = new PassThrough({ highWaterMark: 1 << 20 });
    const tee = fanOut([...(blob !== undefined ? [blob] : []), forInspect, ...rawSinks]);
    input.on('error', (err) => tee.destroy(err));
    input.pipe(tee);
    const extraction = startExtraction(tree, what);
    let info: AciInfo;
    try {
      info = await inspectAciStream(forInspect, what, { sink: extraction.stdin });
    } catch (err) {
      tee.destroy();
      // tar ends on the truncated stream: the failure to report is the inspection's.
      await extraction.done.catch((e: unknown) => {
        if (!(e instanceof RktError) || e.code !== 'EEXTRACT') throw e;
        trace(`${e.message} after the image was refused, ignoring`);
      });
      throw err;
    }
    await extraction.done;
    if (blob !== undefined) await finished(blob);
    if (copied !== undefined && sourceFile !== undefined && before !== undefined) {
      await copied;
      const after = await fs.stat(sourceFile);
      if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || after.ino !== before.ino) {
        throw new RktError('ECHANGED', `${what} changed while it was being read`, { hint: 'fetch it again once it is complete' });
      }
    }
    // Neither the blob nor the tree is fsynced (GNU tar does not sync what it extracts either, and syncing
    // 200 MB costs more than the whole import): the record, written last and durably, is what makes the
    // image exist. After a power loss, `rkt image verify` finds and re-renders a torn tree, and `rkt image
    // export` refuses a torn blob (its hash no longer matches); either is fixed by fetching again.
    const blobSize = (await fs.stat(blobFile)).size;
    return {
      info,
      blobSize,
      workDir: work,
      publish: (extra) => store.publish(work, info, blobSize, extra),
      discard: () => fs.rm(work, { recursive: true, force: true }),
    };
  } catch (err) {
    await fs.rm(work, { recursive: true, force: true });
    throw err;
  }
}
