import type { Args, FlagSpec } from './command.js';
import { UsageError } from '../common/errors.js';

/** `--uuid-file`, which every command that takes a pod accepts. */
export const UUID_FILE_FLAG: FlagSpec = { name: 'uuid-file', kind: 'string', describe: 'read the pod UUID from this file' };

/** The pod words given: operands, or the one in --uuid-file. Exactly one source is a usage rule. */
export async function podWords(args: Args, operand: string, many: boolean): Promise<string[]> {
  const raw = args[operand];
  const words = Array.isArray(raw) ? raw.map(String) : raw === undefined ? [] : [String(raw)];
  const file = typeof args['uuid-file'] === 'string' ? args['uuid-file'] : undefined;
  if (file !== undefined) {
    if (words.length > 0) throw new UsageError('give a pod UUID or --uuid-file, not both');
    const { readUuidFile } = await import('../pod/pods.js');
    return [await readUuidFile(file)];
  }
  if (words.length === 0) throw new UsageError(`missing pod UUID${many ? '(s)' : ''} (or --uuid-file)`);
  if (!many && words.length > 1) throw new UsageError('only one pod UUID may be given');
  return words;
}
