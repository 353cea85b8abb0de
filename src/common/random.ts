/**
 * Random bytes for names (pod UUIDs, temporary files), read from the kernel's /dev/urandom: node:crypto and
 * the Web Crypto global set up OpenSSL on first use, ≈ 10 ms of a short command (measured 2026-12-02: the Web
 * Crypto global's first getRandomValues cost `node -e` 14 ms of CPU), for bytes the kernel hands out directly.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** `n` bytes from /dev/urandom. */
export function randomBytes(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    for (let off = 0; off < n; ) {
      const got = readSync(fd, buf, off, n - off, null);
      if (got === 0) throw new Error('/dev/urandom: unexpected end of file');
      off += got;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** `n` random bytes as 2n hex digits. */
export function randomHex(n: number): string {
  return randomBytes(n).toString('hex');
}
