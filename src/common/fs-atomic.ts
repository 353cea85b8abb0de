import { promises as fs, constants as fsc } from 'node:fs';
import path from 'node:path';
import { randomHex } from './random.js';

/** Flush a directory's entries (after a rename or create in it) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
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
  const tmp = tempNameFor(file);
  const fh = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  if (durable) await fsyncDir(path.dirname(file));
}
