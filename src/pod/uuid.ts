import { randomBytes } from '../common/random.js';

/**
 * A fresh pod UUID: RFC 4122 version 4 (random), in canonical lowercase form, from the kernel's random bytes
 * (src/common/random.ts: no OpenSSL set-up for `rkt run`).
 */
export function newPodUuid(): string {
  const b = randomBytes(16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40; // version 4
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80; // the RFC 4122 variant
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * True if `s` is a pod UUID as it names a pod directory: the canonical 8-4-4-4-12 lowercase hex form. Any
 * version is accepted (rkt only creates v4, but a pod directory left by another tool is still a pod); an
 * uppercase or brace-wrapped form is not a directory name rkt ever writes.
 */
export function isPodUuid(s: string): boolean {
  return UUID_RE.test(s);
}
