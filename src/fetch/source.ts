/**
 * What an image argument names (a file, a URL, an Image ID or an image name with labels), and the answer the
 * store alone can give: kept apart from fetch.ts so that `rkt run` of an image already in the store does not
 * load the fetch code.
 */
import { promises as fs } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isErrno, RktError } from '../common/errors.js';
import { parseImageReference } from '../image/names.js';
import { isOciReference } from '../oci/reference.js';
import { storePlan, type PullPolicy } from './pull-policy.js';
import type { StoreLayout } from '../store/layout.js';
import type { ImageRecord } from '../store/records.js';
import { findImages, looksLikeImageId, resolveImage } from '../store/resolve.js';

/** How a user's word names an image. */
export type ImageSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'id'; readonly id: string }
  /** docker://, oci: or oci-archive: (src/oci). */
  | { readonly kind: 'oci'; readonly ref: string }
  | { readonly kind: 'name'; readonly name: string; readonly labels: ReadonlyMap<string, string> };

/**
 * Classify an image argument as rkt does: `file://` or a path (absolute, `./`, or an existing file) is a file;
 * `http(s)://` a URL; `sha512-…` an Image ID; anything else an image name with optional labels.
 */
export async function classifySource(arg: string): Promise<ImageSource> {
  if (arg.startsWith('file://')) return { kind: 'file', path: fileURLToPath(arg) };
  if (/^https?:\/\//.test(arg)) return { kind: 'url', url: arg };
  if (isOciReference(arg)) return { kind: 'oci', ref: arg };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) throw new RktError('EFETCH', `unsupported image source "${arg}": want a file, http(s) URL, Image ID or image name`);
  if (looksLikeImageId(arg)) return { kind: 'id', id: arg };
  if (arg.startsWith('/') || arg.startsWith('./') || arg.startsWith('../') || arg.endsWith('.aci')) return { kind: 'file', path: arg };
  try {
    if ((await fs.stat(arg)).isFile()) return { kind: 'file', path: arg };
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
  }
  const ref = parseImageReference(arg);
  return { kind: 'name', name: ref.name, labels: ref.labels };
}

/**
 * The image `arg` names when the store alone answers under `pullPolicy`: an Image ID, or a name already in
 * the store unless the policy is `update`. Undefined when a fetch must decide (files, URLs, names not found).
 */
export async function fromStore(layout: StoreLayout, arg: string, pullPolicy: PullPolicy): Promise<ImageRecord | undefined> {
  const src = await classifySource(arg);
  if (src.kind === 'id') return resolveImage(layout, src.id);
  if (src.kind === 'name' && storePlan('name', pullPolicy) !== 'fetch') return (await findImages(layout, arg))[0];
  if (src.kind === 'oci' && pullPolicy === 'never') {
    const { findOciImage } = await import('../oci/fetch.js');
    return findOciImage(layout, arg);
  }
  return undefined;
}
