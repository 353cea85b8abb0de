/**
 * The trust store on disk: prefix walk on path boundaries, root keys, local over system, masks, bad files, and
 * addKey's checks and layout. Keys are made at test time with gpg in a throwaway GNUPGHOME (nothing committed).
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { RktError } from '../../../src/common/errors.js';
import { checkNewKey, Keystore, keyPath, namePrefixes, readPublicKey, type TrustScope } from '../../../src/trust/keystore.js';
import { tempDir } from '../../lib/rkt.js';

const { dir, cleanup } = tempDir('rkt-keystore-');
const home = path.join(dir, 'gnupg');
mkdirSync(home, { mode: 0o700 });
const env = { ...process.env, GNUPGHOME: home };
const gpg = (args: readonly string[]) =>
  execFileSync('gpg', ['--batch', '--quiet', '--no-tty', '--passphrase', '', '--pinentry-mode', 'loopback', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Make a key and return its armored public half and fingerprint. */
function makeKey(uid: string, algo: string): { armored: string; fingerprint: string; secret: string } {
  gpg(['--quick-gen-key', uid, algo, 'sign', 'never']);
  const email = /<(.*)>/.exec(uid)?.[1] ?? uid;
  const fpr = gpg(['--with-colons', '--list-keys', email]).split('\n').find((l) => l.startsWith('fpr:'))?.split(':')[9] ?? '';
  return { armored: gpg(['--armor', '--export', email]), fingerprint: fpr.toLowerCase(), secret: gpg(['--armor', '--export-secret-keys', email]) };
}

const a = makeKey('Key A <a@example.com>', 'ed25519');
const b = makeKey('Key B <b@example.com>', 'ed25519');
const c = makeKey('Key C <c@example.com>', 'rsa2048');
const r = makeKey('Root Key <root@example.com>', 'ed25519');

test.after.always(() => {
  execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env, stdio: 'ignore' });
  cleanup();
});

let n = 0;
/** Fresh system and local config dirs. */
function dirs(): { systemConfig: string; localConfig: string } {
  n++;
  const base = path.join(dir, `case-${n}`);
  return { systemConfig: path.join(base, 'system'), localConfig: path.join(base, 'local') };
}

/** Put a key file (or any content) where the store looks for `scope` in `configDir`. */
function place(configDir: string, scope: TrustScope, name: string, content: string): string {
  const file = keyPath(configDir, scope, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

const fprs = async (store: Keystore, name: string) => (await store.keysFor(name)).map((k) => k.fingerprint);

test('namePrefixes walks up on path boundaries, longest first', (t) => {
  t.deepEqual(namePrefixes('example.com/app/sub'), ['example.com/app/sub', 'example.com/app', 'example.com']);
  t.deepEqual(namePrefixes('example.com'), ['example.com']);
});

test('keysFor: every parent prefix on path boundaries, most specific first, then root keys', async (t) => {
  const d = dirs();
  place(d.localConfig, { prefix: 'example.com' }, a.fingerprint, a.armored);
  place(d.systemConfig, { prefix: 'example.com/app' }, b.fingerprint, b.armored);
  place(d.localConfig, { prefix: 'example.comx' }, c.fingerprint, c.armored);
  place(d.systemConfig, { root: true }, r.fingerprint, r.armored);
  const store = new Keystore(d);
  t.deepEqual(await fprs(store, 'example.com/app/sub'), [b.fingerprint, a.fingerprint, r.fingerprint]);
  t.deepEqual(await fprs(store, 'example.com/app'), [b.fingerprint, a.fingerprint, r.fingerprint]);
  t.deepEqual(await fprs(store, 'example.com/application'), [a.fingerprint, r.fingerprint], 'app is not a prefix of application');
  t.deepEqual(await fprs(store, 'example.com'), [a.fingerprint, r.fingerprint]);
  t.deepEqual(await fprs(store, 'example.comx/app'), [c.fingerprint, r.fingerprint], 'example.com is not a prefix of example.comx');
  t.deepEqual(await fprs(store, 'other.org/app'), [r.fingerprint]);
  const [first] = await store.keysFor('example.com/app');
  t.deepEqual(first?.scope, { prefix: 'example.com/app' });
  t.deepEqual(first?.userIds, ['Key B <b@example.com>']);
  t.is(first?.path, keyPath(d.systemConfig, { prefix: 'example.com/app' }, b.fingerprint));
  t.true(first?.keyIds.includes(b.fingerprint.slice(-16)));
});

test('keysFor: an empty store trusts nothing; a key under several prefixes comes once', async (t) => {
  const d = dirs();
  const store = new Keystore(d);
  t.deepEqual(await store.keysFor('example.com/app'), []);
  place(d.localConfig, { prefix: 'example.com' }, a.fingerprint, a.armored);
  place(d.localConfig, { prefix: 'example.com/app' }, a.fingerprint, a.armored);
  place(d.localConfig, { root: true }, a.fingerprint, a.armored);
  const keys = await store.keysFor('example.com/app');
  t.deepEqual(keys.map((k) => [k.fingerprint, k.scope]), [[a.fingerprint, { prefix: 'example.com/app' }]]);
});

test('keysFor: the local dir overrides the system dir; an empty local file masks the system key', async (t) => {
  const d = dirs();
  place(d.systemConfig, { prefix: 'example.com' }, a.fingerprint, a.armored);
  place(d.systemConfig, { prefix: 'example.com' }, b.fingerprint, b.armored);
  place(d.systemConfig, { root: true }, r.fingerprint, r.armored);
  const store = new Keystore(d);
  t.deepEqual((await fprs(store, 'example.com/app')).sort(), [a.fingerprint, b.fingerprint, r.fingerprint].sort());

  // Same key in the local dir: it is the one used (its path), once.
  const localA = place(d.localConfig, { prefix: 'example.com' }, a.fingerprint, a.armored);
  const keys = await store.keysFor('example.com/app');
  t.deepEqual(keys.filter((k) => k.fingerprint === a.fingerprint).map((k) => k.path), [localA]);

  // Masks: an empty local file named by the fingerprint hides the system key, for prefixes and root keys.
  place(d.localConfig, { prefix: 'example.com' }, b.fingerprint, '');
  place(d.localConfig, { root: true }, r.fingerprint, '');
  t.deepEqual(await fprs(store, 'example.com/app'), [a.fingerprint]);
  // A mask hides the key of its own dir only, and a mask without a key beside it is harmless.
  place(d.systemConfig, { prefix: 'example.com/app' }, b.fingerprint, b.armored);
  place(d.localConfig, { prefix: 'other.org' }, c.fingerprint, '');
  t.deepEqual(await fprs(store, 'example.com/app'), [b.fingerprint, a.fingerprint]);
});

test('keysFor: a system key file under another name is masked by an empty local file named by its fingerprint', async (t) => {
  const d = dirs();
  place(d.systemConfig, { prefix: 'example.com' }, 'vendor-key', a.armored);
  const store = new Keystore(d);
  t.deepEqual(await fprs(store, 'example.com/app'), [a.fingerprint]);
  place(d.localConfig, { prefix: 'example.com' }, a.fingerprint, '');
  t.deepEqual(await fprs(store, 'example.com/app'), []);
});

test('keysFor: hidden files (temporaries) and sub-prefix dirs are not keys', async (t) => {
  const d = dirs();
  place(d.localConfig, { prefix: 'example.com' }, a.fingerprint, a.armored);
  place(d.localConfig, { prefix: 'example.com' }, `.${b.fingerprint}.tmp-1-abcd`, 'half-written');
  place(d.localConfig, { prefix: 'example.com/app' }, b.fingerprint, b.armored);
  t.deepEqual(await fprs(new Keystore(d), 'example.com/other'), [a.fingerprint]);
});

test('keysFor: a bad key file is an error naming the file', async (t) => {
  const d = dirs();
  place(d.localConfig, { prefix: 'example.com' }, a.fingerprint, a.armored);
  const junk = place(d.systemConfig, { root: true }, b.fingerprint, 'not a key\n');
  const err = await t.throwsAsync(new Keystore(d).keysFor('example.com/app'));
  t.true(err instanceof RktError);
  t.is((err as RktError).code, 'EKEYSTORE');
  t.true(err?.message.includes(junk), err?.message);

  const d2 = dirs();
  const priv = place(d2.localConfig, { prefix: 'example.com' }, a.fingerprint, a.secret);
  const err2 = await t.throwsAsync(new Keystore(d2).keysFor('example.com/app'));
  t.true(err2?.message.includes(priv), err2?.message);
  t.regex(err2?.message ?? '', /private key/);
});

test('keysFor: a name that is not an AC Identifier is refused', async (t) => {
  const store = new Keystore(dirs());
  for (const name of ['../etc', '/abs', 'Example.com/app', '']) {
    const err = await t.throwsAsync(store.keysFor(name));
    t.is((err as RktError).code, 'ENAME', name);
  }
});

test('addKey writes the key to the local dir by fingerprint, dirs 0755 and file 0644', async (t) => {
  const d = dirs();
  const store = new Keystore(d);
  const old = process.umask(0o077);
  let added;
  try {
    added = await store.addKey(a.armored, { prefix: 'example.com/app' });
  } finally {
    process.umask(old);
  }
  const want = path.join(d.localConfig, 'trustedkeys/prefix.d/example.com/app', a.fingerprint);
  t.deepEqual(added, { fingerprint: a.fingerprint, userIds: ['Key A <a@example.com>'], path: want });
  t.is(statSync(want).mode & 0o777, 0o644);
  for (const sub of ['trustedkeys', 'trustedkeys/prefix.d', 'trustedkeys/prefix.d/example.com', 'trustedkeys/prefix.d/example.com/app']) {
    t.is(statSync(path.join(d.localConfig, sub)).mode & 0o777, 0o755, sub);
  }
  t.false(existsSync(d.systemConfig), 'nothing is written to the system dir');
  const stored = readFileSync(want, 'utf8');
  t.regex(stored, /^-----BEGIN PGP PUBLIC KEY BLOCK-----\n/);
  t.is((await readPublicKey(stored, 'stored')).fingerprint, a.fingerprint);
  t.deepEqual(await fprs(store, 'example.com/app/x'), [a.fingerprint]);

  const root = await store.addKey(r.armored, { root: true });
  t.is(root.path, path.join(d.localConfig, 'trustedkeys/root.d', r.fingerprint));
  t.deepEqual(await fprs(store, 'other.org/x'), [r.fingerprint]);
});

test('addKey replaces a mask: trusting again unmasks', async (t) => {
  const d = dirs();
  place(d.systemConfig, { prefix: 'example.com' }, c.fingerprint, c.armored);
  place(d.localConfig, { prefix: 'example.com' }, c.fingerprint, '');
  const store = new Keystore(d);
  t.deepEqual(await fprs(store, 'example.com'), []);
  await store.addKey(c.armored, { prefix: 'example.com' });
  t.deepEqual(await fprs(store, 'example.com'), [c.fingerprint]);
});

test('addKey refuses a private key block, junk, several keys and bad prefixes, writing nothing', async (t) => {
  const d = dirs();
  const store = new Keystore(d);
  const priv = await t.throwsAsync(store.addKey(a.secret, { prefix: 'example.com' }));
  t.is((priv as RktError).code, 'EKEY');
  t.regex(priv?.message ?? '', /is a private key: refusing to store it/);
  for (const bad of ['', 'hello', `${a.armored}\n${b.armored}`]) {
    const err = await t.throwsAsync(store.addKey(bad, { prefix: 'example.com' }));
    t.is((err as RktError).code, 'EKEY', bad);
  }
  for (const prefix of ['../x', '/etc', 'Example.com', 'a//b', '']) {
    const err = await t.throwsAsync(store.addKey(a.armored, { prefix }));
    t.is((err as RktError).code, 'EPREFIX', prefix);
  }
  t.false(existsSync(d.localConfig));
});

test('checkNewKey refuses a revoked key', async (t) => {
  const { privateKey, publicKey } = await openpgp.generateKey({ userIDs: [{ name: 'Gone', email: 'gone@example.com' }], format: 'object' });
  const { publicKey: revoked } = await openpgp.revokeKey({ key: privateKey, format: 'armored' });
  t.is((await checkNewKey(publicKey.armor(), 'fresh')).userIds[0], 'Gone <gone@example.com>');
  const err = await t.throwsAsync(checkNewKey(revoked, 'the key'));
  t.regex(err?.message ?? '', /^cannot trust the key \([0-9a-f]{40}\): Primary key is revoked/);
});

test('a v6 key is stored under its 64-digit fingerprint', async (t) => {
  const { publicKey } = await openpgp.generateKey({ userIDs: [{ name: 'Six', email: 'six@example.com' }], config: { v6Keys: true }, format: 'armored' });
  const d = dirs();
  const added = await new Keystore(d).addKey(publicKey, { prefix: 'example.com' });
  t.regex(added.fingerprint, /^[0-9a-f]{64}$/);
  t.is(path.basename(added.path), added.fingerprint);
  t.deepEqual(await fprs(new Keystore(d), 'example.com/app'), [added.fingerprint]);
});
