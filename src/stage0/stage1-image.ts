/**
 * Finding the stage1 image and reading its contract. Stage0 never hard-codes entrypoint paths: it reads them
 * from the stage1 manifest's annotations and gates newer arguments on its interface version.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, isErrno, RktError } from '../common/errors.js';
import type { GlobalOptions } from '../common/options.js';
import { parseImageManifest, type ImageManifest } from '../image/manifest.js';
import type { Store } from '../store/store.js';
import type { ImageRecord } from '../store/records.js';

export const STAGE1_ANNOTATIONS = {
  run: 'coreos.com/rkt/stage1/run',
  enter: 'coreos.com/rkt/stage1/enter',
  gc: 'coreos.com/rkt/stage1/gc',
  stop: 'coreos.com/rkt/stage1/stop',
  interfaceVersion: 'coreos.com/rkt/stage1/interface-version',
} as const;

/** The interface versions this stage0 can drive. */
export const SUPPORTED_INTERFACE_VERSIONS = [5] as const;

export interface Stage1 {
  readonly record: ImageRecord;
  readonly manifest: ImageManifest;
  /** Entrypoint paths inside the stage1 rootfs. */
  readonly entrypoints: { readonly run: string; readonly enter: string; readonly gc: string; readonly stop: string };
  readonly interfaceVersion: number;
}

/** How the user chose the stage1 image (at most one of these). */
export interface Stage1Choice {
  readonly path?: string;
  readonly url?: string;
  readonly name?: string;
  readonly hash?: string;
  readonly fromDir?: string;
}

/**
 * The stage1 image the build made: `build/stage1.aci` in rkt's own package directory (stage1-image/build),
 * found by walking up from this module to the package.json (the module's depth differs between the tsc
 * output and the bundle's chunks).
 */
export function defaultStage1Path(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'build', 'stage1.aci');
    dir = path.dirname(dir);
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/stage1.aci');
}

/** The stage1 contract from a stage1 image's manifest; a manifest without it is not a stage1. */
export function stage1Contract(m: ImageManifest, what: string): Pick<Stage1, 'entrypoints' | 'interfaceVersion'> {
  const get = (name: string) => m.annotations.find((a) => a.name === name)?.value;
  const missing = (name: string) => new RktError('ESTAGE1', `${what} is not a stage1 image: its manifest has no "${name}" annotation`);
  const run = get(STAGE1_ANNOTATIONS.run);
  const enter = get(STAGE1_ANNOTATIONS.enter);
  const gc = get(STAGE1_ANNOTATIONS.gc);
  const stop = get(STAGE1_ANNOTATIONS.stop);
  const version = Number(get(STAGE1_ANNOTATIONS.interfaceVersion));
  if (run === undefined) throw missing(STAGE1_ANNOTATIONS.run);
  if (enter === undefined) throw missing(STAGE1_ANNOTATIONS.enter);
  if (gc === undefined) throw missing(STAGE1_ANNOTATIONS.gc);
  if (stop === undefined) throw missing(STAGE1_ANNOTATIONS.stop);
  if (!(SUPPORTED_INTERFACE_VERSIONS as readonly number[]).includes(version)) {
    throw new RktError('ESTAGE1', `${what}: stage1 interface version "${get(STAGE1_ANNOTATIONS.interfaceVersion) ?? ''}" is not supported (this rkt drives ${SUPPORTED_INTERFACE_VERSIONS.join(', ')})`);
  }
  return { entrypoints: { run, enter, gc, stop }, interfaceVersion: version };
}

/** Read `stage1.d/*.json` configs ({"rktKind":"stage1","rktVersion":"v1","location":...}) for a default location. */
async function configuredStage1(globals: GlobalOptions): Promise<string | undefined> {
  let location: string | undefined;
  for (const dir of [globals.systemConfig, globals.localConfig]) {
    const d = path.join(dir, 'stage1.d');
    let names: string[] = [];
    try {
      names = (await fs.readdir(d)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
    }
    for (const n of names) {
      const file = path.join(d, n);
      let v: { rktKind?: unknown; location?: unknown };
      try {
        v = JSON.parse(await fs.readFile(file, 'utf8')) as typeof v;
      } catch (err) {
        throw new RktError('ECONFIG', `bad stage1 config ${file}: ${describe(err)}`, { cause: err });
      }
      if (v.rktKind !== 'stage1') throw new RktError('ECONFIG', `bad stage1 config ${file}: "rktKind" must be "stage1"`);
      if (typeof v.location === 'string') location = v.location;
    }
  }
  return location;
}

/**
 * Import a stage1 file once: the store remembers which Image ID a path had at a given size and mtime, so
 * every `rkt run` does not re-read the whole image.
 */
async function importStage1File(store: Store, globals: GlobalOptions, file: string): Promise<ImageRecord> {
  const { readRemote, writeRemote } = await import('../store/records.js');
  const abs = path.resolve(file);
  const st = await fs.stat(abs);
  const key = `file://${abs}`;
  const stamp = `${st.size}-${st.mtimeMs}-${st.ino}`;
  const cached = await readRemote(store.layout, key);
  if (cached !== undefined && cached.etag === stamp) {
    const rec = await store.get(cached.imageId);
    if (rec !== undefined) return rec;
  }
  const { fetchImage } = await import('../fetch/fetch.js');
  const rec = await fetchImage({ store, globals, pullPolicy: 'update' }, abs);
  await writeRemote(store.layout, { url: key, imageId: rec.id, etag: stamp, downloadTime: new Date().toISOString() });
  return rec;
}

/**
 * The stage1 for a pod: from --stage1-path/-url/-name/-hash/-from-dir, a stage1.d config, or the default the
 * build recorded. The image is imported into the store (the default and local paths without a signature
 * check, as rkt treated its own stage1), and its contract read.
 */
export async function resolveStage1(store: Store, globals: GlobalOptions, choice: Stage1Choice): Promise<Stage1> {
  const given = Object.entries(choice).filter(([, v]) => v !== undefined);
  if (given.length > 1) throw new RktError('EUSAGE', `give at most one of ${given.map(([k]) => `--stage1-${k === 'fromDir' ? 'from-dir' : k}`).join(', ')}`, { exitCode: 2 });
  // The fetch code is loaded only when an image has to be fetched: the default stage1 is in the store already.
  const fetchImage: typeof import('../fetch/fetch.js').fetchImage = async (...a) => (await import('../fetch/fetch.js')).fetchImage(...a);
  const local = { ...globals, insecure: new Set([...globals.insecure, 'image' as const]) };
  let record: ImageRecord;
  let what: string;
  if (choice.hash !== undefined) {
    const { resolveImage } = await import('../store/resolve.js');
    record = await resolveImage(store.layout, choice.hash);
    what = choice.hash;
  } else if (choice.name !== undefined) {
    record = await fetchImage({ store, globals, pullPolicy: 'new' }, choice.name);
    what = choice.name;
  } else if (choice.url !== undefined) {
    record = await fetchImage({ store, globals, pullPolicy: 'new' }, choice.url);
    what = choice.url;
  } else {
    const file = choice.path ?? (choice.fromDir !== undefined ? path.join(choice.fromDir, 'stage1.aci') : (await configuredStage1(globals)) ?? defaultStage1Path());
    what = file;
    try {
      await fs.access(file);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      throw new RktError('ESTAGE1', `stage1 image ${file} not found`, {
        hint: choice.path === undefined ? 'build it with stage1-image/build (hack/setup does), or pass --stage1-path' : 'check the path',
      });
    }
    record = await importStage1File(store, local, file);
  }
  const manifest = parseImageManifest(await fs.readFile(path.join(store.layout.tree(record.id), 'manifest')));
  return { record, manifest, ...stage1Contract(manifest, what) };
}
