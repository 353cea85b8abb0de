/**
 * The one thing `rkt run` needs of OCI images: the overlay lower dirs of an image (kept apart from oci.ts so
 * that the run path does not load the layer extraction code).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, isErrno, RktError } from '../common/errors.js';
import type { StoreLayout } from './layout.js';

/** The tree of layer `digest` (`cas/oci/layers/sha256-<hex>/tree`). */
export function ociLayerTree(l: StoreLayout, digest: string): string {
  return path.join(l.root, 'oci', 'layers', digest.replace(':', '-'), 'tree');
}

/** The file in an OCI image's tree naming its layers (bottom first), for pods that stack them. */
export const TREE_LAYERS_FILE = 'oci-layers.json';

/**
 * The overlay lower dirs of image `id` when it is an OCI image (its layer trees, top first), else undefined (an
 * ACI: its rendered tree is the one lower dir). Synchronous: read while the pod's mounts are planned.
 */
export function imageLowerDirs(l: StoreLayout, id: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(l.tree(id), TREE_LAYERS_FILE), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new RktError('ESTORE', `cannot read the layers of image ${id}: ${describe(err)}`, { cause: err });
  }
  const layers = JSON.parse(text) as unknown;
  if (!Array.isArray(layers) || !layers.every((d) => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d))) {
    throw new RktError('ESTORE', `the layer list of image ${id} is corrupt`, { hint: 'remove the image and fetch it again' });
  }
  return [...(layers as string[])].reverse().map((d) => ociLayerTree(l, d));
}

