/**
 * The tar header scanner (src/image/tar-scan.ts) on archives written byte by byte here: every header rule it
 * enforces, the formats it reads (ustar prefix, GNU long names, pax records, base-256 numbers), and what a user
 * is then told when such an archive is fetched (inspectAciStream wraps scanner errors as EACIFORMAT and applies
 * the ACI layout rules on the headers the scanner reports).
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { RktError } from '../../../src/common/errors.js';
import { inspectAciStream } from '../../../src/image/aci.js';
import { parsePax, TarScanner, type TarHeader } from '../../../src/image/tar-scan.js';
import { manifestJson } from '../../lib/tar.js';

// ---------------------------------------------------------------------------------------------------------
// Writing archives

interface Hdr {
  readonly name: string;
  /** The typeflag character. */
  readonly type?: string;
  readonly size?: number;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: number;
  readonly linkname?: string;
  readonly prefix?: string;
  /** The 8 bytes of magic and version; POSIX ustar by default. */
  readonly magic?: string;
  /** Raw bytes to put over a field after the rest is written: [offset, bytes]. */
  readonly raw?: readonly (readonly [number, Buffer])[];
  readonly checksum?: 'ok' | 'bad' | 'signed' | 'garbage';
}

const octal = (n: number, width: number): string => `${n.toString(8).padStart(width - 1, '0')}\0`;

/** One 512-byte header block. */
function header(o: Hdr): Buffer {
  const h = Buffer.alloc(512);
  h.write(o.name, 0, 100, 'utf8');
  h.write(octal(o.mode ?? 0o644, 8), 100, 'latin1');
  h.write(octal(o.uid ?? 0, 8), 108, 'latin1');
  h.write(octal(o.gid ?? 0, 8), 116, 'latin1');
  h.write(octal(o.size ?? 0, 12), 124, 'latin1');
  h.write(octal(o.mtime ?? 1_700_000_000, 12), 136, 'latin1');
  h.write(o.type ?? '0', 156, 'latin1');
  if (o.linkname !== undefined) h.write(o.linkname, 157, 100, 'utf8');
  h.write(o.magic ?? 'ustar\u000000', 257, 'latin1');
  if (o.prefix !== undefined) h.write(o.prefix, 345, 155, 'utf8');
  for (const [at, bytes] of o.raw ?? []) bytes.copy(h, at);
  h.write('        ', 148, 'latin1');
  let unsigned = 0;
  let signed = 0;
  for (const b of h) { unsigned += b; signed += b > 127 ? b - 256 : b; }
  const sum = { ok: unsigned, signed, bad: unsigned + 1, garbage: -1 }[o.checksum ?? 'ok'];
  h.write(sum === -1 ? 'zz\0     ' : `${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

const padTo512 = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);

/** A header and its body (size taken from the body unless given), padded to whole blocks. */
function entry(o: Hdr, body: string | Buffer = ''): Buffer {
  const data = Buffer.from(body);
  return Buffer.concat([header({ size: data.length, ...o }), padTo512(data)]);
}

/** pax records `LEN key=value\n`, LEN counting itself. */
function paxRecords(pairs: Record<string, string>): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of Object.entries(pairs)) {
    const rest = Buffer.byteLength(` ${k}=${v}\n`);
    let len = rest + 1;
    while (String(len).length + rest !== len) len++;
    out.push(Buffer.from(`${len} ${k}=${v}\n`));
  }
  return Buffer.concat(out);
}

const pax = (pairs: Record<string, string>, type = 'x'): Buffer => entry({ name: 'PaxHeaders/x', type }, paxRecords(pairs));
const gnuLong = (type: 'L' | 'K', name: string): Buffer => entry({ name: '././@LongLink', type }, `${name}\0`);
const END = Buffer.alloc(1024);

/** A whole archive: the parts and the two end-of-archive blocks. */
const tar = (...parts: Buffer[]): Buffer => Buffer.concat([...parts, END]);

/** The start of a valid ACI: its manifest and rootfs/. */
const aciHead = (): Buffer[] => [entry({ name: 'manifest' }, manifestJson()), entry({ name: 'rootfs/', type: '5' })];

// ---------------------------------------------------------------------------------------------------------
// Reading them

interface Scanned { readonly headers: TarHeader[]; readonly bodies: Map<string, string> }

/** Scan `bytes` in chunks of `chunk` bytes (all at once by default), asking for the body of every file. */
function scan(bytes: Buffer, chunk = bytes.length, wantBody: (h: TarHeader) => boolean = (h) => h.type === 'file'): Scanned {
  const headers: TarHeader[] = [];
  const bodies = new Map<string, string>();
  const s = new TarScanner({
    onEntry: (h) => { headers.push(h); return wantBody(h); },
    onBody: (h, c) => { bodies.set(h.path, (bodies.get(h.path) ?? '') + c.toString('latin1')); },
  });
  for (let i = 0; i < bytes.length; i += Math.max(chunk, 1)) s.write(bytes.subarray(i, i + Math.max(chunk, 1)));
  s.end();
  return { headers, bodies };
}

/** The ETARFORMAT error scanning `bytes` gives, with its exact message. */
function scanFails(t: ExecutionContext, bytes: Buffer, message: string): void {
  for (const chunk of [bytes.length, 1, 511]) {
    const err = t.throws(() => scan(bytes, chunk), { instanceOf: RktError }, `in chunks of ${chunk}`);
    t.is(err?.code, 'ETARFORMAT');
    t.is(err?.message, message, `in chunks of ${chunk}`);
  }
}

/** What a user is told when fetching `bytes` as the image "evil.aci". */
async function fetchError(t: ExecutionContext, bytes: Buffer): Promise<RktError> {
  const err = await t.throwsAsync(inspectAciStream(Readable.from([bytes]), 'evil.aci'), { instanceOf: RktError });
  return err as RktError;
}

/** A fetch of `bytes` fails as "not a valid image" with the scanner's `message`, and the format hint. */
async function notAnImage(t: ExecutionContext, bytes: Buffer, message: string): Promise<void> {
  const err = await fetchError(t, bytes);
  t.is(err.code, 'EACIFORMAT');
  t.is(err.message, `evil.aci: not a valid image: ${message}`);
  t.is(err.hint, 'an ACI is a tar (optionally gzip, bzip2 or xz compressed) holding "manifest" and "rootfs/"');
  t.is(err.exitCode, 254);
}

/** A fetch of `bytes` fails as a bad layout with exactly `message`. */
async function badLayout(t: ExecutionContext, bytes: Buffer, message: string): Promise<void> {
  const err = await fetchError(t, bytes);
  t.is(err.code, 'EACILAYOUT');
  t.is(err.message, message);
}

// ---------------------------------------------------------------------------------------------------------
// What the scanner reads

test('every entry type is reported with its header fields; only asked-for bodies are delivered, without padding', (t) => {
  const bytes = tar(
    entry({ name: 'rootfs/', type: '5', mode: 0o755, uid: 0, gid: 0 }),
    entry({ name: 'rootfs/file', mode: 0o4755, uid: 1000, gid: 100, mtime: 1_234_567_890 }, 'hello'),
    entry({ name: 'rootfs/skipped' }, 'x'.repeat(700)),
    entry({ name: 'rootfs/old-v7', type: '\0' }, 'v7'),
    entry({ name: 'rootfs/contig', type: '7' }, 'c'),
    entry({ name: 'rootfs/hard', type: '1', linkname: 'rootfs/file' }),
    entry({ name: 'rootfs/sym', type: '2', linkname: '/etc/hosts' }),
    entry({ name: 'rootfs/dev/null', type: '3', mode: 0o666, raw: [[329, Buffer.from('0000001\0')], [337, Buffer.from('0000003\0')]] }),
    entry({ name: 'rootfs/dev/sda', type: '4', mode: 0o660 }),
    entry({ name: 'rootfs/fifo', type: '6' }),
  );
  const { headers, bodies } = scan(bytes, bytes.length, (h) => h.type === 'file' && h.path !== 'rootfs/skipped');
  t.deepEqual(headers.map((h) => [h.path, h.type, h.linkpath, h.size]), [
    ['rootfs/', 'dir', '', 0],
    ['rootfs/file', 'file', '', 5],
    ['rootfs/skipped', 'file', '', 700],
    ['rootfs/old-v7', 'file', '', 2],
    ['rootfs/contig', 'file', '', 1],
    ['rootfs/hard', 'hardlink', 'rootfs/file', 0],
    ['rootfs/sym', 'symlink', '/etc/hosts', 0],
    ['rootfs/dev/null', 'chardev', '', 0],
    ['rootfs/dev/sda', 'blockdev', '', 0],
    ['rootfs/fifo', 'fifo', '', 0],
  ]);
  t.deepEqual(headers[1], { path: 'rootfs/file', type: 'file', linkpath: '', size: 5, mode: 0o4755, uid: 1000, gid: 100, mtime: 1_234_567_890 });
  t.deepEqual([...bodies], [['rootfs/file', 'hello'], ['rootfs/old-v7', 'v7'], ['rootfs/contig', 'c']]);
});

test('the result does not depend on how the input is cut into chunks', (t) => {
  const bytes = tar(
    entry({ name: 'rootfs/a' }, 'a'.repeat(1000)),
    pax({ path: `rootfs/${'p'.repeat(200)}` }),
    entry({ name: 'rootfs/short' }, 'b'.repeat(512)),
    gnuLong('L', `rootfs/${'l'.repeat(300)}`),
    entry({ name: 'rootfs/x' }, ''),
  );
  const whole = scan(bytes);
  t.is(whole.headers.length, 3);
  for (const chunk of [1, 7, 511, 512, 513, 4096]) t.deepEqual(scan(bytes, chunk), whole, `chunks of ${chunk}`);
});

test('a ustar prefix is joined to the name; an old GNU header has no prefix field', (t) => {
  const deep = `rootfs/${'d'.repeat(120)}`;
  const { headers } = scan(tar(
    entry({ name: 'file', prefix: deep }, 'x'),
    entry({ name: 'gnu-file', prefix: 'ignored', magic: 'ustar  \0' }, 'y'),
  ));
  t.deepEqual(headers.map((h) => h.path), [`${deep}/file`, 'gnu-file']);
});

test('a GNU long name (L) and long link (K) replace the next entry\'s name and link, and only that entry\'s', (t) => {
  const longName = `rootfs/${'n'.repeat(150)}/file`;
  const longLink = `/${'t'.repeat(150)}`;
  const { headers } = scan(tar(
    gnuLong('L', longName), gnuLong('K', longLink),
    entry({ name: 'rootfs/trunc', type: '2', linkname: 'trunc-link' }),
    entry({ name: 'rootfs/next', type: '2', linkname: 'own-link' }),
  ));
  t.deepEqual(headers.map((h) => [h.path, h.linkpath]), [[longName, longLink], ['rootfs/next', 'own-link']]);
});

test('pax records set path, linkpath and size of the next entry only; later records win', (t) => {
  const body = 'z'.repeat(600);
  const bytes = tar(
    entry({ name: 'PaxHeaders/x', type: 'x' }, Buffer.concat([paxRecords({ path: 'rootfs/first', comment: 'ignored' }), paxRecords({ path: 'rootfs/from-pax', linkpath: '' })])),
    gnuLong('L', 'rootfs/from-gnu'),
    entry({ name: 'rootfs/from-header' }, 'abc'),
    pax({ linkpath: `rootfs/${'k'.repeat(120)}` }),
    entry({ name: 'rootfs/link', type: '1', linkname: 'rootfs/short' }),
    pax({ size: String(body.length) }),
    Buffer.concat([header({ name: 'rootfs/big', size: 1 }), padTo512(Buffer.from(body))]),
    entry({ name: 'rootfs/after' }, 'ok'),
  );
  const { headers, bodies } = scan(bytes);
  t.deepEqual(headers.map((h) => [h.path, h.linkpath, h.size]), [
    ['rootfs/from-pax', '', 3],
    ['rootfs/link', `rootfs/${'k'.repeat(120)}`, 0],
    ['rootfs/big', '', 600],
    ['rootfs/after', '', 2],
  ]);
  t.is(bodies.get('rootfs/big'), body);
  t.is(bodies.get('rootfs/after'), 'ok');
});

test('a global pax header may carry other keys, and an empty pax header is fine', (t) => {
  const { headers } = scan(tar(pax({ comment: 'global', mtime: '1' }, 'g'), entry({ name: 'PaxHeaders/empty', type: 'x' }), entry({ name: 'rootfs/a' }, 'a')));
  t.deepEqual(headers.map((h) => h.path), ['rootfs/a']);
});

test('numeric fields: octal with spaces or NULs, GNU base-256 for large values', (t) => {
  const b256 = (v: number, width: number): Buffer => {
    const b = Buffer.alloc(width);
    let x = v;
    for (let i = width - 1; i > 0; i--) { b[i] = x % 256; x = Math.floor(x / 256); }
    b[0] = 0x80;
    return b;
  };
  const big = 8 * 1024 ** 3 + 5; // more than the 8 GiB - 1 that 11 octal digits hold
  const h = header({ name: 'rootfs/big', raw: [[124, b256(big, 12)], [108, b256(4_000_000_000, 8)], [116, Buffer.from(' 12 \0\0\0\0')]] });
  const headers: TarHeader[] = [];
  new TarScanner({ onEntry: (x) => { headers.push(x); } }).write(h);
  t.is(headers[0]?.size, big);
  t.is(headers[0]?.uid, 4_000_000_000);
  t.is(headers[0]?.gid, 0o12);
});

test('parsePax reads records whose values hold spaces, "=" and newlines', (t) => {
  const m = parsePax(paxRecords({ path: 'rootfs/a b=c', 'SCHILY.xattr.user.x': 'line1\nline2' }));
  t.deepEqual([...m], [['path', 'rootfs/a b=c'], ['SCHILY.xattr.user.x', 'line1\nline2']]);
  t.deepEqual([...parsePax(Buffer.alloc(0))], []);
});

test('an archive of only end-of-archive blocks has no entries and is not an error for the scanner; what follows them is not read', (t) => {
  t.deepEqual(scan(END).headers, []);
  t.deepEqual(scan(Buffer.concat([tar(entry({ name: 'rootfs/a' }, 'a')), Buffer.from('trailing garbage, never parsed')])).headers.map((h) => h.path), ['rootfs/a']);
});

test('an archive without end-of-archive blocks is read to its last entry', (t) => {
  t.deepEqual(scan(entry({ name: 'rootfs/a' }, 'a')).headers.map((h) => h.path), ['rootfs/a']);
});

test('a handler that throws stops the scan at that entry, with its own error', (t) => {
  const seen: string[] = [];
  const s = new TarScanner({ onEntry: (h) => { seen.push(h.path); if (h.path === 'rootfs/b') throw new Error('refused b'); } });
  t.throws(() => s.write(tar(entry({ name: 'rootfs/a' }), entry({ name: 'rootfs/b' }), entry({ name: 'rootfs/c' }))), { message: 'refused b' });
  t.deepEqual(seen, ['rootfs/a', 'rootfs/b']);
  t.is(s.entries, 2);
});

// ---------------------------------------------------------------------------------------------------------
// What the scanner refuses, and what a user fetching such an archive reads

const refusals: readonly (readonly [string, Buffer, string])[] = [
  ['a first header with a bad checksum (not a tar at all)', tar(entry({ name: 'manifest', checksum: 'bad' }, '{}')),
    'unrecognized archive format (not a tar)'],
  ['a later header with a bad checksum', tar(...aciHead(), entry({ name: 'rootfs/a', checksum: 'bad' }, 'x')), 'bad tar header checksum'],
  ['a checksum field that is not octal', tar(...aciHead(), entry({ name: 'rootfs/a', checksum: 'garbage' })), 'bad tar header checksum'],
  ['a GNU sparse file', tar(...aciHead(), entry({ name: 'rootfs/sparse', type: 'S' }, 'x')), 'unsupported tar entry type "S"'],
  ['a GNU volume label', tar(...aciHead(), entry({ name: 'label', type: 'V' })), 'unsupported tar entry type "V"'],
  ['a GNU dump directory', tar(...aciHead(), entry({ name: 'rootfs/d', type: 'D' })), 'unsupported tar entry type "D"'],
  ['a GNU multi-volume continuation', tar(...aciHead(), entry({ name: 'rootfs/m', type: 'M' })), 'unsupported tar entry type "M"'],
  ['an old GNU long-name-by-rename entry', tar(...aciHead(), entry({ name: 'rootfs/n', type: 'N' })), 'unsupported tar entry type "N"'],
  ['a Solaris ACL entry', tar(...aciHead(), entry({ name: 'rootfs/a', type: 'A' })), 'unsupported tar entry type "A"'],
  ['a directory carrying data', tar(...aciHead(), entry({ name: 'rootfs/d/', type: '5' }, 'hello')),
    'tar entry "rootfs/d/" is a dir but carries 5 bytes of data'],
  ['a symlink carrying data', tar(...aciHead(), entry({ name: 'rootfs/l', type: '2', linkname: 'x' }, 'data')),
    'tar entry "rootfs/l" is a symlink but carries 4 bytes of data'],
  ['a hard link carrying data', tar(...aciHead(), entry({ name: 'rootfs/h', type: '1', linkname: 'rootfs/a' }, 'data')),
    'tar entry "rootfs/h" is a hardlink but carries 4 bytes of data'],
  ['a device node whose pax size gives it data', tar(...aciHead(), pax({ size: '3' }), entry({ name: 'rootfs/dev/x', type: '3' })),
    'tar entry "rootfs/dev/x" is a chardev but carries 3 bytes of data'],
  ['a mode that is not octal', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[100, Buffer.from('0000899\0')]] })), 'bad mode "0000899" in tar header'],
  ['a uid that is not octal', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[108, Buffer.from('-000001\0')]] })), 'bad uid "-000001" in tar header'],
  ['a size that is not octal', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[124, Buffer.from('0000000001x\0')]] })), 'bad size "0000000001x" in tar header'],
  ['a negative base-256 number', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[116, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])]] })),
    'negative gid in tar header'],
  ['a base-256 size beyond 2^53', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[124, Buffer.from([0x80, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0])]] })),
    'size too large in tar header'],
  ['a pax size that is not a number', tar(...aciHead(), pax({ size: '12x' }), entry({ name: 'rootfs/a' }, 'x')), 'bad pax size "12x"'],
  ['a pax record whose length is not a number', tar(...aciHead(), entry({ name: 'PaxHeaders/a', type: 'x' }, 'abc path=rootfs/a\n'), entry({ name: 'rootfs/a' })),
    'bad pax extended header record'],
  ['a pax record longer than its header', tar(...aciHead(), entry({ name: 'PaxHeaders/a', type: 'x' }, '99 path=rootfs/a\n'), entry({ name: 'rootfs/a' })),
    'bad pax extended header record'],
  ['a pax record without "="', tar(...aciHead(), entry({ name: 'PaxHeaders/a', type: 'x' }, '12 pathonly\n'), entry({ name: 'rootfs/a' })),
    'bad pax extended header record'],
  ['a global pax header setting path', tar(...aciHead(), pax({ path: 'rootfs/a' }, 'g'), entry({ name: 'rootfs/b' })),
    'global pax header "PaxHeaders/x" sets "path" (GNU tar would apply it to every later entry)'],
  ['a global pax header setting linkpath', tar(...aciHead(), pax({ linkpath: '/etc/shadow' }, 'g'), entry({ name: 'rootfs/b' })),
    'global pax header "PaxHeaders/x" sets "linkpath" (GNU tar would apply it to every later entry)'],
  // GNU tar (list.c, from_header) skips one leading NUL and stops at the first space after the digits; the
  // scanner read "\0" + digits as 0 and dropped every space: such fields are refused, as are blank ones
  // (an error to GNU tar) and base-256 lead bytes other than 0x80 (GNU tar's only positive one).
  ['a size with a space between its digits', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[124, Buffer.from('0000 0002000')]] })),
    'bad size "0000 0002000" in tar header'],
  ['a size after a leading NUL', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[124, Buffer.from('\u00000000001000\0')]] })),
    'bad size "\\x000000001000" in tar header'],
  ['a mode of blanks only', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[100, Buffer.from('        ')]] })), 'bad mode "        " in tar header'],
  ['a tab after the digits', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[108, Buffer.from('000001\t\0')]] })), 'bad uid "000001\\x09" in tar header'],
  ['a base-256 lead byte other than 0x80', tar(...aciHead(), entry({ name: 'rootfs/a', raw: [[108, Buffer.from([0x81, 0, 0, 0, 0, 0, 0, 1])]] })),
    'bad uid "\\x81\\x00\\x00\\x00\\x00\\x00\\x00\\x01" in tar header'],
  ['a checksum with a space between its digits', tar(...aciHead(), Buffer.concat([(() => {
    const h = header({ name: 'rootfs/a' });
    const sum = Number.parseInt(h.subarray(148, 154).toString('latin1'), 8);
    // "0 " + the five low digits: 0 to GNU tar (a bad header, skipped), the sum itself if spaces were dropped.
    h.write(`0 ${(sum).toString(8).padStart(5, '0')}\0`, 148, 'latin1');
    return h;
  })()])), 'bad tar header checksum'],
  ['a pax size beyond 2^53', tar(...aciHead(), pax({ size: '9007199254740993' }), entry({ name: 'rootfs/a' }, 'x')), 'bad pax size "9007199254740993"'],
  // GNU tar (xheader.c, decode_record) skips blanks around a record's length: a record the scanner would not
  // read, or read under another key, is read by GNU tar.
  ['a pax record with a tab after its length', tar(...aciHead(), entry({ name: 'PaxHeaders/a', type: 'x' }, '21\tpath=rootfs/other\n'), entry({ name: 'rootfs/a' })),
    'bad pax extended header record'],
  ['a pax record with two spaces after its length', tar(...aciHead(), entry({ name: 'PaxHeaders/a', type: 'x' }, '22  path=rootfs/other\n'), entry({ name: 'rootfs/a' })),
    'bad pax extended header record'],
  ['a pax record with blanks before its length', tar(...aciHead(), entry({ name: 'PaxHeaders/a', type: 'x' }, ' 21 path=rootfs/other\n'), entry({ name: 'rootfs/a' })),
    'bad pax extended header record'],
  ['a pax record without its newline', tar(...aciHead(), entry({ name: 'PaxHeaders/a', type: 'x' }, '20 path=rootfs/other!'), entry({ name: 'rootfs/a' })),
    'bad pax extended header record'],
  ['bytes after the last pax record', tar(...aciHead(), entry({ name: 'PaxHeaders/a', type: 'x' }, Buffer.concat([paxRecords({ comment: 'c' }), Buffer.from('junk')])), entry({ name: 'rootfs/a' })),
    'bad pax extended header record'],
  ['a pax record whose length is written in hex', tar(...aciHead(), entry({ name: 'PaxHeaders/a', type: 'x' }, '0x14 path=rootfs/o\n'), entry({ name: 'rootfs/a' })),
    'bad pax extended header record'],
  // GNU tar reads a GNU long name or link up to its NUL in the whole blocks, past the record's size.
  ['a GNU long name whose NUL is past its size', tar(...aciHead(), Buffer.concat([header({ name: '././@LongLink', type: 'L', size: 2 }), padTo512(Buffer.from('manifest\0'))]),
    entry({ name: 'rootfs/x' }, manifestJson('example.com/evil'))), 'GNU long name "manifest" runs past its size of 2 bytes'],
  ['a GNU long link whose NUL is past its size', tar(...aciHead(), Buffer.concat([header({ name: '././@LongLink', type: 'K', size: 7 }), padTo512(Buffer.from('rootfs/../../x\0'))]),
    entry({ name: 'rootfs/h', type: '1', linkname: 'rootfs/a' })), 'GNU long link "rootfs/../../x" runs past its size of 7 bytes'],
  // GNU tar keeps only the last pax header's records before an entry; the scanner merged them.
  ['two pax headers before one entry', tar(...aciHead(), pax({ path: 'rootfs/checked' }), pax({ comment: 'x' }), entry({ name: 'manifest' }, manifestJson('example.com/evil'))),
    'tar entry "manifest" has 2 pax extended headers (GNU tar would use only the last one\'s records)'],
  ['a pax linkpath holding a NUL byte', tar(...aciHead(), pax({ linkpath: 'rootfs/a\0/../../x' }), entry({ name: 'rootfs/h', type: '1', linkname: 'rootfs/a' })),
    'tar entry "rootfs/h" has a pax linkpath holding a NUL byte ("rootfs/a\\x00/../../x")'],
  ['a pax GNU.dumpdir', tar(...aciHead(), pax({ 'GNU.dumpdir': 'Ya\0' }), entry({ name: 'rootfs/d/', type: '5' })),
    'tar entry "rootfs/d/" has the pax key "GNU.dumpdir" (rkt does not support GNU sparse, dump-directory or multi-volume entries)'],
  ['a global pax header setting GNU.sparse.realsize', tar(...aciHead(), pax({ 'GNU.sparse.realsize': '0' }, 'g'), entry({ name: 'rootfs/b' })),
    'global pax header "PaxHeaders/x" sets "GNU.sparse.realsize" (GNU tar would apply it to every later entry)'],
  ['a pax record of more than 1 MiB', tar(...aciHead(), header({ name: 'PaxHeaders/big', type: 'x', size: (1 << 20) + 1 })),
    'tar metadata record of 1048577 bytes is too large'],
  ['a GNU long name of more than 1 MiB', tar(...aciHead(), header({ name: '././@LongLink', type: 'L', size: (1 << 20) + 1 })),
    'tar metadata record of 1048577 bytes is too large'],
  ['an entry after a single end-of-archive block', Buffer.concat([...aciHead(), Buffer.alloc(512), entry({ name: 'rootfs/hidden' }, 'x'), END]),
    'unexpected data after an end-of-archive block'],
  ['input that stops inside a header', Buffer.concat([...aciHead(), header({ name: 'rootfs/a' }).subarray(0, 100)]), 'truncated input (needed 412 more bytes)'],
  ['input that stops inside an entry\'s data', Buffer.concat([...aciHead(), header({ name: 'rootfs/a', size: 1000 }), Buffer.alloc(300)]),
    'truncated input (needed 700 more bytes)'],
  ['input that stops inside a pax record', Buffer.concat([...aciHead(), header({ name: 'PaxHeaders/a', type: 'x', size: 100 }), Buffer.alloc(50)]),
    'truncated input (needed 462 more bytes)'],
];

for (const [what, bytes, message] of refusals) {
  test(`refused: ${what}`, async (t) => {
    scanFails(t, bytes, message);
    await notAnImage(t, bytes, message);
  });
}

test('empty input is "no tar entries found"', async (t) => {
  scanFails(t, Buffer.alloc(0), 'no tar entries found');
  await notAnImage(t, Buffer.alloc(0), 'no tar entries found');
});

test('an archive of only end-of-archive blocks is an image without a manifest', async (t) => {
  await badLayout(t, END, 'evil.aci: bad image layout: no "manifest" entry');
});

// Input that ends inside the zero padding after an entry's data counts the padding still missing (it said 0).
test('input that stops inside an entry\'s padding says how many bytes are missing', (t) => {
  const bytes = Buffer.concat([...aciHead(), header({ name: 'rootfs/a', size: 10 }), Buffer.from('0123456789'), Buffer.alloc(2)]);
  scanFails(t, bytes, 'truncated input (needed 500 more bytes)');
});

// ---------------------------------------------------------------------------------------------------------
// The ACI layout rules applied to what the scanner reports, whichever header format carries the name

const W = 'evil.aci: bad image layout:';
const layoutCases: readonly (readonly [string, Buffer, string])[] = [
  ['".." in a name', tar(...aciHead(), entry({ name: 'rootfs/../../etc/passwd' }, 'x')), `${W} entry "rootfs/../../etc/passwd" has a ".." component`],
  ['".." hidden in a ustar prefix', tar(...aciHead(), entry({ name: 'passwd', prefix: 'rootfs/../..' }, 'x')), `${W} entry "rootfs/../../passwd" has a ".." component`],
  ['".." in a pax path over a harmless name', tar(...aciHead(), pax({ path: 'rootfs/../../../etc/cron.d/x' }), entry({ name: 'rootfs/harmless' }, 'x')),
    `${W} entry "rootfs/../../../etc/cron.d/x" has a ".." component`],
  ['".." in a GNU long name', tar(...aciHead(), gnuLong('L', `rootfs/${'a'.repeat(100)}/../../../x`), entry({ name: 'rootfs/harmless' }, 'x')),
    `${W} entry "rootfs/${'a'.repeat(100)}/../../../x" has a ".." component`],
  ['an absolute name', tar(...aciHead(), entry({ name: '/etc/passwd' }, 'x')), `${W} entry "/etc/passwd" has an absolute path`],
  ['an absolute pax path', tar(...aciHead(), pax({ path: '/root/.ssh/authorized_keys' }), entry({ name: 'rootfs/k' }, 'x')),
    `${W} entry "/root/.ssh/authorized_keys" has an absolute path`],
  ['a name outside rootfs/', tar(...aciHead(), entry({ name: 'etc/passwd' }, 'x')),
    `${W} entry "etc/passwd" is outside rootfs/ (only "manifest" and "rootfs/" may be at the top)`],
  ['a name beside rootfs/ that starts like it', tar(...aciHead(), entry({ name: 'rootfs2/a' }, 'x')),
    `${W} entry "rootfs2/a" is outside rootfs/ (only "manifest" and "rootfs/" may be at the top)`],
  ['a device node outside rootfs/', tar(...aciHead(), entry({ name: 'dev/sda', type: '4' })),
    `${W} entry "dev/sda" is outside rootfs/ (only "manifest" and "rootfs/" may be at the top)`],
  ['a write through a symlink planted earlier', tar(...aciHead(), entry({ name: 'rootfs/etc', type: '2', linkname: '/etc' }), entry({ name: 'rootfs/etc/passwd' }, 'x')),
    `${W} entry "rootfs/etc/passwd" goes through the symlink "rootfs/etc" planted by an earlier entry`],
  ['a write through a symlink named by pax', tar(...aciHead(), pax({ path: 'rootfs/usr' }), entry({ name: 'rootfs/innocent', type: '2', linkname: '/usr' }),
    entry({ name: 'rootfs/usr/bin/sh' }, 'x')), `${W} entry "rootfs/usr/bin/sh" goes through the symlink "rootfs/usr" planted by an earlier entry`],
  ['a directory made through a symlink', tar(...aciHead(), entry({ name: 'rootfs/l', type: '2', linkname: '../..' }), entry({ name: 'rootfs/l/d/', type: '5' })),
    `${W} entry "rootfs/l/d/" goes through the symlink "rootfs/l" planted by an earlier entry`],
  ['a hard link to an absolute path', tar(...aciHead(), entry({ name: 'rootfs/shadow', type: '1', linkname: '/etc/shadow' })),
    `${W} hard link "rootfs/shadow" -> "/etc/shadow" has an absolute path`],
  ['a hard link out of the tree', tar(...aciHead(), entry({ name: 'rootfs/x', type: '1', linkname: 'rootfs/../../x' })),
    `${W} hard link "rootfs/x" -> "rootfs/../../x" has a ".." component`],
  ['a hard link out of the tree by GNU long link', tar(...aciHead(), gnuLong('K', `rootfs/${'b'.repeat(100)}/../../..`), entry({ name: 'rootfs/x', type: '1', linkname: 'rootfs/y' })),
    `${W} hard link "rootfs/x" -> "rootfs/${'b'.repeat(100)}/../../.." has a ".." component`],
  ['a hard link out of the tree by pax linkpath', tar(...aciHead(), pax({ linkpath: '/etc/shadow' }), entry({ name: 'rootfs/x', type: '1', linkname: 'rootfs/y' })),
    `${W} hard link "rootfs/x" -> "/etc/shadow" has an absolute path`],
  ['a hard link to the manifest', tar(...aciHead(), entry({ name: 'rootfs/m', type: '1', linkname: 'manifest' })),
    `${W} hard link "rootfs/m" points outside rootfs/ ("manifest")`],
  ['a hard link through a planted symlink', tar(...aciHead(), entry({ name: 'rootfs/l', type: '2', linkname: '/' }), entry({ name: 'rootfs/x', type: '1', linkname: 'rootfs/l/etc/shadow' })),
    `${W} hard link target of "rootfs/x": "rootfs/l/etc/shadow" goes through the symlink "rootfs/l" planted by an earlier entry`],
  ['a second manifest', tar(...aciHead(), entry({ name: './manifest' }, manifestJson('example.com/other'))), `${W} duplicate entry "./manifest"`],
  ['a manifest by pax path over a rootfs name', tar(...aciHead(), pax({ path: 'manifest' }), entry({ name: 'rootfs/m' }, manifestJson('example.com/other'))),
    `${W} duplicate entry "manifest"`],
  ['a manifest that is a device node', tar(entry({ name: 'manifest', type: '3' })), `${W} "manifest" is a chardev, not a regular file`],
  ['a rootfs that is a FIFO', tar(entry({ name: 'manifest' }, manifestJson()), entry({ name: 'rootfs', type: '6' })), `${W} "rootfs" is a fifo, not a directory`],
  ['an empty name', tar(...aciHead(), pax({ path: './' }), entry({ name: 'rootfs/a', type: '5' })), `${W} entry "./" has an empty path`],
];

for (const [what, bytes, message] of layoutCases) {
  test(`layout: ${what} is refused`, async (t) => {
    // The scanner itself reads these without complaint: the rule is the layout checker's, on the header it reports.
    t.notThrows(() => scan(bytes));
    await badLayout(t, bytes, message);
  });
}

test('device nodes, FIFOs, setuid files and links inside rootfs/ are accepted as they are', async (t) => {
  const bytes = tar(
    ...aciHead(),
    entry({ name: 'rootfs/dev/', type: '5' }),
    entry({ name: 'rootfs/dev/null', type: '3', mode: 0o666 }),
    entry({ name: 'rootfs/dev/loop0', type: '4', mode: 0o660, gid: 6 }),
    entry({ name: 'rootfs/run-fifo', type: '6' }),
    entry({ name: 'rootfs/su', mode: 0o4755 }, '#!/bin/sh\n'),
    entry({ name: 'rootfs/su-again', type: '1', linkname: './rootfs/su' }),
    entry({ name: 'rootfs/abs', type: '2', linkname: '/etc/hosts' }),
    entry({ name: 'rootfs/up', type: '2', linkname: '../../..' }),
  );
  const seen: [string, string, number][] = [];
  const info = await inspectAciStream(Readable.from([bytes]), 'ok.aci', { onEntry: (p, h) => { seen.push([p, h.type, h.mode]); } });
  t.is(info.manifest.name, 'example.com/test');
  t.deepEqual(seen.slice(2), [
    ['rootfs/dev', 'dir', 0o644], ['rootfs/dev/null', 'chardev', 0o666], ['rootfs/dev/loop0', 'blockdev', 0o660],
    ['rootfs/run-fifo', 'fifo', 0o644], ['rootfs/su', 'file', 0o4755], ['rootfs/su-again', 'hardlink', 0o644],
    ['rootfs/abs', 'symlink', 0o644], ['rootfs/up', 'symlink', 0o644],
  ]);
  t.is(info.entries, 10);
});

// ---------------------------------------------------------------------------------------------------------
// Headers GNU tar reads differently from the scanner. Each archive below was also staged and published by hand
// through Store.stage (GNU tar 1.34, as root) before the scanner refused it: each but the NUL one was accepted,
// and its rendered tree held what no checked header names (a "manifest" other than the one checked and recorded,
// files outside rootfs/). The scanner now refuses each.

// A regular-file entry ('0', '\0' or '7') whose name ends in "/" is a directory to GNU tar, which then reads the
// entry's "data" as further tar headers, which the scanner skips as data: here a second "manifest" (GNU tar
// replaces the tree's manifest, the one `rkt prepare` and `rkt image cat-manifest` read, with it) and a file
// outside rootfs/.
for (const [how, named] of [
  ['a ustar name', [] as Buffer[]],
  ['a pax path', [pax({ path: 'rootfs/d/' })]],
  ['a GNU long name', [gnuLong('L', 'rootfs/d/')]],
] as const) {
  test(`a regular file named with a trailing "/" by ${how} is refused (GNU tar would read its data as headers)`, async (t) => {
    const hidden = Buffer.concat([entry({ name: 'manifest' }, manifestJson('example.com/evil')), entry({ name: 'outside-rootfs' }, 'x')]);
    for (const type of ['0', '\0', '7']) {
      const bytes = tar(...aciHead(), ...named, entry({ name: named.length === 0 ? 'rootfs/d/' : 'rootfs/plain', type }, hidden));
      scanFails(t, bytes, 'tar entry "rootfs/d/" is a regular file whose name ends in "/" (GNU tar would read it as a directory)');
      await notAnImage(t, bytes, 'tar entry "rootfs/d/" is a regular file whose name ends in "/" (GNU tar would read it as a directory)');
    }
  });
}

// GNU tar takes the pax key GNU.sparse.name as the entry's name (over path and the ustar name), for any entry;
// the layout rules were checked on a name GNU tar does not use (here GNU tar wrote the entry as the tree's
// "manifest"). Every GNU.* key is refused: rkt supports no sparse entries.
test('a pax GNU.sparse.name (any GNU.sparse.* key) is refused', async (t) => {
  for (const key of ['GNU.sparse.name', 'GNU.sparse.size', 'GNU.sparse.major', 'GNU.sparse.map']) {
    const bytes = tar(...aciHead(), pax({ [key]: key === 'GNU.sparse.name' ? 'manifest' : '1' }), entry({ name: 'rootfs/innocent' }, manifestJson('example.com/evil')));
    const message = `tar entry "rootfs/innocent" has the pax key "${key}" (rkt does not support GNU sparse, dump-directory or multi-volume entries)`;
    scanFails(t, bytes, message);
    await notAnImage(t, bytes, message);
  }
});

// A pax path is a C string to GNU tar (cut at the first NUL), a JS string to the scanner: a symlink "rootfs/l\0x"
// is "rootfs/l" to GNU tar, and a later "rootfs/l/f" passed the planted-symlink rule. (GNU tar's own deferral of
// symlinks with absolute or ".." targets still stopped an escape from the tree when tried; a relative one is
// followed.)
test('a NUL byte in a pax path is refused', async (t) => {
  const bytes = tar(...aciHead(), pax({ path: 'rootfs/l\0x' }), entry({ name: 'rootfs/lx', type: '2', linkname: '/etc' }), entry({ name: 'rootfs/l/passwd' }, 'x'));
  const message = 'tar entry "rootfs/lx" has a pax path holding a NUL byte ("rootfs/l\\x00x")';
  scanFails(t, bytes, message);
  await notAnImage(t, bytes, message);
});

// GNU tar applies the keys of a global pax header ('g') to every later entry, "size" and "GNU.sparse.name"
// included. With a global size=0 GNU tar reads every later entry's data as headers the scanner never saw: here
// a hidden hard link "manifest" -> "rootfs/evil" (GNU tar exited 0, and the tree's manifest was the file
// rootfs/evil).
test('a global pax header may not set size', async (t) => {
  const bytes = tar(...aciHead(), entry({ name: 'rootfs/evil' }, manifestJson('example.com/evil')), pax({ size: '0' }, 'g'),
    entry({ name: 'rootfs/f' }, entry({ name: 'manifest', type: '1', linkname: 'rootfs/evil' })));
  const message = 'global pax header "PaxHeaders/x" sets "size" (GNU tar would apply it to every later entry)';
  scanFails(t, bytes, message);
  await notAnImage(t, bytes, message);
});

// As above, a global GNU.sparse.name renames every later entry for GNU tar (each then overwrites the last under
// that name), unseen by the layout checks.
test('a global pax header may not set GNU.sparse.name', async (t) => {
  const bytes = tar(...aciHead(), pax({ 'GNU.sparse.name': 'manifest' }, 'g'), entry({ name: 'rootfs/f' }, manifestJson('example.com/evil')));
  const message = 'global pax header "PaxHeaders/x" sets "GNU.sparse.name" (GNU tar would apply it to every later entry)';
  scanFails(t, bytes, message);
  await notAnImage(t, bytes, message);
});

// The scanner dropped every space in an octal field, GNU tar stops at the first space after the digits: a size
// field "0000 0002000" was 1024 bytes of data to the scanner and 0 to GNU tar, which then read those 1024 bytes
// as headers the scanner never checked (here an entry outside rootfs/).
test('a numeric field with a space between its digits is refused', async (t) => {
  const hidden = entry({ name: 'outside-rootfs' }, 'boo');
  const bytes = tar(...aciHead(), Buffer.concat([header({ name: 'rootfs/f', raw: [[124, Buffer.from('0000 0002000')]] }), hidden]));
  t.is(hidden.length, 1024);
  scanFails(t, bytes, 'bad size "0000 0002000" in tar header');
  await notAnImage(t, bytes, 'bad size "0000 0002000" in tar header');
});

// ---------------------------------------------------------------------------------------------------------
// A differential check against GNU tar itself: archives made by mutating the fields each refusal above is
// about (numeric fields, typeflags, magic, prefix, names, pax records), in a fixed pseudo-random order. Every one
// the scanner accepts must be listed by GNU tar (`tar -tv`) entry for entry with the scanner's types, sizes,
// names and link targets. (With the scanner as it was before the refusals above, 31 of the 142 compared differed.)

const gnuTar = ((): string | undefined => {
  const r = spawnSync('tar', ['--version'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.startsWith('tar (GNU tar)') ? undefined : 'GNU tar is not installed here';
})();

/** One line per entry, as the scanner reports it and as `tar -tv --numeric-owner` lists it (trailing "/" dropped). */
const line = (type: string, size: number, name: string, link?: string): string =>
  `${type} ${size} ${name.replace(/\/+$/, '')}${link === undefined ? '' : ` -> ${link}`}`;

function scannerListing(bytes: Buffer): string[] | undefined {
  const out: string[] = [];
  const letter: Record<string, string> = { dir: 'd', file: '-', symlink: 'l', hardlink: 'h', chardev: 'c', blockdev: 'b', fifo: 'p' };
  try {
    scanWith(bytes, (h) => out.push(line(letter[h.type] ?? '?', h.type === 'hardlink' ? 0 : h.size, h.path, h.type === 'symlink' || h.type === 'hardlink' ? h.linkpath : undefined)));
  } catch (err) {
    if (err instanceof RktError && err.code === 'ETARFORMAT') return undefined;
    throw err;
  }
  return out;
}

function scanWith(bytes: Buffer, onEntry: (h: TarHeader) => void): void {
  const s = new TarScanner({ onEntry });
  s.write(bytes);
  s.end();
}

/** GNU tar's listing, or undefined if GNU tar reports an error (an archive rkt's extraction would then fail on). */
function gnuListing(bytes: Buffer): string[] | undefined {
  const r = spawnSync('tar', ['-tv', '--numeric-owner', '--quoting-style=literal', '-f', '-'], { input: bytes, env: { LC_ALL: 'C', TZ: 'UTC' } });
  if (r.status !== 0) return undefined;
  return r.stdout.toString('utf8').split('\n').filter((x) => x !== '').map((x) => {
    const m = /^(\S)\S+ \S+ +(\d+) \S+ \S+ (.*)$/.exec(x);
    if (m === null) return `? ${x}`;
    const [, type = '?', size = '?', rest = ''] = m;
    const hard = / link to (.*)$/.exec(rest);
    const sym = / -> (.*)$/.exec(rest);
    const cut = hard ?? sym;
    return line(hard !== null ? 'h' : type, Number(size), cut === null ? rest : rest.slice(0, cut.index), cut?.[1]);
  });
}

(gnuTar === undefined ? test : test.skip)(`every mutated archive the scanner accepts is listed the same by GNU tar${gnuTar === undefined ? '' : ` (skipped: ${gnuTar})`}`, (t) => {
  let seed = 20261201;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)] as T;
  let accepted = 0;
  let compared = 0;
  const diffs: string[] = [];
  for (let i = 0; i < 600; i++) {
    const parts = [
      entry({ name: 'manifest' }, '{}'), entry({ name: 'rootfs/', type: '5' }),
      pax({ path: 'rootfs/paxname', comment: 'hi' }), entry({ name: 'rootfs/a' }, 'A'.repeat(600)),
      gnuLong('L', 'rootfs/longname'), entry({ name: 'rootfs/b' }, 'B'),
      pax({ comment: 'g' }, 'g'), entry({ name: 'rootfs/c' }, 'C'.repeat(10)), entry({ name: 'rootfs/d' }, 'D'.repeat(1100)),
      entry({ name: 'rootfs/s', type: '2', linkname: 'target' }), entry({ name: 'rootfs/h', type: '1', linkname: 'rootfs/d' }),
    ];
    const starts: number[] = [];
    let at = 0;
    for (const p of parts) { starts.push(at); at += p.length; }
    const bytes = tar(...parts);
    const paxStart = starts[2] ?? 0;
    for (let m = 1 + rnd(2); m > 0; m--) {
      const h = pick(starts);
      const kind = rnd(6);
      if (kind <= 2) {
        const [off, len] = pick([[124, 12], [100, 8], [108, 8], [148, 8]] as const);
        const n = (rnd(3) * 512 + rnd(3)).toString(8);
        const text = rnd(2) === 0
          ? Array.from({ length: len }, () => pick(['0', '1', '2', '7', ' ', '\0', '\t', '8'])).join('')
          : `${pick(['', ' ', '  ', '\0'])}${n.padStart(rnd(8), '0')}${pick([' ', '\0'])}`.padEnd(len, pick(['\0', ' 0', ' 00'])).slice(0, len);
        bytes.write(text, h + off, len, 'latin1');
      } else if (kind === 3) {
        bytes.write(pick([...'0125672x LgKS']), h + 156, 1, 'latin1');
      } else if (kind === 4) {
        const body = Array.from({ length: 1 + rnd(3) }, () => pick(['21 path=rootfs/other\n', '21\tpath=rootfs/other\n', '22  path=rootfs/other\n',
          '12 size=512\n', '10 size=0\n', '20 path=rootfs/dir/\n', '13 comment=x\n', '\0', ' 21 path=rootfs/other\n'])).join('');
        bytes.fill(0, paxStart + 512, paxStart + 1024);
        bytes.write(body, paxStart + 512, 'latin1');
        bytes.write(octal(Buffer.byteLength(body, 'latin1'), 12), paxStart + 124, 'latin1');
      } else if (rnd(2) === 0) {
        bytes.write(pick(['ustar\u000000', 'ustar  \0', 'ustar\u0000xx', 'ustaR\u000000']), h + 257, 8, 'latin1');
        bytes.fill(0, h + 345, h + 500);
        bytes.write(pick(['rootfs', 'rootfs/', '', 'manifest', 'x\0y']), h + 345, 155, 'latin1');
      } else {
        bytes.fill(0, h, h + 100);
        bytes.write(pick(['rootfs/x/', 'rootfs/x//', 'rootfs/x/.', 'rootfs/x\0/', 'manifest/']), h, 'latin1');
      }
    }
    // Most headers get a checksum that matches again, so that the mutation, not the checksum, is what is read.
    for (const h of starts) if (rnd(5) !== 0) resum(bytes.subarray(h, h + 512));
    const ours = scannerListing(bytes);
    if (ours === undefined) continue;
    accepted++;
    const theirs = gnuListing(bytes);
    if (theirs === undefined) continue;
    compared++;
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) diffs.push(`#${i}: scanner ${JSON.stringify(ours)}, GNU tar ${JSON.stringify(theirs)}`);
  }
  t.log(`${accepted} of 600 accepted by the scanner, ${compared} listed by GNU tar without error`);
  t.true(compared >= 30, `only ${compared} archives compared`);
  t.deepEqual(diffs, []);
});

/** Recompute a header block's checksum in place. */
function resum(h: Buffer): void {
  h.write('        ', 148, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}
