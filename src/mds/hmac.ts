/**
 * The identity endpoint's cryptography (appc spec, "Identity Endpoint"): HMAC-SHA512 over the signing pod's
 * UUID (its 16 bytes) followed by the content, with a key only the metadata service holds. Pure.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of a fresh HMAC key (SHA-512's block size). */
export const KEY_BYTES = 64;

/** A fresh random HMAC key. */
export function newHmacKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** A pod token for `AC_METADATA_URL`: 192 random bits, URL-safe base64 (32 characters). */
export function newPodToken(): string {
  return randomBytes(24).toString('base64url');
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The 16 bytes of a canonical (lowercase, dashed) UUID; undefined for anything else. */
export function uuidBytes(uuid: string): Buffer | undefined {
  if (!UUID_RE.test(uuid)) return undefined;
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

/** The base64 signature of `content` by pod `uuid` (a canonical UUID; throws on anything else). */
export function signContent(key: Uint8Array, uuid: string, content: string): string {
  const id = uuidBytes(uuid);
  if (id === undefined) throw new TypeError(`not a canonical UUID: ${uuid}`);
  return createHmac('sha512', key).update(id).update(content, 'utf8').digest('base64');
}

/**
 * Whether `signature` (base64) is pod `uuid`'s signature of `content`. False for a malformed UUID or
 * signature; compared in constant time.
 */
export function verifyContent(key: Uint8Array, uuid: string, content: string, signature: string): boolean {
  if (uuidBytes(uuid) === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return false;
  const want = Buffer.from(signContent(key, uuid, content), 'base64');
  const got = Buffer.from(signature, 'base64');
  return got.length === want.length && timingSafeEqual(got, want);
}
