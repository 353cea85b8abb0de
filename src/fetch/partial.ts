/**
 * Resumable downloads. A URL's image is downloaded to `cas/tmp/download-<sha256 of url>.<owner>.part`, beside a
 * `.json` naming the URL and the validators (ETag, Last-Modified) of the bytes, and staged from the finished file.
 * The owner tag (the downloading process: boot and PID namespace, pid, start time) keeps concurrent fetches of
 * one URL out of each other's files without a lock: a fetch takes over only a partial whose owner is gone, by
 * renaming it to its own name (a rename of one path succeeds once). Partials of owners we cannot judge (another
 * PID namespace, an earlier boot) are left alone; `rkt image gc` removes them with the rest of cas/tmp.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { describe, isErrno, RktError } from '../common/errors.js';

/** What identifies the bytes of a response: its ETag and Last-Modified headers. */
export interface Validators {
  readonly etag?: string;
  readonly lastModified?: string;
}

/** This process's partial download of one URL: its two files and what the bytes already there are. */
export interface PartialDownload {
  /** The file the image's bytes go to. */
  readonly part: string;
  readonly metaFile: string;
  /** The validators of the bytes already there. */
  readonly meta: Validators;
  /** Where to resume and the If-Range value, when the bytes there can be resumed. */
  readonly resume: { readonly size: number; readonly validator: string } | undefined;
}

/** The ETag and Last-Modified of a response. */
export function validatorsOf(headers: IncomingHttpHeaders): Validators {
  const etag = headers.etag;
  const lastModified = headers['last-modified'];
  return { ...(etag !== undefined ? { etag } : {}), ...(lastModified !== undefined ? { lastModified } : {}) };
}

/** What If-Range may carry: a strong ETag, else the Last-Modified date (a weak ETag cannot vouch for bytes). */
export function strongValidator(v: Validators): string | undefined {
  if (v.etag !== undefined && !v.etag.startsWith('W/')) return v.etag;
  return v.lastModified;
}

/** `bytes START-END/TOTAL` (TOTAL may be `*`), or undefined. */
export function parseContentRange(header: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (m === null) return undefined;
  const start = Number(m[1]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  return Number.isSafeInteger(start) ? { start, total: total !== undefined && Number.isSafeInteger(total) ? total : undefined } : undefined;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined if no such process runs. */
async function processStartTime(pid: number): Promise<string | undefined> {
  let stat: string;
  try {
    stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) return undefined;
    throw err;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'. A zombie has ended.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
}

/** What makes a pid meaningful: the boot and the PID namespace, hashed short. */
async function pidContext(): Promise<string> {
  let boot = '';
  let ns = '';
  try {
    boot = await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8');
    ns = await fs.readlink('/proc/self/ns/pid');
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'EACCES')) throw err;
  }
  return createHash('sha256').update(`${boot.trim()} ${ns}`).digest('hex').slice(0, 12);
}

let ownTag: Promise<string> | undefined;
/** This process's owner tag: `<context>-<pid>-<start time>`. */
function ownerTag(): Promise<string> {
  ownTag ??= (async () => `${await pidContext()}-${process.pid}-${(await processStartTime(process.pid)) ?? '0'}`)();
  return ownTag;
}

/** True if the process that `tag` names has ended (false when it runs or cannot be judged from here). */
async function ownerGone(tag: string, own: string): Promise<boolean> {
  const [context, pid, start] = tag.split('-');
  if (context !== own.split('-')[0] || pid === undefined || !/^\d+$/.test(pid)) return false;
  const now = await processStartTime(Number(pid));
  return now === undefined || now !== start;
}

async function readPartialMeta(file: string, url: string): Promise<Validators | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    if (err instanceof SyntaxError) return undefined; // torn by a crash: start afresh
    throw err;
  }
  const m = v as { url?: unknown; etag?: unknown; lastModified?: unknown } | null;
  if (typeof m !== 'object' || m === null || m.url !== url) return undefined;
  return {
    ...(typeof m.etag === 'string' ? { etag: m.etag } : {}),
    ...(typeof m.lastModified === 'string' ? { lastModified: m.lastModified } : {}),
  };
}

/**
 * This process's partial download of `url` in `tmp`: an abandoned one taken over when there is one (the others
 * of the URL whose owners are gone are removed), else a fresh, empty one. Creates nothing but `tmp`.
 */
export async function claimPartial(tmp: string, url: string): Promise<PartialDownload> {
  const own = await ownerTag();
  const base = `download-${createHash('sha256').update(url).digest('hex')}`;
  const part = path.join(tmp, `${base}.${own}.part`);
  const metaFile = path.join(tmp, `${base}.${own}.json`);
  try {
    await fs.mkdir(tmp, { recursive: true, mode: 0o700 });
    // The files of other fetches of this URL, by owner; those whose owner is gone are ours to take or remove.
    const gone = new Map<string, Set<string>>();
    for (const name of await fs.readdir(tmp)) {
      const m = name.startsWith(`${base}.`) ? /^(.+)\.(part|json)$/.exec(name.slice(base.length + 1)) : null;
      if (m === null || m[1] === undefined || m[2] === undefined || m[1] === own) continue;
      if (!gone.has(m[1]) && !(await ownerGone(m[1], own))) continue;
      gone.set(m[1], (gone.get(m[1]) ?? new Set()).add(m[2]));
    }
    let claimed = false;
    for (const [tag, kinds] of gone) {
      const from = path.join(tmp, `${base}.${tag}`);
      if (!claimed && kinds.has('part')) {
        try {
          await fs.rename(`${from}.part`, part);
          claimed = true;
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err; // else taken over by another fetch meanwhile
        }
        if (claimed) {
          try {
            await fs.rename(`${from}.json`, metaFile);
          } catch (err) {
            if (!isErrno(err, 'ENOENT')) throw err;
            await fs.rm(metaFile, { force: true });
          }
          continue;
        }
      }
      for (const kind of kinds) await fs.rm(`${from}.${kind}`, { force: true });
    }
    if (!claimed) return { part, metaFile, meta: {}, resume: undefined };
    const meta = await readPartialMeta(metaFile, url);
    const size = (await fs.stat(part)).size;
    const validator = meta !== undefined ? strongValidator(meta) : undefined;
    if (meta === undefined || validator === undefined || size === 0) {
      await dropPartial({ part, metaFile });
      return { part, metaFile, meta: {}, resume: undefined };
    }
    return { part, metaFile, meta, resume: { size, validator } };
  } catch (err) {
    throw new RktError('ESTORE', `cannot prepare the download of ${url} in ${tmp}: ${describe(err)}`, {
      cause: err, hint: isErrno(err, 'EACCES') ? 'run as root, or as a member of group rkt on a store created for it' : undefined,
    });
  }
}

/** Remove a partial download and its record. */
export async function dropPartial(p: Pick<PartialDownload, 'part' | 'metaFile'>): Promise<void> {
  await fs.rm(p.part, { force: true });
  await fs.rm(p.metaFile, { force: true });
}

/**
 * Open a finished download for reading: from then on the bytes are ours even if the file is removed (`rkt image
 * gc` clears cas/tmp). The handle closes with the stream made from it.
 */
export async function openDownload(url: string, partial: PartialDownload): Promise<FileHandle> {
  try {
    return await fs.open(partial.part, 'r');
  } catch (err) {
    throw new RktError('ESTORE', `cannot read the download of ${url} in ${partial.part}: ${describe(err)}`, {
      cause: err, hint: isErrno(err, 'ENOENT') ? 'it was removed while it ran (by "rkt image gc"?): fetch the image again' : undefined,
    });
  }
}
