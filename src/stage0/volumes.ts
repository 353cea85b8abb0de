/** `--volume` and `--mount` as users write them, into pod-manifest volumes and mounts. Pure. */
import { UsageError } from '../common/errors.js';
import { isAcName } from '../image/names.js';
import type { Volume, Mount } from '../image/pod-manifest.js';

function fields(flag: string, s: string, first: 'name' | 'none'): { name?: string; kv: Map<string, string> } {
  const parts = s.split(',');
  const kv = new Map<string, string>();
  let name: string | undefined;
  parts.forEach((p, i) => {
    const eq = p.indexOf('=');
    if (i === 0 && first === 'name' && eq === -1) { name = p; return; }
    if (eq <= 0) throw new UsageError(`bad ${flag} "${s}": "${p}" is not key=value`);
    const k = p.slice(0, eq);
    if (kv.has(k)) throw new UsageError(`bad ${flag} "${s}": "${k}" given twice`);
    kv.set(k, p.slice(eq + 1));
  });
  return name === undefined ? { kv } : { name, kv };
}

function bool(flag: string, k: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new UsageError(`bad ${flag} value ${k}=${v}: want true or false`);
}

/** `NAME,kind=host,source=/abs[,readOnly=true][,recursive=true]` or `NAME,kind=empty[,mode=0755,uid=0,gid=0]`. */
export function parseVolume(s: string): Volume {
  const { name, kv } = fields('--volume', s, 'name');
  if (name === undefined || !isAcName(name)) throw new UsageError(`bad --volume "${s}": it must start with a volume name (lowercase letters, digits, -)`);
  const allowed = new Set(['kind', 'source', 'readOnly', 'recursive', 'mode', 'uid', 'gid']);
  for (const k of kv.keys()) if (!allowed.has(k)) throw new UsageError(`bad --volume "${s}": unknown key "${k}"`);
  const kind = kv.get('kind');
  const readOnly = bool('--volume', 'readOnly', kv.get('readOnly'));
  const recursive = bool('--volume', 'recursive', kv.get('recursive'));
  const opt = { ...(readOnly !== undefined ? { readOnly } : {}), ...(recursive !== undefined ? { recursive } : {}) };
  if (kind === 'host') {
    const source = kv.get('source');
    if (source === undefined || !source.startsWith('/')) throw new UsageError(`bad --volume "${s}": kind=host needs source=/absolute/path`);
    for (const k of ['mode', 'uid', 'gid']) if (kv.has(k)) throw new UsageError(`bad --volume "${s}": ${k} is for kind=empty`);
    return { name, kind: 'host', source, ...opt };
  }
  if (kind === 'empty') {
    if (kv.has('source')) throw new UsageError(`bad --volume "${s}": source is for kind=host`);
    const mode = kv.get('mode') ?? '0755';
    if (!/^[0-7]{1,4}$/.test(mode)) throw new UsageError(`bad --volume "${s}": mode "${mode}" is not octal`);
    const id = (k: string) => {
      const v = kv.get(k) ?? '0';
      if (!/^\d+$/.test(v)) throw new UsageError(`bad --volume "${s}": ${k} "${v}" is not a number`);
      return Number(v);
    };
    return { name, kind: 'empty', mode, uid: id('uid'), gid: id('gid'), ...opt };
  }
  throw new UsageError(`bad --volume "${s}": kind must be host or empty`);
}

/** `volume=NAME,target=/path`. */
export function parseMount(s: string): Mount {
  const { kv } = fields('--mount', s, 'none');
  for (const k of kv.keys()) if (k !== 'volume' && k !== 'target') throw new UsageError(`bad --mount "${s}": unknown key "${k}"`);
  const volume = kv.get('volume');
  const target = kv.get('target');
  if (volume === undefined || target === undefined || !target.startsWith('/')) {
    throw new UsageError(`bad --mount "${s}": want volume=NAME,target=/absolute/path`);
  }
  return { volume, path: target };
}
