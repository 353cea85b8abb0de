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

/** `s` with every byte outside printable ASCII written as \xHH, for messages about raw header bytes. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * The octal digits of a numeric field in the only form read here: optional leading spaces, the digits, then
 * nothing but spaces and NULs to the field's end. GNU tar (list.c, from_header) also skips one leading NUL,
 * stops at the first space or NUL after the digits and ignores whatever follows ("0000 0002000" is 0 to it),
 * and accepts other whitespace: every such field is refused, so a field accepted here is the same number to
 * GNU tar. Undefined if the field is not in that form.
 */
function octalDigits(field: Buffer): string | undefined {
  return /^ *([0-7]+)[ \0]*$/.exec(field.toString('latin1'))?.[1];
}

/**
 * A numeric header field: octal text (see octalDigits), a field of NULs only (0, as GNU tar reads it), or GNU
 * base-256 when the first byte is 0x80. Any other first byte with the high bit set is refused: 0xff is
 * GNU's negative base-256, and GNU tar refuses the rest.
 */
function num(b: Buffer, start: number, len: number, what: string): number {
  const field = b.subarray(start, start + len);
  const first = field[0] ?? 0;
  if (first === 0xff) throw bad(`negative ${what} in tar header`);
  if (first === 0x80) {
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + (field[i] ?? 0);
    if (!Number.isSafeInteger(v)) throw bad(`${what} too large in tar header`);
    return v;
  }
  if (field.every((x) => x === 0)) return 0;
  const digits = octalDigits(field);
  if (digits === undefined) throw bad(`bad ${what} "${printable(field.toString('latin1').replace(/\0+$/, ''))}" in tar header`);
  return parseInt(digits, 8);
}

/** The header's checksum matches its bytes (unsigned or signed sum), its field read as octalDigits reads it. */
function checksumOk(h: Buffer): boolean {
  const text = octalDigits(h.subarray(148, 156));
  if (text === undefined) return false;
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

/**
 * Parse pax extended header records ("LEN key=value\n"...), each exactly in that form: LEN in decimal digits
 * counting the whole record, one space, a key without NUL that does not start with a blank, "=", the value,
 * a newline; and nothing after the last record. GNU tar (xheader.c, decode_record) also skips blanks around
 * LEN, and stops quietly at the first byte that starts no record: a record another tool would read past, or
 * read with another key, is refused instead. Later records win, as in GNU tar.
 */
export function parsePax(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    const lenText = space === -1 ? '' : body.subarray(pos, space).toString('latin1');
    const len = /^[0-9]+$/.test(lenText) ? Number(lenText) : NaN;
    if (!Number.isSafeInteger(len) || len <= 0 || pos + len > body.length || body[pos + len - 1] !== 0x0a) throw bad('bad pax extended header record');
    const rec = body.subarray(space + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    const key = eq === -1 ? '' : rec.subarray(0, eq).toString('utf8');
    if (key === '' || /^[ \t]|\0/.test(key)) throw bad('bad pax extended header record');
    out.set(key, rec.subarray(eq + 1).toString('utf8'));
    pos += len;
  }
  return out;
}

type State =
  | { kind: 'header' }
  | { kind: 'meta'; type: string; name: string; size: number; left: number; parts: Buffer[] }
  | { kind: 'body'; header: TarHeader; left: number; padding: number; deliver: boolean }
  | { kind: 'pad'; left: number }
  | { kind: 'end' };

export class TarScanner {
  private state: State = { kind: 'header' };
  private carry: Buffer = Buffer.alloc(0);
  private pax = new Map<string, string>();
  /** Pax extended headers ('x') read since the last entry: GNU tar keeps only the last one's records. */
  private paxHeaders = 0;
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
          if (s.left === 0) this.meta(s.type, s.name, Buffer.concat(s.parts), s.size);
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
    const need = s.kind === 'header' ? BLOCK - this.carry.length : s.left;
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
      const name = cString(h, 0, 100);
      if (total === 0) this.meta(typeflag, name, Buffer.alloc(0), 0);
      else this.state = { kind: 'meta', type: typeflag, name, size, left: total, parts: [] };
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
    this.checkPax(path);
    const paxPath = this.pax.get('path');
    if (paxPath !== undefined) path = paxPath;
    const paxLink = this.pax.get('linkpath');
    if (paxLink !== undefined) linkpath = paxLink;
    const paxSize = this.pax.get('size');
    if (paxSize !== undefined) {
      if (!/^\d+$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) throw bad(`bad pax size "${paxSize}"`);
      realSize = Number(paxSize);
    }
    this.pax = new Map();
    this.paxHeaders = 0;
    this.longName = undefined;
    this.longLink = undefined;
    if (type !== 'file' && realSize !== 0) throw bad(`tar entry "${path}" is a ${type} but carries ${realSize} bytes of data`);
    // GNU tar (extract.c) extracts a regular file whose name ends in "/" as a directory, and then reads what
    // the header calls its data as further headers, which this scanner would skip unchecked.
    if (type === 'file' && path.endsWith('/')) {
      throw bad(`tar entry "${path}" is a regular file whose name ends in "/" (GNU tar would read it as a directory)`);
    }
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

  /**
   * Refuse the pending pax records (for the entry named `name` by its header or GNU long name) where GNU tar
   * would read the entry otherwise than the scanner does.
   */
  private checkPax(name: string): void {
    if (this.paxHeaders > 1) {
      throw bad(`tar entry "${name}" has ${this.paxHeaders} pax extended headers (GNU tar would use only the last one's records)`);
    }
    for (const [k, v] of this.pax) {
      // GNU.sparse.name renames the entry, GNU.sparse.size/realsize/map re-read its data, GNU.dumpdir and
      // GNU.volume.* belong to incremental and multi-volume archives: rkt supports none of them.
      if (k.startsWith('GNU.')) throw bad(`tar entry "${name}" has the pax key "${k}" (rkt does not support GNU sparse, dump-directory or multi-volume entries)`);
      // GNU tar reads a pax path or linkpath as a C string, up to its first NUL; the checks would see more.
      if ((k === 'path' || k === 'linkpath') && v.includes('\0')) {
        throw bad(`tar entry "${name}" has a pax ${k} holding a NUL byte ("${printable(v)}")`);
      }
    }
  }

  /** A metadata record read whole: `blocks` is its data with the padding to whole blocks, `size` its size. */
  private meta(type: string, name: string, blocks: Buffer, size: number): void {
    this.state = { kind: 'header' };
    const body = blocks.subarray(0, size);
    if (type === 'x') {
      this.pax = parsePax(body);
      this.paxHeaders++;
    } else if (type === 'g') {
      // GNU tar applies a global header's records to every later entry. Those that change where an entry goes
      // or how many bytes of data it has (path, linkpath, size, GNU.sparse.* and GNU's other extensions) would
      // make GNU tar read entries the scanner checked under other names or sizes: refused. The others (comment,
      // mtime, atime, uid, gid, uname, gname, charset, xattrs...) change no name and no size, so no header
      // check depends on them: allowed, as tools write some of them (git archive writes a comment).
      for (const k of parsePax(body).keys()) {
        if (k === 'path' || k === 'linkpath' || k === 'size' || k.startsWith('GNU.')) {
          throw bad(`global pax header "${name}" sets "${k}" (GNU tar would apply it to every later entry)`);
        }
      }
    } else if (type === 'L' || type === 'K') {
      // GNU tar (list.c, read_header) reads a long name as a C string from the whole blocks, padding included:
      // one whose NUL is not within its size would be longer to GNU tar than its size says.
      const long = cString(body, 0, body.length);
      const asGnuReads = cString(blocks, 0, blocks.length);
      if (long !== asGnuReads) {
        throw bad(`GNU long ${type === 'L' ? 'name' : 'link'} "${printable(asGnuReads)}" runs past its size of ${size} bytes`);
      }
      if (type === 'L') this.longName = long;
      else this.longLink = long;
    }
  }
}
