/**
 * Signature checks for fetched images: the trust store's keys for the image's name, and a streaming
 * verification of the image's bytes against its detached signature. Loaded only when a check is needed.
 */
import type { Writable } from 'node:stream';
import type { GlobalOptions } from '../common/options.js';
import { Keystore } from '../trust/keystore.js';
import { startVerification } from '../trust/verify.js';

/**
 * Start verifying an image named `imageName` against `signature` (armored): write the image's bytes, exactly
 * as served, into `sink`; `result` settles once they have all been checked.
 */
export async function startImageVerification(globals: GlobalOptions, signature: string, imageName: string): Promise<{ sink: Writable; result: Promise<unknown> }> {
  const keys = await new Keystore({ systemConfig: globals.systemConfig, localConfig: globals.localConfig }).keysFor(imageName);
  return startVerification(signature, keys, imageName);
}
