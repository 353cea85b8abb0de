import { byCodeUnits } from '../common/compare.js';
import { RktError } from '../common/errors.js';
import { isImageId, parseImageReference } from '../image/names.js';
import type { Label } from '../image/labels.js';
import { listRecords, readRecord, type ImageRecord } from './records.js';
import type { StoreLayout } from './layout.js';

/**
 * The short form of an Image ID that rkt prints (`rkt fetch`, `rkt image list`, `rkt list` without `--full`):
 * `sha512-` and the first 32 hex digits, as rkt 1.x's documentation shows it. Every command takes it back,
 * as it takes any unique prefix of at least MIN_IMAGE_ID_PREFIX_HEX digits.
 */
export function shortId(id: string): string {
  return id.slice(0, 'sha512-'.length + 32);
}

/** True if `arg` looks like an Image ID or a prefix of one (rather than an image name). */
export function looksLikeImageId(arg: string): boolean {
  return /^sha512-[0-9a-fA-F]{12,128}$/.test(arg);
}

/** True if the labels of an image satisfy every wanted label. */
export function labelsMatch(have: readonly Label[], want: ReadonlyMap<string, string>): boolean {
  for (const [name, value] of want) {
    if (!have.some((l) => l.name === name && l.value === value)) return false;
  }
  return true;
}

/**
 * The images a user's word names: a full Image ID, a unique prefix of one (at least `sha512-` + 12 hex), or a
 * name with optional labels (`example.com/app:1.0`, `example.com/app,os=linux`). For names, every matching
 * image is returned, newest import first.
 */
export async function findImages(layout: StoreLayout, arg: string): Promise<ImageRecord[]> {
  if (looksLikeImageId(arg)) {
    const want = arg.toLowerCase();
    if (isImageId(want)) {
      const r = await readRecord(layout, want);
      return r === undefined ? [] : [r];
    }
    return (await listRecords(layout)).filter((r) => r.id.startsWith(want));
  }
  const ref = parseImageReference(arg);
  return (await listRecords(layout))
    .filter((r) => r.name === ref.name && labelsMatch(r.labels, ref.labels))
    .sort((a, b) => byCodeUnits(b.importTime, a.importTime));
}

/**
 * Exactly one image for a user's word, or an RktError: not found (with the fix), or an ambiguous ID prefix
 * (listing the candidates). For a name, the newest matching import is taken, as rkt did.
 */
export async function resolveImage(layout: StoreLayout, arg: string): Promise<ImageRecord> {
  const found = await findImages(layout, arg);
  const first = found[0];
  if (first === undefined) {
    throw new RktError('ENOIMAGE', `no image "${arg}" in the store`, {
      hint: looksLikeImageId(arg) ? 'see "rkt image list"' : `fetch it first: rkt fetch ${arg}`,
    });
  }
  if (found.length > 1 && looksLikeImageId(arg)) {
    throw new RktError('EAMBIGUOUS', `image ID prefix "${arg}" is ambiguous: it matches ${found.map((r) => shortId(r.id)).join(', ')}`, {
      hint: 'give more hex digits',
    });
  }
  return first;
}
