import type { Argv } from 'yargs';
import { promises as fs } from 'node:fs';
import { isErrno, RktError, UsageError } from '../common/errors.js';

/** `--format` as the list and status commands take it. */
export type OutputFormat = 'tabbed' | 'json' | 'json-pretty';

export function formatFlag(y: Argv): Argv {
  return y.option('format', { type: 'string', default: 'tabbed', describe: 'output format: tabbed, json or json-pretty' });
}

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
  throw new RktError('EEXIST', `${target} already exists`, { hint: 'use --overwrite to replace it' });
}
