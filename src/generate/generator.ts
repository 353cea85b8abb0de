/**
 * The systemd generator's work: find the declared pods (pod files, pod manifests), turn each into NAME.service plus its `[Install]` links
 * in the generator's output directory. A bad file is reported (file and line) and skipped; the others are
 * still written. Reads the pod.d directories, writes only under the output directory.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../common/errors.js';
import { manifestPodFile, MANIFEST_SUFFIXES, MISNAMED_SUFFIX, parseManifestPod } from './manifest-pod.js';
import { parsePodFile, type PodFile, type PodManifestRef } from './pod-file.js';
import { installLinks, renderPodService, validPodName, type RenderOptions } from './unit.js';

/** The pod.d directories, highest precedence first: a file in an earlier one hides the same name in later ones. */
export function podDirs(localConfig: string, systemConfig: string): string[] {
  return [path.join(localConfig, 'pods.d'), '/run/rkt/pods.d', path.join(systemConfig, 'pods.d')];
}

/**
 * The files of one declared pod, all from one directory: the first of the pod.d directories holding any file of
 * that NAME (`NAME.pod`, `NAME.pod.yaml`, `NAME.pod.json`) supplies all of them, and hides the NAME's files in
 * the later ones (so /etc/rkt/pods.d/web.pod.yaml hides /usr/lib/rkt/pods.d/web.pod and web.pod.yaml alike).
 */
export interface FoundPod {
  /** The unit's name, without `.service`. */
  readonly name: string;
  /** `NAME.pod`, if the directory has one. */
  readonly ini?: string;
  /** `NAME.pod.yaml` and `NAME.pod.json`, those the directory has (more than one is an error). */
  readonly manifests: readonly string[];
}

/** A file of pods.d by its name: which pod it belongs to and as what, or undefined for any other file. */
export function classifyPodFileName(file: string): { readonly name: string; readonly kind: 'ini' | 'manifest' | 'misnamed' } | undefined {
  const base = path.basename(file);
  const suffixes: [string, 'ini' | 'manifest' | 'misnamed'][] = [['.pod', 'ini'], ...MANIFEST_SUFFIXES.map((x) => [x, 'manifest'] as [string, 'manifest']), [MISNAMED_SUFFIX, 'misnamed']];
  for (const [suffix, kind] of suffixes) {
    if (base.endsWith(suffix) && base.length > suffix.length) return { name: base.slice(0, -suffix.length), kind };
  }
  return undefined;
}

/** What the pod.d directories declare: every pod (each NAME once, sorted) and the misnamed files (`NAME.pod.yml`). */
export async function findPods(dirs: readonly string[]): Promise<{ readonly pods: FoundPod[]; readonly misnamed: string[] }> {
  const pods = new Map<string, { ini?: string; manifests: string[] }>();
  const misnamed: string[] = [];
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = await fs.readdir(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
      throw err;
    }
    const here = new Map<string, { ini?: string; manifests: string[] }>();
    for (const e of entries.sort()) {
      const c = classifyPodFileName(e);
      if (c === undefined) continue;
      const file = path.join(dir, e);
      if (c.kind === 'misnamed') {
        misnamed.push(file);
        continue;
      }
      const pod = here.get(c.name) ?? { manifests: [] };
      if (c.kind === 'ini') pod.ini = file;
      else pod.manifests.push(file);
      here.set(c.name, pod);
    }
    for (const [name, pod] of here) if (!pods.has(name)) pods.set(name, pod);
  }
  const sorted = [...pods.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { pods: sorted.map(([name, p]) => ({ name, manifests: p.manifests, ...(p.ini !== undefined ? { ini: p.ini } : {}) })), misnamed };
}

/**
 * The pod one file given by path belongs to (`rkt generate systemd FILE`): its NAME's files in its directory,
 * as the generator would read them. Undefined for a name that is not a pod file's.
 */
export async function findPodOf(file: string): Promise<FoundPod | undefined> {
  const c = classifyPodFileName(file);
  if (c === undefined || c.kind === 'misnamed') return undefined;
  const dir = path.dirname(path.resolve(file));
  const { pods } = await findPods([dir]);
  const resolved = path.join(dir, path.basename(file));
  return pods.find((p) => p.name === c.name) ?? (c.kind === 'ini' ? { name: c.name, ini: resolved, manifests: [] } : { name: c.name, manifests: [resolved] });
}

/** The error for a misnamed pod manifest (`NAME.pod.yml`). */
export function misnamedMessage(file: string): string {
  return `${file}: a pod manifest is NAME.pod.yaml or NAME.pod.json, not .pod.yml: rename it to ${path.basename(file, MISNAMED_SUFFIX)}.pod.yaml`;
}

/** A declared pod read and checked, or what is wrong with it (`FILE:LINE: message`, or `FILE: message`). */
export type LoadedPodFile =
  | { readonly ok: true; readonly name: string; readonly file: string; readonly alsoFrom?: string; readonly pod: PodFile }
  | { readonly ok: false; readonly file: string; readonly message: string };

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/**
 * Read and check one declared pod: a pod file alone, a pod manifest alone, or a manifest with the pod file
 * beside it (`file` is then the manifest, `alsoFrom` the pod file). Never throws for a bad file; I/O errors
 * other than a missing file do.
 */
export async function loadPod(found: FoundPod): Promise<LoadedPodFile> {
  const { name, ini, manifests } = found;
  const first = manifests[0] ?? ini ?? `${name}.pod`;
  if (!validPodName(name)) return { ok: false, file: first, message: `${first}: "${name}" cannot be a unit name (letters, digits, ":_.\\-" only)` };
  if (manifests.length > 1) return { ok: false, file: first, message: `${manifests.join(' and ')}: two pod manifests for the pod ${name}: keep one` };
  const manifest = manifests[0];
  let ref: PodManifestRef | undefined;
  if (manifest !== undefined) {
    const text = await readText(manifest);
    if (text === undefined) return { ok: false, file: manifest, message: `${manifest}: no such file` };
    const m = parseManifestPod(manifest, text);
    if (!m.ok) return { ok: false, file: manifest, message: m.message };
    ref = m.ref;
  }
  let podFile: PodFile | undefined;
  if (ini !== undefined) {
    const text = await readText(ini);
    if (text === undefined) return { ok: false, file: ini, message: `${ini}: no such file` };
    const parsed = parsePodFile(text, manifest !== undefined ? { besideManifest: manifest } : {});
    if (!parsed.ok) return { ok: false, file: ini, message: `${ini}:${parsed.error.line}: ${parsed.error.message}` };
    podFile = parsed.pod;
  }
  if (ref !== undefined && manifest !== undefined) {
    return { ok: true, name, file: manifest, ...(ini !== undefined ? { alsoFrom: ini } : {}), pod: manifestPodFile(ref, podFile) };
  }
  if (podFile === undefined || ini === undefined) return { ok: false, file: first, message: `${first}: no such file` };
  return { ok: true, name, file: ini, pod: podFile };
}

/** Reads and parses one pod file `NAME.pod` alone (`name` is its unit name). Never throws for a bad file. */
export async function loadPodFile(name: string, file: string): Promise<LoadedPodFile> {
  return loadPod({ name, ini: file, manifests: [] });
}

/** What a generator run did: the units written and the files refused (each `FILE:LINE: message`). */
export interface GeneratorResult {
  readonly written: readonly string[];
  readonly errors: readonly string[];
}

/**
 * Write NAME.service and its links into `outDir` (the generator's "normal" directory) for every pod file in
 * `dirs`. A file that does not parse gets no unit; its error is returned and the others are written.
 */
export async function runGenerator(dirs: readonly string[], outDir: string, opts: Omit<RenderOptions, 'sourcePath' | 'alsoFrom'>): Promise<GeneratorResult> {
  const written: string[] = [];
  const errors: string[] = [];
  const { pods, misnamed } = await findPods(dirs);
  errors.push(...misnamed.map(misnamedMessage));
  for (const found of pods) {
    const loaded = await loadPod(found);
    if (!loaded.ok) {
      errors.push(loaded.message);
      continue;
    }
    const unit = `${loaded.name}.service`;
    await fs.mkdir(outDir, { recursive: true });
    await fs.writeFile(path.join(outDir, unit), renderPodService(loaded.name, loaded.pod, { ...opts, sourcePath: loaded.file, ...(loaded.alsoFrom !== undefined ? { alsoFrom: loaded.alsoFrom } : {}) }));
    for (const link of installLinks(loaded.name, loaded.pod)) {
      const dir = path.join(outDir, link.dir);
      await fs.mkdir(dir, { recursive: true });
      try {
        await fs.symlink(link.target, path.join(dir, link.name));
      } catch (err) {
        // a generator directory starts empty; only a second pod file claiming the same alias gets here
        if (!isErrno(err, 'EEXIST')) throw err;
        errors.push(`${loaded.file}: ${path.join(link.dir, link.name)} exists already (another pod file claims it), not linked`);
      }
    }
    written.push(unit);
  }
  return { written, errors };
}
