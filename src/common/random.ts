/**
 * Random bytes for names (pod UUIDs, temporary files), read from the kernel's /dev/urandom: node:crypto and
 * the Web Crypto global set up OpenSSL on first use, ≈ 10 ms of a short command (measured 2026-12-02: the Web
 * Crypto global's first getRandomValues cost `node -e` 14 ms of CPU), for bytes the kernel hands out directly.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** Bytes read ahead from /dev/urandom, handed out in order (a command names a handful of files). */
let pool: Buffer = Buffer.alloc(0);
let poolOff = 0;
const POOL_SIZE = 256;

/** `n` bytes from /dev/urandom (never the same bytes twice: each call takes the next unread ones). */
export function randomBytes(n: number): Buffer {
  if (n > POOL_SIZE) return readUrandom(n);
  if (poolOff + n > pool.length) {
    pool = readUrandom(POOL_SIZE);
    poolOff = 0;
  }
  const out = Buffer.from(pool.subarray(poolOff, poolOff + n));
  pool.fill(0, poolOff, poolOff + n);
  poolOff += n;
  return out;
}

function readUrandom(n: number): Buffer {
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
