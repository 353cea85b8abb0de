/** Fetching an image from a local file, with the signature beside it (`<file>.asc`). */
import { createReadStream, promises as fs } from 'node:fs';
import { describe, isErrno, RktError } from '../common/errors.js';
import type { ImageRecord } from '../store/records.js';
import { importVerified } from './import-image.js';
import type { FetchOne, FetchOptions } from './options.js';

/** Import the image in `file` (verified against `<file>.asc` unless --insecure-options=image); its dependencies through `fetchOne`. */
export async function fetchFile(opts: FetchOptions, fetchOne: FetchOne, file: string): Promise<ImageRecord> {
  let signature: string | undefined;
  if (!opts.globals.insecure.has('image')) {
    try {
      signature = await fs.readFile(`${file}.asc`, 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw new RktError('EFETCH', `cannot read signature ${file}.asc: ${describe(err)}`, { cause: err });
    }
  }
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw new RktError('EFETCH', `${file}: not a regular file`);
  } catch (err) {
    if (err instanceof RktError) throw err;
    if (isErrno(err, 'ENOENT')) throw new RktError('ENOFILE', `${file}: no such file`);
    throw new RktError('EFETCH', `${file}: ${describe(err)}`, { cause: err });
  }
  return importVerified(opts, fetchOne, createReadStream(file, { highWaterMark: 1 << 20 }), file, undefined, signature, { sourceFile: file });
}
