/**
 * A pod manifest file as users write it (`rkt run --pod-manifest=FILE`, `pods.d/NAME.pod.yaml`): JSON, or YAML
 * by its name (`.yaml`, `.yml`), whose apps name their image by `image.id` or — beyond appc, which wants an ID —
 * by `image.name` and `image.labels`, resolved from the store as `rkt run NAME,LABEL=VALUE` would (the newest
 * import that matches). Pure but for `loadPodManifestFile`, which reads the store's index.
 */
import { CORE_SCHEMA, JSON_SCHEMA, load } from 'js-yaml';
import { RktError } from '../common/errors.js';
import { Field, show } from '../image/names.js';
import { validatePodManifest, type PodManifest } from '../image/pod-manifest.js';
import { findImages } from '../store/resolve.js';
import type { StoreLayout } from '../store/layout.js';

/** Whether `file` is read as YAML (else JSON): by its name, as `--pod-manifest` has always done. */
export function isYamlFile(file: string): boolean {
  return /\.ya?ml$/i.test(file);
}

/** Why a manifest file's text is not JSON/YAML: the message and the 1-based line where one is known. */
export interface SyntaxProblem {
  readonly line?: number;
  readonly message: string;
}

/**
 * More nodes than any real pod manifest has: a YAML document whose aliases expand past this is refused
 * (a "billion laughs" file is a few hundred bytes that would expand to gigabytes when walked).
 */
export const MAX_MANIFEST_NODES = 100_000;

/** The JSON value a manifest file's text denotes, or why it has none. Never throws for bad text. */
export function parseManifestText(file: string, text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problem: SyntaxProblem } {
  let value: unknown;
  if (isYamlFile(file)) {
    try {
      // YAML 1.2's core schema: JSON's types only (no timestamps, no binary, no merge keys).
      value = load(text, { filename: file, schema: CORE_SCHEMA });
    } catch (err) {
      if (!(err instanceof Error) || err.name !== 'YAMLException') throw err;
      const e = err as Error & { reason?: string; mark?: { line?: number } };
      return { ok: false, problem: { ...(e.mark?.line !== undefined ? { line: e.mark.line + 1 } : {}), message: e.reason ?? e.message.split('\n')[0] ?? '' } };
    }
  } else {
    try {
      value = JSON.parse(text) as unknown;
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      const line = jsonErrorLine(text, err.message);
      // V8's messages: "… in JSON at position N", or "Unexpected token 'x', "<snippet>" is not valid JSON"
      const message = err.message.replace(/ in JSON at position \d+.*$/s, '').replace(/^(Unexpected token '.*?'), .* is not valid JSON$/s, '$1');
      return { ok: false, problem: { ...(line !== undefined ? { line } : {}), message: `not valid JSON: ${message}` } };
    }
  }
  if (nodeCount(value, MAX_MANIFEST_NODES) > MAX_MANIFEST_NODES) {
    return { ok: false, problem: { message: `more than ${MAX_MANIFEST_NODES} values (YAML aliases expanded): not a pod manifest` } };
  }
  return { ok: true, value };
}

/**
 * The line of a JSON syntax error: from V8's position where it gives one, else where a YAML parser (JSON is
 * YAML) stops on the same text.
 */
function jsonErrorLine(text: string, message: string): number | undefined {
  const at = /at position (\d+)/.exec(message);
  if (at?.[1] !== undefined) return text.slice(0, Number(at[1])).split('\n').length;
  try {
    load(text, { schema: JSON_SCHEMA });
  } catch (err) {
    const mark = (err as { mark?: { line?: number } }).mark;
    if (err instanceof Error && err.name === 'YAMLException' && mark?.line !== undefined) return mark.line + 1;
    throw err;
  }
  return undefined;
}

/** The number of values in `value`, counting an aliased one each time it is reached; stops past `limit`. */
function nodeCount(value: unknown, limit: number): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && n <= limit) {
    const v = stack.pop();
    n++;
    if (Array.isArray(v)) stack.push(...(v as unknown[]));
    else if (typeof v === 'object' && v !== null) stack.push(...Object.values(v));
  }
  return n;
}

/** An app whose image is named (no `image.id`): the app's index, its name as written, and the image reference. */
export interface NamedImage {
  readonly index: number;
  readonly app: string;
  /** `NAME[:VERSION][,LABEL=VALUE…]`: what `rkt fetch` and the store lookup take. */
  readonly reference: string;
}

const ROOT = (): Field => Field.root('EPODMANIFEST', 'pod manifest');

function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * The apps of a manifest value that name their image instead of giving its ID, with the reference of each.
 * Throws EPODMANIFEST naming the field for an image with neither, and for labels no reference can carry (a
 * value with `,` or `:`). Values of other shapes are left for validatePodManifest to refuse.
 */
export function namedImages(value: unknown): NamedImage[] {
  const apps = asObject(value)?.['apps'];
  if (!Array.isArray(apps)) return [];
  const out: NamedImage[] = [];
  apps.forEach((a: unknown, index) => {
    const app = asObject(a);
    const image = asObject(app?.['image']);
    if (app === undefined || image === undefined || (image['id'] !== undefined && image['id'] !== null)) return;
    const at = ROOT().key('apps').index(index).key('image');
    const name = image['name'];
    if (name === undefined || name === null) at.fail('neither "id" nor "name" given: name the image by image.name (and labels) or give its image.id');
    if (typeof name !== 'string') return at.key('name').fail(`expected a string, got ${show(name)}`);
    let reference = name;
    const labels = image['labels'];
    if (Array.isArray(labels)) {
      const version = labels.findIndex((l: unknown) => asObject(l)?.['name'] === 'version');
      const ordered = version === -1 ? labels.map((l, i) => [l, i] as const) : [[labels[version], version] as const, ...labels.map((l, i) => [l, i] as const).filter(([, i]) => i !== version)];
      for (const [l, i] of ordered) {
        const label = asObject(l);
        const lname = label?.['name'];
        const lvalue = label?.['value'];
        // a malformed label is the validator's to report
        if (typeof lname !== 'string' || typeof lvalue !== 'string') continue;
        if (/[,:]/.test(lvalue)) at.key('labels').index(i).key('value').fail(`${show(lvalue)}: a label value naming an image by name cannot contain "," or ":" (give image.id instead)`);
        reference += lname === 'version' && i === version ? `:${lvalue}` : `,${lname}=${lvalue}`;
      }
    }
    out.push({ index, app: typeof app['name'] === 'string' ? app['name'] : `#${index}`, reference });
  });
  return out;
}

/** `value` with `image.id` set on every app of `named` to `idOf(it)` (a copy; `value` is not changed). */
export function withImageIds(value: unknown, named: readonly NamedImage[], idOf: (n: NamedImage) => string): unknown {
  if (named.length === 0) return value;
  const root = asObject(value) ?? {};
  const apps = [...(root['apps'] as unknown[])];
  for (const n of named) {
    const app = asObject(apps[n.index]) ?? {};
    apps[n.index] = { ...app, image: { ...asObject(app['image']), id: idOf(n) } };
  }
  return { ...root, apps };
}

/** The Image ID that stands for a named image while the manifest is checked before any store is asked. */
const UNRESOLVED_ID = `sha512-${'0'.repeat(128)}`;

/**
 * Validate a manifest value whose images may be named: the manifest (named images carry a placeholder ID: use
 * it for its shape only) and the named images. Throws EPODMANIFEST naming the first bad field.
 */
export function checkPodManifest(value: unknown): { readonly manifest: PodManifest; readonly named: readonly NamedImage[] } {
  const named = namedImages(value);
  return { manifest: validatePodManifest(withImageIds(value, named, () => UNRESOLVED_ID)), named };
}

/**
 * Parse and validate a pod manifest file's text, images named by name resolved from the store (newest matching
 * import, no fetch: `rkt fetch` them first). Throws EPODMANIFEST naming the file and line (syntax) or the field
 * (schema), ENOIMAGE naming the app and image.
 */
export async function loadPodManifestFile(layout: StoreLayout, file: string, text: string): Promise<PodManifest> {
  const parsed = parseManifestText(file, text);
  if (!parsed.ok) {
    throw new RktError('EPODMANIFEST', `invalid pod manifest ${file}${parsed.problem.line !== undefined ? `:${parsed.problem.line}` : ''}: ${parsed.problem.message}`);
  }
  const { manifest, named } = checkPodManifest(parsed.value);
  if (named.length === 0) return manifest;
  const ids = new Map<number, string>();
  for (const n of named) {
    const found = (await findImages(layout, n.reference))[0];
    if (found === undefined) {
      throw new RktError('ENOIMAGE', `pod manifest ${file}: app ${n.app}: no image ${n.reference} in the store`, { hint: `fetch it first: rkt fetch ${n.reference}` });
    }
    ids.set(n.index, found.id);
  }
  return validatePodManifest(withImageIds(parsed.value, named, (n) => ids.get(n.index) ?? ''));
}
