import test from 'ava';
import { isPodUuid, newPodUuid } from '../../../src/pod/uuid.js';

test('newPodUuid gives RFC 4122 version 4 UUIDs in lowercase canonical form', (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const u = newPodUuid();
    t.regex(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    t.true(isPodUuid(u));
    seen.add(u);
  }
  t.is(seen.size, 200);
});

test('isPodUuid accepts only the canonical lowercase form a pod directory is named by', (t) => {
  t.true(isPodUuid('6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2c'));
  t.true(isPodUuid('6f1b2a3c-0d4e-1f5a-8b6c-7d8e9f0a1b2c'), 'any version');
  for (const bad of [
    '',
    '6F1B2A3C-0D4E-4F5A-8B6C-7D8E9F0A1B2C',
    '{6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2c}',
    '6f1b2a3c0d4e4f5a8b6c7d8e9f0a1b2c',
    '6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2',
    '6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2cd',
    '6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2g',
    ' 6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2c',
    '.6f1b2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2c.tmp',
  ]) {
    t.false(isPodUuid(bad), bad);
  }
});
