import test from 'ava';
import { createHmac } from 'node:crypto';
import { newHmacKey, newPodToken, signContent, uuidBytes, verifyContent } from '../../../src/mds/hmac.js';

const UUID = '6a1f3c2e-8b4d-4e7f-9a0b-1c2d3e4f5a6b';
const OTHER = '00000000-0000-4000-8000-000000000000';

test('the signature is base64 HMAC-SHA512 over the UUID\'s 16 bytes then the content', (t) => {
  const key = Buffer.alloc(64, 7);
  const want = createHmac('sha512', key).update(Buffer.from(UUID.replace(/-/g, ''), 'hex')).update('hello').digest('base64');
  t.is(signContent(key, UUID, 'hello'), want);
});

test('sign → verify round trip; tampered content, another UUID, another key or a damaged signature fail', (t) => {
  const key = newHmacKey();
  const sig = signContent(key, UUID, 'content ✓');
  t.true(verifyContent(key, UUID, 'content ✓', sig));
  t.false(verifyContent(key, UUID, 'content ✗', sig));
  t.false(verifyContent(key, OTHER, 'content ✓', sig));
  t.false(verifyContent(newHmacKey(), UUID, 'content ✓', sig));
  t.false(verifyContent(key, UUID, 'content ✓', sig.slice(0, -4)));
  t.false(verifyContent(key, UUID, 'content ✓', 'not base64!'));
  t.false(verifyContent(key, 'not-a-uuid', 'content ✓', sig));
});

test('uuidBytes takes only canonical lowercase UUIDs', (t) => {
  t.is(uuidBytes(UUID)?.length, 16);
  t.is(uuidBytes(UUID.toUpperCase()), undefined);
  t.is(uuidBytes(UUID.replace(/-/g, '')), undefined);
  t.throws(() => signContent(Buffer.alloc(64), 'x', 'y'), { instanceOf: TypeError });
});

test('tokens are 192 random bits, URL-safe, never repeated; keys 64 bytes', (t) => {
  const tokens = new Set(Array.from({ length: 200 }, () => newPodToken()));
  t.is(tokens.size, 200);
  for (const tok of tokens) t.regex(tok, /^[A-Za-z0-9_-]{32}$/);
  t.is(newHmacKey().length, 64);
});
