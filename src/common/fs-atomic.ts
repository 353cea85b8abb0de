/**
 * Atomic writes of small files. Synchronous inside, behind promises for the callers: these are a few small
 * files per command, and a thread-pool round trip per call costs more than the call itself (measured
 * 2026-12-02: 100 lstats cost 8.5 ms through fs.promises, 1.4 ms synchronously, in a fresh `node`).
 */
import { closeSync, constants as fsc, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { randomHex } from './random.js';

/** Flush a directory's entries (after a rename or create in it) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  fsyncDirSync(dir);
}

/** `fsyncDir`, synchronously. */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A fresh name beside `file` for a temporary that will be renamed over it. */
export function tempNameFor(file: string): string {
  const random = randomHex(4);
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${random}`);
}

/**
 * Write `data` to `file` crash-safely: write a temporary beside it, fsync it, rename it over `file`, fsync the
 * directory. A reader sees the old content or the new, never a mix; a crash leaves at most a temporary.
 * With `durable` false the fsyncs are skipped: still atomic, but a power loss may bring back the old content
 * (for bookkeeping such as an image's last-use time).
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644, durable = true): Promise<void> {
  writeFileAtomicSync(file, data, mode, durable);
}

/** `writeFileAtomic`, synchronously. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, mode = 0o644, durable = true): void {
  const tmp = tempNameFor(file);
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
    fchmodSync(fd, mode);
    if (durable) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (durable) fsyncDirSync(path.dirname(file));
}
