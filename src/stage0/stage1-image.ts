/**
 * Finding the stage1 image and reading its contract. Stage0 never hard-codes entrypoint paths: it reads them
 * from the stage1 manifest's annotations and gates newer arguments on its interface version.
 */
import { accessSync, existsSync, promises as fs, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, isErrno, RktError } from '../common/errors.js';
import { packageDir } from '../common/package-dir.js';
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
  /** Ours: what kind of pod the stage1 runs (`systemd`, the default when absent, or `fly`). */
  flavor: 'coreos.com/rkt/stage1/flavor',
} as const;

/** The kinds of pod a stage1 runs: systemd-nspawn with a systemd inside, or one app exec'd on the host (fly). */
export const STAGE1_FLAVORS = ['systemd', 'fly'] as const;
export type Stage1Flavor = (typeof STAGE1_FLAVORS)[number];

/** The interface versions this stage0 can drive. */
export const SUPPORTED_INTERFACE_VERSIONS = [5] as const;

export interface Stage1 {
  readonly record: ImageRecord;
  readonly manifest: ImageManifest;
  /** Entrypoint paths inside the stage1 rootfs. */
  readonly entrypoints: { readonly run: string; readonly enter: string; readonly gc: string; readonly stop: string };
  readonly interfaceVersion: number;
  /** What stage0 lays out and launches for it (the flavor annotation; `systemd` when absent). */
  readonly flavor: Stage1Flavor;
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
 * found from this module (src/common/package-dir.ts).
 */
export function defaultStage1Path(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.join(packageDir(here) ?? path.resolve(here, '../..'), 'build', 'stage1.aci');
}

/** The stage1 contract from a stage1 image's manifest; a manifest without it is not a stage1. */
export function stage1Contract(m: ImageManifest, what: string): Pick<Stage1, 'entrypoints' | 'interfaceVersion' | 'flavor'> {
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
  const flavor = get(STAGE1_ANNOTATIONS.flavor) ?? 'systemd';
  if (!(STAGE1_FLAVORS as readonly string[]).includes(flavor)) {
    throw new RktError('ESTAGE1', `${what}: stage1 flavor "${flavor}" is not supported (this rkt runs ${STAGE1_FLAVORS.join(', ')})`);
  }
  return { entrypoints: { run, enter, gc, stop }, interfaceVersion: version, flavor: flavor as Stage1Flavor };
}

/** Read `stage1.d/*.json` configs ({"rktKind":"stage1","rktVersion":"v1","location":...}) for a default location. */
async function configuredStage1(globals: GlobalOptions): Promise<string | undefined> {
  let location: string | undefined;
  for (const dir of [globals.systemConfig, globals.localConfig]) {
    const d = path.join(dir, 'stage1.d');
    let names: string[] = [];
    try {
      names = readdirSync(d).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
    }
    for (const n of names) {
      const file = path.join(d, n);
      let v: { rktKind?: unknown; location?: unknown };
      try {
        v = JSON.parse(readFileSync(file, 'utf8')) as typeof v;
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
  const st = statSync(abs);
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
 * `--stage1-from-dir`: a directory holding `stage1.aci`, or, as rkt's flag took it, a bare file name in the
 * stage1 images directory (beside the default stage1: `--stage1-from-dir=stage1-fly.aci`).
 */
async function fromDirFile(value: string): Promise<string> {
  const isDir = await fs.stat(value).then((st) => st.isDirectory(), (err: unknown) => {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  });
  if (isDir || value.includes('/')) return path.join(value, 'stage1.aci');
  return path.join(path.dirname(defaultStage1Path()), value);
}

/**
 * `--stage1-name=NAME[:VERSION]` without a network: the image file named after the name's last element in the
 * stage1 images directory of paths.d (`stage1-images`), if configured, or beside the default stage1
 * (`coreos.com/rkt/stage1-fly` → `build/stage1-fly.aci`; `stage1-systemd` is also the default `stage1.aci`), imported (once per file version) if its manifest has that name and labels; else the
 * newest import of that name in the store. Undefined: neither has it (the caller fetches it). The file comes
 * before the store so that a rebuilt image is used, not an older import of the same name.
 */
async function stage1ByName(store: Store, local: GlobalOptions, name: string): Promise<ImageRecord | undefined> {
  const { parseImageReference } = await import('../image/names.js');
  const { findImages, labelsMatch } = await import('../store/resolve.js');
  const { readConfig } = await import('../common/config.js');
  const ref = parseImageReference(name);
  const base = ref.name.split('/').pop() ?? ref.name;
  // rkt's stage1 images directory (paths.d "stage1-images") when configured, then the build's directory.
  const dirs = [(await readConfig(local)).paths.stage1Images, path.dirname(defaultStage1Path())].filter((d): d is string => d !== undefined);
  const candidates = [...dirs.map((d) => path.join(d, `${base}.aci`)), ...(ref.name === 'coreos.com/rkt/stage1-systemd' ? [defaultStage1Path()] : [])];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const rec = await importStage1File(store, local, file);
    if (rec.name === ref.name && labelsMatch(rec.labels, ref.labels)) return rec;
  }
  return (await findImages(store.layout, name))[0];
}

/**
 * The stage1 for a pod: from --stage1-path/-url/-name/-hash/-from-dir, a stage1.d config, or the default the
 * build recorded. The image is imported into the store (the default and local paths without a signature
 * check, as rkt treated its own stage1), and its contract read.
 */
export async function resolveStage1(store: Store, globals: GlobalOptions, choice: Stage1Choice): Promise<Stage1> {
  // Stage0 asks early (the flavor decides how the pod is planned) and again when it lays the pod out: once.
  const key = JSON.stringify([globals.dir, choice]);
  let p = resolved.get(key);
  if (p === undefined) {
    p = resolveStage1Once(store, globals, choice);
    resolved.set(key, p);
    p.catch(() => resolved.delete(key));
  }
  return p;
}

const resolved = new Map<string, Promise<Stage1>>();

async function resolveStage1Once(store: Store, globals: GlobalOptions, choice: Stage1Choice): Promise<Stage1> {
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
    const name = choice.name;
    record = await stage1ByName(store, local, name) ?? await fetchImage({ store, globals, pullPolicy: 'new' }, name).catch((err: unknown) => {
      if (!(err instanceof RktError)) throw err;
      throw new RktError('ESTAGE1', `stage1 image "${name}" not found: no ${path.join(path.dirname(defaultStage1Path()), `${name.split(/[:,]/)[0]?.split('/').pop() ?? ''}.aci`)} with that name and labels (nor in paths.d's stage1-images), none in the store, and fetching it failed: ${err.message}`, {
        cause: err, hint: 'build it (stage1-image/build-fly makes coreos.com/rkt/stage1-fly), fetch it, or pass --stage1-path',
      });
    });
    what = name;
  } else if (choice.url !== undefined) {
    record = await fetchImage({ store, globals, pullPolicy: 'new' }, choice.url);
    what = choice.url;
  } else {
    const file = choice.path ?? (choice.fromDir !== undefined ? await fromDirFile(choice.fromDir) : (await configuredStage1(globals)) ?? defaultStage1Path());
    what = file;
    try {
      accessSync(file);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      throw new RktError('ESTAGE1', `stage1 image ${file} not found`, {
        hint: choice.path === undefined ? 'build it with stage1-image/build (hack/setup does), or pass --stage1-path' : 'check the path',
      });
    }
    record = await importStage1File(store, local, file);
  }
  const manifest = parseImageManifest(readFileSync(path.join(store.layout.tree(record.id), 'manifest')));
  return { record, manifest, ...stage1Contract(manifest, what) };
}
