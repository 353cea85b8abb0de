import { promises as fs } from 'node:fs';
import { isErrno, RktError, UsageError } from '../common/errors.js';
import type { FlagSpec } from './command.js';

/** `--format` as the list and status commands take it. */
export type OutputFormat = 'tabbed' | 'json' | 'json-pretty';

export const FORMAT_FLAG: FlagSpec = { name: 'format', kind: 'string', default: 'tabbed', describe: 'output format: tabbed, json or json-pretty' };

/** Check a --format value. */
export function outputFormat(v: unknown): OutputFormat {
  const s = String(v ?? 'tabbed');
  if (s !== 'tabbed' && s !== 'json' && s !== 'json-pretty') throw new UsageError(`bad --format value "${s}": want tabbed, json or json-pretty`);
  return s;
}

/** JSON text for --format=json / json-pretty. */
export function renderJson(value: unknown, format: OutputFormat): string {
  return (format === 'json-pretty' ? JSON.stringify(value, null, 2) : JSON.stringify(value)) + '\n';
}

/** The operands of a command as strings. */
export function operands(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)];
}

/** Refuse to write over an existing `target` unless --overwrite was given. */
export async function refuseExisting(target: string, overwrite: unknown): Promise<void> {
  if (overwrite === true) return;
  try {
    await fs.lstat(target);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  throw new RktError('EOVERWRITE', `${target} already exists`, { hint: 'use --overwrite to replace it' });
}

/** The flags every command takes, before or after its name. */
export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: 'dir', kind: 'string', default: '/var/lib/rkt', describe: 'rkt data directory' },
  { name: 'system-config', kind: 'string', default: '/usr/lib/rkt', describe: 'system configuration directory' },
  { name: 'local-config', kind: 'string', default: '/etc/rkt', describe: 'local configuration directory' },
  { name: 'user-config', kind: 'string', notYet: 'any', describe: 'user configuration directory' },
  {
    name: 'insecure-options', kind: 'list',
    describe: 'comma-separated list of security checks to skip: none,image,tls,ondisk,http,pubkey,capabilities,paths,seccomp,all-fetch,all-run,all',
  },
  { name: 'trust-keys-from-https', kind: 'boolean', default: false, describe: 'automatically trust gpg keys fetched from https' },
  { name: 'debug', kind: 'boolean', default: false, describe: 'print out more debug information to stderr' },
];

/** The flag a `--name[=value]` word names in `table`, if any. */
export function findFlag(table: readonly FlagSpec[], name: string, scope?: 'pod' | 'app'): FlagSpec | undefined {
  return table.find((f) => f.name === name && (scope === undefined || f.scope === undefined || f.scope === scope));
}

/**
 * Refuse, with exit 2, any flag of `table` given in `values` that rkt has but does not build yet. A flag is
 * given when its value is not undefined; a `notYet: 'true'` flag only when true.
 */
export function refuseNotYet(table: readonly FlagSpec[], values: Readonly<Record<string, unknown>>): void {
  for (const f of table) {
    if (f.notYet === undefined) continue;
    const v = values[f.name];
    if (v === undefined || (f.notYet === 'true' && v !== true)) continue;
    throw new UsageError(`--${f.name} is not supported yet`, { hint: f.notYet === 'true' ? `leave it out (or --${f.name}=false)` : 'leave it out' });
  }
}
