/**
 * A synchronous, streaming scanner of tar headers (ustar, GNU and pax). It sees every entry's header before any
 * byte after that header is passed on, which is what lets the store feed GNU tar only bytes whose headers have
 * been checked (see src/store/extract.ts). It reads headers only: bodies are skipped unless asked for.
 * Unlike node-tar's parser it never queues entries, so a check is done by the time `write` returns.
 */
import { RktError } from '../common/errors.js';

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'chardev' | 'blockdev' | 'dir' | 'fifo';

export interface TarHeader {
  readonly path: string;
  readonly type: TarEntryType;
  readonly linkpath: string;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
}

export interface TarScanHandlers {
  /** Called with each entry's header; return true to receive its body through onBody. May throw to stop. */
  onEntry(header: TarHeader): boolean | void;
  onBody?(header: TarHeader, chunk: Buffer): void;
}

const BLOCK = 512;
/** Largest pax or GNU long-name record accepted: metadata, never megabytes. */
const MAX_META = 1 << 20;

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'chardev', '4': 'blockdev', '5': 'dir', '6': 'fifo',
};

function bad(message: string): RktError {
  return new RktError('ETARFORMAT', message);
}

function cString(b: Buffer, start: number, len: number): string {
  const field = b.subarray(start, start + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

/** A numeric header field: octal text, or GNU base-256 when the high bit of the first byte is set. */
function num(b: Buffer, start: number, len: number, what: string): number {
  const field = b.subarray(start, start + len);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    if ((field[0] ?? 0) === 0xff) throw bad(`negative ${what} in tar header`);
    let v = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + (field[i] ?? 0);
    if (!Number.isSafeInteger(v)) throw bad(`${what} too large in tar header`);
    return v;
  }
  const text = cString(b, start, len).replace(/ /g, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw bad(`bad ${what} "${text}" in tar header`);
  return parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  const text = cString(h, 148, 8).replace(/ /g, '');
  if (!/^[0-7]+$/.test(text)) return false;
  const want = parseInt(text, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return want === unsigned || want === signed;
}

/** Parse pax extended header records ("LEN key=value\n"...). */
export function parsePax(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space === -1) break;
    const len = Number(body.subarray(pos, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || pos + len > body.length) throw bad('bad pax extended header record');
    const rec = body.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq === -1) throw bad('bad pax extended header record');
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return out;
}

type State =
  | { kind: 'header' }
  | { kind: 'meta'; type: string; size: number; left: number; parts: Buffer[] }
  | { kind: 'body'; header: TarHeader; left: number; padding: number; deliver: boolean }
  | { kind: 'pad'; left: number }
  | { kind: 'end' };

export class TarScanner {
  private state: State = { kind: 'header' };
  private carry: Buffer = Buffer.alloc(0);
  private pax = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;
  private zeroBlocks = 0;
  entries = 0;

  constructor(private readonly handlers: TarScanHandlers) {}

  /** Scan the next bytes. Throws (RktError ETARFORMAT, or whatever a handler throws) at the first bad header. */
  write(chunk: Buffer): void {
    let buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    while (buf.length > 0) {
      const s = this.state;
      switch (s.kind) {
        case 'end':
          return;
        case 'header': {
          if (buf.length < BLOCK) { this.carry = Buffer.from(buf); return; }
          this.header(buf.subarray(0, BLOCK));
          buf = buf.subarray(BLOCK);
          break;
        }
        case 'meta': {
          const take = Math.min(s.left, buf.length);
          s.parts.push(Buffer.from(buf.subarray(0, take)));
          s.left -= take;
          buf = buf.subarray(take);
          if (s.left === 0) this.meta(s.type, Buffer.concat(s.parts).subarray(0, s.size));
          break;
        }
        case 'body': {
          const take = Math.min(s.left, buf.length);
          if (s.deliver && take > 0) this.handlers.onBody?.(s.header, buf.subarray(0, take));
          s.left -= take;
          buf = buf.subarray(take);
          if (s.left === 0) this.state = s.padding > 0 ? { kind: 'pad', left: s.padding } : { kind: 'header' };
          break;
        }
        case 'pad': {
          const take = Math.min(s.left, buf.length);
          s.left -= take;
          buf = buf.subarray(take);
          if (s.left === 0) this.state = { kind: 'header' };
          break;
        }
      }
    }
  }

  /** The input is over: throws if it stopped inside a header or an entry's data. */
  end(): void {
    const s = this.state;
    if (s.kind === 'end') return;
    if (s.kind === 'header' && this.carry.length === 0) {
      if (this.entries === 0 && this.zeroBlocks === 0) throw bad('no tar entries found');
      return;
    }
    const need = s.kind === 'header' ? BLOCK - this.carry.length : s.kind === 'pad' ? 0 : s.left;
    throw bad(`truncated input (needed ${need} more bytes)`);
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.state = { kind: 'end' };
      return;
    }
    if (this.zeroBlocks > 0) throw bad('unexpected data after an end-of-archive block');
    if (!checksumOk(h)) {
      throw bad(this.entries === 0 ? 'unrecognized archive format (not a tar)' : 'bad tar header checksum');
    }
    const magic = h.subarray(257, 263).toString('latin1');
    const typeflag = String.fromCharCode(h[156] ?? 0);
    const size = num(h, 124, 12, 'size');
    if (['x', 'g', 'L', 'K'].includes(typeflag)) {
      if (size > MAX_META) throw bad(`tar metadata record of ${size} bytes is too large`);
      const total = Math.ceil(size / BLOCK) * BLOCK;
      if (total === 0) this.meta(typeflag, Buffer.alloc(0));
      else this.state = { kind: 'meta', type: typeflag, size, left: total, parts: [] };
      return;
    }
    const type = TYPES[typeflag];
    if (type === undefined) throw bad(`unsupported tar entry type "${typeflag === '\0' ? '\\0' : typeflag}"`);
    let path = cString(h, 0, 100);
    if (magic === 'ustar\0') {
      const prefix = cString(h, 345, 155);
      if (prefix !== '') path = `${prefix}/${path}`;
    }
    let linkpath = cString(h, 157, 100);
    let realSize = size;
    if (this.longName !== undefined) path = this.longName;
    if (this.longLink !== undefined) linkpath = this.longLink;
    const paxPath = this.pax.get('path');
    if (paxPath !== undefined) path = paxPath;
    const paxLink = this.pax.get('linkpath');
    if (paxLink !== undefined) linkpath = paxLink;
    const paxSize = this.pax.get('size');
    if (paxSize !== undefined) {
      if (!/^\d+$/.test(paxSize)) throw bad(`bad pax size "${paxSize}"`);
      realSize = Number(paxSize);
    }
    this.pax = new Map();
    this.longName = undefined;
    this.longLink = undefined;
    if (type !== 'file' && realSize !== 0) throw bad(`tar entry "${path}" is a ${type} but carries ${realSize} bytes of data`);
    const header: TarHeader = {
      path, type, linkpath, size: realSize,
      mode: num(h, 100, 8, 'mode'), uid: num(h, 108, 8, 'uid'), gid: num(h, 116, 8, 'gid'), mtime: num(h, 136, 12, 'mtime'),
    };
    this.entries++;
    const deliver = this.handlers.onEntry(header) === true;
    if (realSize > 0) {
      this.state = { kind: 'body', header, left: realSize, padding: (BLOCK - (realSize % BLOCK)) % BLOCK, deliver };
    }
  }

  private meta(type: string, body: Buffer): void {
    this.state = { kind: 'header' };
    if (type === 'x') {
      for (const [k, v] of parsePax(body)) this.pax.set(k, v);
    } else if (type === 'g') {
      const global = parsePax(body);
      if (global.has('path') || global.has('linkpath')) throw bad('a global pax header may not set path or linkpath');
    } else if (type === 'L') {
      this.longName = cString(body, 0, body.length);
    } else if (type === 'K') {
      this.longLink = cString(body, 0, body.length);
    }
  }
}
