/**
 * Checking an image's detached OpenPGP signature (its `.asc`) against the trusted keys, on the way: the image's
 * bytes are written into a sink while they are fetched or staged, and hashed as they pass, so memory stays
 * constant whatever the image's size. The signature covers the image exactly as served (compressed or not).
 */
import { Writable } from 'node:stream';
import { ByteLengthQueuingStrategy, ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import * as openpgp from 'openpgp';
import { describe, RktError } from '../common/errors.js';
import type { TrustedKey } from './keystore.js';

/** Who signed a verified image. */
export interface VerifiedSigner {
  /** Lowercase hex fingerprint of the trusted (primary) key that signed. */
  readonly fingerprint: string;
  readonly userIds: string[];
}

export interface Verification {
  /** Write the image's bytes here, then end it. Never errors; after a failure it drains what it is given. */
  readonly sink: Writable;
  /** Resolves with the signer once the sink has ended and the signature holds; rejects with ESIGNATURE. */
  readonly result: Promise<VerifiedSigner>;
}

/** How many bytes may wait between the sink and the hash before the writer is held back. */
const QUEUE_BYTES = 1 << 20;

/**
 * Start checking `signatureArmored` (an armored detached signature) over bytes to be written into the returned
 * sink, against `keys` (those the trust store gives for `imageName`). `result` rejects with an RktError
 * ESIGNATURE whose message is `signature verification failed for <imageName>: <why>`; it may reject before the
 * sink has ended (no trusted key, malformed signature, untrusted signer), and the sink then discards the rest.
 * A sink destroyed before it ends makes `result` reject too.
 */
export function startVerification(signatureArmored: string, keys: readonly TrustedKey[], imageName: string): Verification {
  const fail = (why: string, cause?: unknown) =>
    new RktError('ESIGNATURE', `signature verification failed for ${imageName}: ${why}`, cause === undefined ? {} : { cause });

  // The bytes flow sink → web stream (what openpgp reads) with backpressure: a write is acknowledged once the
  // queue has room, so a fast writer waits for the hash instead of filling memory.
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let waiting: (() => void) | undefined;
  /** Nobody reads any more (verification settled or gave up): writes are acknowledged and dropped. */
  let draining = false;
  let closed = false;
  const release = () => {
    const cb = waiting;
    waiting = undefined;
    cb?.();
  };
  const input = new ReadableStream<Uint8Array>({
    start: (c) => { controller = c; },
    pull: () => { release(); },
    cancel: () => { draining = true; release(); },
  }, new ByteLengthQueuingStrategy({ highWaterMark: QUEUE_BYTES }));

  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (draining || closed || controller === undefined) {
        callback();
        return;
      }
      controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      if ((controller.desiredSize ?? 0) > 0) callback();
      else waiting = callback;
    },
    final(callback) {
      if (!draining && !closed) controller?.close();
      closed = true;
      callback();
    },
    destroy(err, callback) {
      if (!closed) {
        closed = true;
        if (!draining) controller?.error(err ?? new Error('the image data was cut short'));
      }
      release();
      callback(err);
    },
  });

  const result = verify(signatureArmored, keys, imageName, input, fail);
  const stop = () => {
    draining = true;
    release();
  };
  // Marks an early rejection handled: the caller awaits `result` only once it has written everything.
  result.then(stop, stop);
  return { sink, result };
}

async function verify(
  signatureArmored: string,
  keys: readonly TrustedKey[],
  imageName: string,
  input: ReadableStream<Uint8Array>,
  fail: (why: string, cause?: unknown) => RktError,
): Promise<VerifiedSigner> {
  if (keys.length === 0) {
    throw fail(`no trusted key for prefix ${imageName} (use 'rkt trust --prefix ${imageName}' or --insecure-options=image)`);
  }
  let signature: openpgp.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature: signatureArmored });
  } catch (err) {
    throw fail('malformed signature', err);
  }
  const issuers = signature.getSigningKeyIDs().map((id) => id.toHex().toLowerCase());
  if (issuers.length === 0) throw fail('malformed signature');

  const parsed: { readonly trusted: TrustedKey; readonly key: openpgp.PublicKey }[] = [];
  for (const trusted of keys) {
    try {
      parsed.push({ trusted, key: await openpgp.readKey({ armoredKey: trusted.armored }) as openpgp.PublicKey });
    } catch (err) {
      throw new RktError('EKEYSTORE', `bad key file ${trusted.path}: ${describe(err)}`, { cause: err });
    }
  }
  const wildcard = '0000000000000000';
  const known = issuers.some((id) => id === wildcard || keys.some((k) => k.keyIds.includes(id)));
  if (!known) throw fail(`signed by an untrusted key ${issuers.join(', ')}`);

  let outcome: openpgp.VerifyMessageResult<openpgp.NodeWebStream<Uint8Array>>;
  try {
    const message = await openpgp.createMessage({ binary: input });
    outcome = await openpgp.verify({ message, signature, verificationKeys: parsed.map((p) => p.key), format: 'binary' });
  } catch (err) {
    throw fail(`cannot check the signature: ${describe(err)}`, err);
  }
  const settled = Promise.allSettled(outcome.signatures.map((s) => s.verified));
  // The hash is computed as the data is read: read it to the end before asking for the verdict.
  try {
    const reader = outcome.data.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) { /* only the hash wants the bytes */ }
  } catch (err) {
    throw fail(`cannot read the image: ${describe(err)}`, err);
  }
  const verdicts = await settled;
  let firstProblem: unknown;
  for (const [i, v] of verdicts.entries()) {
    const keyId = outcome.signatures[i]?.keyID.toHex().toLowerCase() ?? '';
    if (v.status === 'fulfilled') {
      const signer = parsed.find((p) => p.trusted.keyIds.includes(keyId));
      if (signer !== undefined) return { fingerprint: signer.trusted.fingerprint, userIds: [...signer.trusted.userIds] };
      continue;
    }
    if (firstProblem === undefined && keys.some((k) => k.keyIds.includes(keyId))) firstProblem = v.reason;
  }
  if (firstProblem === undefined) throw fail(`signed by an untrusted key ${issuers.join(', ')}`);
  const msg = describe(firstProblem);
  if (/Signed digest did not match|Signature verification failed/.test(msg)) {
    throw fail('bad signature (the image does not match it)', firstProblem);
  }
  throw fail(`bad signature (${msg})`, firstProblem);
}

/** Check `signatureArmored` over `data` in one go (small data, tests): startVerification without the stream. */
export async function verifyDetached(
  data: Buffer | string,
  signatureArmored: string,
  keys: readonly TrustedKey[],
  imageName: string,
): Promise<VerifiedSigner> {
  const v = startVerification(signatureArmored, keys, imageName);
  v.sink.end(typeof data === 'string' ? Buffer.from(data) : data);
  return v.result;
}
