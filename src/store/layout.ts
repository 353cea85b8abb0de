import path from 'node:path';
import { createHash } from 'node:crypto';

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
  remote(url: string): string { return path.join(this.remotes, `${createHash('sha256').update(url).digest('hex')}.json`); }
}
