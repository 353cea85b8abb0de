/**
 * A fresh pod UUID: RFC 4122 version 4 (random), in canonical lowercase form. Through the Web Crypto global,
 * which loads the crypto modules on first use: importing node:crypto would cost every command that only reads
 * pods (rkt status, rkt list) several milliseconds of OpenSSL set-up.
 */
export function newPodUuid(): string {
  return globalThis.crypto.randomUUID();
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
