import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { describe, isErrno, RktError } from '../common/errors.js';
import { trace } from '../common/trace.js';

/** A running GNU tar extraction: write the uncompressed tar to `stdin`; `done` settles when tar exits. */
export interface Extraction {
  readonly stdin: Writable;
  readonly done: Promise<void>;
}

/**
 * Start GNU tar extracting a tar stream into `dir` (which must exist), keeping everything a root filesystem
 * needs: numeric owners (when root), modes with setuid/setgid, symlinks as they are (absolute targets
 * untouched), hard links, device nodes, FIFOs, xattrs including security.capability, mtimes. node-tar drops
 * several of these (shared/notes/dependencies.md). The caller must feed only bytes whose headers it checked
 * (src/image/aci.ts gates them), so GNU tar's own refusals are a second line, not the first.
 * Plain `spawn`, not src/common/exec.ts: this runs on every image import (rkt fetch, a first rkt run), where
 * loading execa would add about a tenth to a small image's fetch (Documentation/hacking.md, "Dependencies").
 */
export function startExtraction(dir: string, what: string): Extraction {
  const asRoot = process.getuid?.() === 0;
  const args = ['--extract', '--file=-', `--directory=${dir}`, '--preserve-permissions', '--numeric-owner',
    asRoot ? '--same-owner' : '--no-same-owner', '--xattrs', '--xattrs-include=*', '--no-overwrite-dir', '--delay-directory-restore'];
  // LC_ALL=C: under another locale GNU tar converts pax names into its character set, which the header scanner
  // (src/image/tar-scan.ts) does not model; in C it takes the bytes as they are, as the scanner checked them.
  const child = spawn('tar', args, { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { if (stderr.length < 8192) stderr += s; });
  // If we stop feeding early (a bad header), tar sees EOF or EPIPE; its exit is then not the error to report.
  child.stdin.on('error', (err) => {
    if (!isErrno(err, 'EPIPE')) trace(`${what}: writing to tar: ${describe(err)}, ignoring (tar's exit reports the failure)`);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new RktError('EEXTRACT', `${what}: cannot run tar to extract the image`, {
      cause: err, hint: "install Debian's tar package",
    })));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new RktError('EEXTRACT', `${what}: extracting the image failed: ${stderr.trim().split('\n').slice(-3).join('; ') || `tar ${signal ?? `exited ${code}`}`}`));
    });
  });
  return { stdin: child.stdin, done };
}
