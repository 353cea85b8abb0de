/**
 * The systemd generator's work: find the pod files, turn each into NAME.service plus its `[Install]` links
 * in the generator's output directory. A bad file is reported (file and line) and skipped; the others are
 * still written. Reads the pod.d directories, writes only under the output directory.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../common/errors.js';
import { parsePodFile, type PodFile } from './pod-file.js';
import { installLinks, renderPodService, validPodName, type RenderOptions } from './unit.js';

/** The pod.d directories, highest precedence first: a file in an earlier one hides the same name in later ones. */
export function podDirs(localConfig: string, systemConfig: string): string[] {
  return [path.join(localConfig, 'pods.d'), '/run/rkt/pods.d', path.join(systemConfig, 'pods.d')];
}

/** One pod file found: its name (the unit's, without `.service`) and path. */
export interface FoundPodFile {
  readonly name: string;
  readonly file: string;
}

/** Every `NAME.pod` in `dirs`, each name once (from the first directory that has it), sorted by name. */
export async function findPodFiles(dirs: readonly string[]): Promise<FoundPodFile[]> {
  const seen = new Map<string, string>();
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = await fs.readdir(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
      throw err;
    }
    for (const e of entries.sort()) {
      if (!e.endsWith('.pod') || e === '.pod') continue;
      const name = e.slice(0, -'.pod'.length);
      if (!seen.has(name)) seen.set(name, path.join(dir, e));
    }
  }
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, file]) => ({ name, file }));
}

/** A pod file read and parsed, or the line of the file that is wrong: `FILE:LINE: message`. */
export type LoadedPodFile = { readonly ok: true; readonly name: string; readonly file: string; readonly pod: PodFile } | { readonly ok: false; readonly file: string; readonly message: string };

/** Reads and parses one pod file (`name` is its unit name). Never throws for a bad file; I/O errors other than a missing file do. */
export async function loadPodFile(name: string, file: string): Promise<LoadedPodFile> {
  if (!validPodName(name)) return { ok: false, file, message: `${file}: "${name}" cannot be a unit name (letters, digits, ":_.\\-" only)` };
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { ok: false, file, message: `${file}: no such file` };
    throw err;
  }
  const parsed = parsePodFile(text);
  if (!parsed.ok) return { ok: false, file, message: `${file}:${parsed.error.line}: ${parsed.error.message}` };
  return { ok: true, name, file, pod: parsed.pod };
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
export async function runGenerator(dirs: readonly string[], outDir: string, opts: Omit<RenderOptions, 'sourcePath'>): Promise<GeneratorResult> {
  const written: string[] = [];
  const errors: string[] = [];
  for (const found of await findPodFiles(dirs)) {
    const loaded = await loadPodFile(found.name, found.file);
    if (!loaded.ok) {
      errors.push(loaded.message);
      continue;
    }
    const unit = `${loaded.name}.service`;
    await fs.mkdir(outDir, { recursive: true });
    await fs.writeFile(path.join(outDir, unit), renderPodService(loaded.name, loaded.pod, { ...opts, sourcePath: loaded.file }));
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
