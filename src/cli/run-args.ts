/**
 * The command line of `rkt run` and `rkt prepare`: pod flags, then one or more images each followed by its
 * app flags and `-- ARGS`, images separated by `---` (or simply listed). yargs cannot express per-image flags,
 * so this grammar is parsed here. Pure.
 */
import { UsageError } from '../common/errors.js';
import type { FlagSpec } from './command.js';
import { findFlag, GLOBAL_FLAGS, refuseNotYet } from './flags.js';
import { RUN_FLAGS } from './run-flags.js';

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
  /** The isolation flags as given (`caps-retain`, `seccomp`, `no-new-privileges`, …), not yet parsed; absent if none. */
  readonly isolation?: Readonly<Record<string, string | boolean>>;
}

export interface RunArgs {
  /** Pod flags by name (without dashes): string values, lists for repeatable flags, booleans. */
  readonly pod: Readonly<Record<string, string | boolean | readonly string[]>>;
  /** `--mount`s given before the first image: for every app. */
  readonly podMounts: readonly string[];
  readonly apps: readonly AppArgs[];
  readonly help: boolean;
}

/** The flags a `rkt run`-style command takes among its words: its own table, plus the global flags. */
function tableFor(flags: readonly FlagSpec[]): readonly FlagSpec[] {
  return [...flags, ...GLOBAL_FLAGS.map((g) => ({ ...g, scope: 'pod' as const }))];
}

/** The app flags about isolation (parsed by stage0/isolation.ts). */
const ISOLATION_FLAGS = ['caps-retain', 'caps-remove', 'seccomp', 'no-new-privileges', 'memory', 'cpu', 'cpu-shares', 'oom-score-adj', 'readonly-rootfs'];

/** Global flags that may also follow an image, as rkt allowed. */
const GLOBALS_AFTER_IMAGE = ['debug', 'insecure-options', 'dir'];

function parseBool(flag: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UsageError(`bad value "${v}" for --${flag}: want true or false`);
}

/**
 * Parse the words after `rkt run` against the command's flag table (`RUN_FLAGS`, `PREPARE_FLAGS`). A flag
 * before the first image is a pod flag; after an image, an app flag of that image. `--` gives the rest (up to
 * `---`) as the app's arguments; `---` starts the next image. A flag rkt has but does not build yet is refused.
 */
export function parseRunArgs(words: readonly string[], flags: readonly FlagSpec[] = RUN_FLAGS): RunArgs {
  const table = tableFor(flags);
  const pod: Record<string, string | boolean | string[]> = {};
  const podMounts: string[] = [];
  const apps: { image: string; flags: Record<string, string | boolean | string[]>; args: string[] }[] = [];
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
      let flag = findFlag(table, name, current === undefined ? 'pod' : 'app');
      if (flag === undefined && current !== undefined && GLOBALS_AFTER_IMAGE.includes(name)) flag = findFlag(table, name, 'pod');
      if (flag === undefined) {
        if (current !== undefined && m !== null && findFlag(table, name, 'pod') !== undefined) {
          throw new UsageError(`--${name} is a pod flag: put it before the first image`);
        }
        if (current === undefined && m !== null && findFlag(table, name, 'app') !== undefined) {
          throw new UsageError(`--${name} is an app flag: put it after the image it is for`);
        }
        throw new UsageError(`unknown flag "${w.replace(/=.*$/s, '')}"${current === undefined ? '' : ` for image ${current.image}`}`);
      }
      const kind = flag.kind;
      const into: Record<string, string | boolean | string[]> = current !== undefined && flag.scope === 'app' ? current.flags : pod;
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
  refuseNotYet(table, pod);
  for (const a of apps) refuseNotYet(table, a.flags);
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
      const isolation = Object.fromEntries(Object.entries(a.flags).filter(([k, v]) => ISOLATION_FLAGS.includes(k) && !Array.isArray(v))) as Record<string, string | boolean>;
      if (Object.keys(isolation).length > 0) return { ...app, isolation };
      return app;
    }),
  };
}
