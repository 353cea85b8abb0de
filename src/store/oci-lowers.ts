/**
 * What pods need of OCI images: the overlay lower dirs of an image, and lookups of paths through its layers
 * (whiteouts and opaque dirs honoured) for planning a pod without a rendered tree. Kept apart from oci.ts so
 * that the run path does not load the layer extraction code.
 */
import { promises as fs, readFileSync } from 'node:fs';
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
  const layers = imageLayers(l, id);
  return layers === undefined ? undefined : [...layers].reverse().map((d) => ociLayerTree(l, d));
}

/** One layer of a stack as lookups see it: its tree and what it hides below it (its layer.json's lists). */
export interface StackLayer {
  readonly tree: string;
  /** Paths (relative) this layer deletes from the layers below. */
  readonly whiteouts: ReadonlySet<string>;
  /** Directories (relative; '' for the root) whose contents in the layers below this layer hides. */
  readonly opaque: ReadonlySet<string>;
}

/** Finds a path of an image's root, as the app would see it, without following a symlink at its end: the host path holding it, or undefined. */
export type RootLookup = (rel: string) => Promise<string | undefined>;

async function lstatIfThere(p: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  }
}

/**
 * Where the path `rel` (relative, '' for the root; nothing on the way is followed) of the tree that a stack of
 * layers (top first) shows through overlayfs is: the host path of the entry in the topmost layer that has it,
 * or undefined when no layer has it or a layer above hides it (a whiteout of it or of a parent, an opaque
 * parent directory, a parent that is not a directory there). Directories are answered by their topmost copy,
 * whose owner and mode are the ones overlayfs shows.
 */
export async function lookupInLayers(layers: readonly StackLayer[], rel: string): Promise<string | undefined> {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  for (const layer of layers) {
    if (parts.length === 0) return layer.tree;
    let hidesBelow = layer.opaque.has('');
    for (let k = 1; k <= parts.length; k++) if (layer.whiteouts.has(parts.slice(0, k).join('/'))) return undefined;
    for (let k = 0; k < parts.length; k++) {
      const prefix = parts.slice(0, k + 1).join('/');
      const host = path.join(layer.tree, prefix);
      const st = await lstatIfThere(host);
      if (st === undefined) break;
      // An overlayfs whiteout (a 0/0 character device) hides, whether or not layer.json names it.
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      if (k === parts.length - 1) return host;
      if (!st.isDirectory()) return undefined;
      if (layer.opaque.has(prefix)) hidesBelow = true;
    }
    if (hidesBelow) return undefined;
  }
  return undefined;
}

/** An OCI image's root as its layers give it: the layers (digests, bottom first) and a lookup through them. */
export interface LayeredRoot {
  readonly layers: readonly string[];
  /** The layers as lookups see them, top first. */
  readonly stack: readonly StackLayer[];
  readonly lookup: RootLookup;
  /** The store's work directory (`cas/tmp`), on the layers' filesystem: where a rendering links them. */
  readonly scratch: string;
}

/** The layers of image `id` from its tree's layer list, bottom first; undefined for an ACI (no list). */
export function imageLayers(l: StoreLayout, id: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(l.tree(id), TREE_LAYERS_FILE), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new RktError('ESTORE', `cannot read the layers of image ${id}: ${describe(err)}`, { cause: err });
  }
  let layers: unknown;
  try {
    layers = JSON.parse(text);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    layers = undefined;
  }
  if (!Array.isArray(layers) || !layers.every((d) => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d))) {
    throw new RktError('ESTORE', `the layer list of image ${id} is corrupt`, { hint: 'remove the image and fetch it again' });
  }
  return layers as string[];
}

/**
 * The root of OCI image `id` as a lookup through its layers (each layer's whiteouts and opaque dirs read from
 * its layer.json), or undefined for an ACI. A layer missing from the store is ESTORE with the fix.
 */
export async function ociImageRoot(l: StoreLayout, id: string): Promise<LayeredRoot | undefined> {
  const layers = imageLayers(l, id);
  if (layers === undefined) return undefined;
  const stack = await layerStackOf(l, layers, `of image ${id} `);
  return { layers, stack, lookup: (rel) => lookupInLayers(stack, rel), scratch: l.tmp };
}

/**
 * The layers (digests, bottom first) as a stack, top first, each with the whiteouts and opaque dirs of its
 * layer.json. A layer missing from the store is ESTORE with the fix (`of` names whose layer it is).
 */
export async function layerStackOf(l: StoreLayout, layers: readonly string[], of = ''): Promise<StackLayer[]> {
  const stack: StackLayer[] = [];
  for (const d of [...layers].reverse()) {
    const file = path.join(l.root, 'oci', 'layers', d.replace(':', '-'), 'layer.json');
    let info: { whiteouts?: unknown; opaque?: unknown };
    try {
      info = JSON.parse(await fs.readFile(file, 'utf8')) as { whiteouts?: unknown; opaque?: unknown };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new RktError('ESTORE', `layer ${d} ${of}is missing from the store`, { hint: 'fetch the image again' });
      throw new RktError('ESTORE', `cannot read layer ${d} ${of}: ${describe(err)}`, { cause: err });
    }
    const list = (v: unknown) => new Set(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    stack.push({ tree: ociLayerTree(l, d), whiteouts: list(info.whiteouts), opaque: list(info.opaque) });
  }
  return stack;
}
