/**
 * The command line of `rkt run` and `rkt prepare`: pod flags, then one or more images each followed by its
 * app flags and `-- ARGS`, images separated by `---` (or simply listed). yargs cannot express per-image flags,
 * so this grammar is parsed here. Pure.
 */
import { UsageError } from '../common/errors.js';

export interface AppArgs {
  readonly image: string;
  readonly exec?: string;
  readonly name?: string;
  readonly user?: string;
  readonly group?: string;
  readonly workingDir?: string;
  readonly environment: readonly string[];
  readonly mounts: readonly string[];
  readonly args: readonly string[];
}

export interface RunArgs {
  /** Pod flags by name (without dashes): string values, lists for repeatable flags, booleans. */
  readonly pod: Readonly<Record<string, string | boolean | readonly string[]>>;
  /** `--mount`s given before the first image: for every app. */
  readonly podMounts: readonly string[];
  readonly apps: readonly AppArgs[];
  readonly help: boolean;
}

type Kind = 'string' | 'list' | 'boolean';

/** Pod-wide flags of `rkt run` / `rkt prepare`, with the global flags that may stand among them. */
export const POD_FLAGS: Readonly<Record<string, Kind>> = {
  'set-env': 'list', 'set-env-file': 'list', 'inherit-env': 'boolean', volume: 'list', hostname: 'string',
  'uuid-file-save': 'string', interactive: 'boolean', 'no-overlay': 'boolean', 'pull-policy': 'string', net: 'string',
  'stage1-path': 'string', 'stage1-url': 'string', 'stage1-name': 'string', 'stage1-hash': 'string', 'stage1-from-dir': 'string',
  'pod-manifest': 'string', quiet: 'boolean', mount: 'list', slice: 'string', memory: 'string', cpu: 'string', 'mds-register': 'boolean', dns: 'list', 'private-users': 'boolean', detach: 'boolean',
  // global flags
  dir: 'string', 'system-config': 'string', 'local-config': 'string', 'user-config': 'string', 'insecure-options': 'list',
  'trust-keys-from-https': 'boolean', debug: 'boolean',
};

const APP_FLAGS: Readonly<Record<string, Kind>> = {
  exec: 'string', name: 'string', user: 'string', group: 'string', 'working-dir': 'string', environment: 'list', mount: 'list',
};

function parseBool(flag: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UsageError(`bad value "${v}" for --${flag}: want true or false`);
}

/**
 * Parse the words after `rkt run`. `podFlags` lets `prepare` and `run` differ. A flag before the first image
 * is a pod flag; after an image, an app flag of that image. `--` gives the rest (up to `---`) as the app's
 * arguments; `---` starts the next image.
 */
export function parseRunArgs(words: readonly string[], podFlags: Readonly<Record<string, Kind>> = POD_FLAGS): RunArgs {
  const pod: Record<string, string | boolean | string[]> = {};
  const podMounts: string[] = [];
  const apps: { image: string; flags: Record<string, string | string[]>; args: string[] }[] = [];
  let help = false;
  let i = 0;
  const take = (flag: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const v = words[++i];
    if (v === undefined || v === '---' || v === '--') throw new UsageError(`flag --${flag} needs a value`);
    return v;
  };
  while (i < words.length) {
    const w = words[i] ?? '';
    const current = apps[apps.length - 1];
    if (w === '---') {
      if (current === undefined) throw new UsageError('"---" before any image: it separates one image and its flags from the next');
      const next = words[i + 1];
      if (next === undefined || next.startsWith('-')) throw new UsageError('"---" must be followed by an image');
      i++;
      continue;
    }
    if (w === '--') {
      if (current === undefined) throw new UsageError('"--" before any image: app arguments follow an image');
      i++;
      while (i < words.length && words[i] !== '---') current.args.push(words[i++] ?? '');
      continue;
    }
    if (w === '--help' || w === '-h') { help = true; i++; continue; }
    if (w.startsWith('-')) {
      const m = /^--?([^=]+)(?:=(.*))?$/s.exec(w);
      const name = m?.[1] ?? w;
      const inline = m?.[2];
      const table = current === undefined ? podFlags : APP_FLAGS;
      let kind = table[name];
      // Global flags may also follow an image, as rkt allowed.
      if (kind === undefined && current !== undefined && ['debug', 'insecure-options', 'dir'].includes(name)) kind = podFlags[name];
      if (kind === undefined) {
        if (current !== undefined && m !== null && podFlags[name] !== undefined) {
          throw new UsageError(`--${name} is a pod flag: put it before the first image`);
        }
        throw new UsageError(`unknown flag "${w.replace(/=.*$/s, '')}"${current === undefined ? '' : ` for image ${current.image}`}`);
      }
      const into: Record<string, string | boolean | string[]> = current !== undefined && APP_FLAGS[name] !== undefined ? current.flags : pod;
      if (kind === 'boolean') into[name] = inline === undefined ? true : parseBool(name, inline);
      else if (kind === 'list') {
        const v = take(name, inline);
        if (name === 'mount' && current === undefined) podMounts.push(v);
        else ((into[name] ??= []) as string[]).push(v);
      } else into[name] = take(name, inline);
      i++;
      continue;
    }
    apps.push({ image: w, flags: {}, args: [] });
    i++;
  }
  return {
    pod, podMounts, help,
    apps: apps.map((a) => {
      const s = (k: string) => (typeof a.flags[k] === 'string' ? (a.flags[k] as string) : undefined);
      const l = (k: string) => (Array.isArray(a.flags[k]) ? (a.flags[k] as string[]) : []);
      const app: AppArgs = {
        image: a.image, environment: l('environment'), mounts: l('mount'), args: a.args,
        ...(s('exec') !== undefined ? { exec: s('exec') } : {}), ...(s('name') !== undefined ? { name: s('name') } : {}),
        ...(s('user') !== undefined ? { user: s('user') } : {}), ...(s('group') !== undefined ? { group: s('group') } : {}),
        ...(s('working-dir') !== undefined ? { workingDir: s('working-dir') } : {}),
      };
      return app;
    }),
  };
}
