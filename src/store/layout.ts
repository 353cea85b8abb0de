import { promises as fs } from 'node:fs';
import path from 'node:path';
// A remote's name is hashed in JavaScript (src/common/sha256.ts): node:crypto's OpenSSL set-up would cost every
// `rkt run`, which looks up its stage1 file's entry, several milliseconds for fifty bytes.
import { sha256Hex } from '../common/sha256.js';

/** Paths of the store under a data directory (see README.md). Pure: creates nothing. */
export class StoreLayout {
  readonly root: string;
  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'cas');
  }
  get blobs(): string { return path.join(this.root, 'blobs'); }
  get images(): string { return path.join(this.root, 'images'); }
  get trees(): string { return path.join(this.root, 'trees'); }
  get layers(): string { return path.join(this.root, 'layers'); }
  get remotes(): string { return path.join(this.root, 'remotes'); }
  get tmp(): string { return path.join(this.root, 'tmp'); }
  blob(id: string): string { return path.join(this.blobs, id); }
  record(id: string): string { return path.join(this.images, `${id}.json`); }
  tree(id: string): string { return path.join(this.trees, id); }
  layer(id: string): string { return path.join(this.layers, id); }
  remote(url: string): string { return path.join(this.remotes, `${sha256Hex(url)}.json`); }
}

/**
 * Create one of the store's own directories (and its parents) if missing. In a store set up for a group
 * (its `cas/` directory, or the data directory, has the setgid bit, as `tmpfiles.d/rkt.conf` makes it), the
 * new directory is made group-writable and setgid too, so every member of group `rkt` can fetch into it;
 * otherwise it is private to its creator's umask, as before.
 */
export async function ensureStoreDir(dir: string): Promise<void> {
  const made = await fs.mkdir(dir, { recursive: true });
  if (made === undefined) return;
  let shared = false;
  for (let d = path.dirname(made); ; d = path.dirname(d)) {
    try {
      shared = ((await fs.stat(d)).mode & 0o2000) !== 0;
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(d) === d) throw err;
    }
  }
  if (!shared) return;
  // Every directory mkdir made on the way, from the first one down to `dir`.
  for (let d = dir; d.length >= made.length; d = path.dirname(d)) {
    await fs.chmod(d, 0o2775);
    if (d === made) break;
  }
}
