import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { sha256Hex } from '../../../src/common/sha256.js';

const node = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

test("sha256Hex gives FIPS 180-4's example digests", (t) => {
  t.is(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  t.is(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  t.is(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
});

test('sha256Hex agrees with node:crypto at every length around the block boundaries, and on UTF-8 text', (t) => {
  for (let n = 0; n <= 200; n++) {
    const s = randomBytes(n).toString('latin1');
    t.is(sha256Hex(s), node(s), `length ${n}`);
  }
  for (const s of ['file:///var/lib/rkt/stage1.aci', 'https://example.com/ä/é/😀', 'x'.repeat(1000)]) t.is(sha256Hex(s), node(s), s);
});
