/**
 * Signature checks against keys and signatures made at test time with gpg in a throwaway GNUPGHOME (nothing
 * committed): good signatures (ed25519, rsa2048, a signing subkey), tampered data, wrong key, no key, junk, and
 * a 50 MB image streamed through the sink in constant memory.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { closeSync, createReadStream, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RktError } from '../../../src/common/errors.js';
import { readPublicKey, type TrustedKey } from '../../../src/trust/keystore.js';
import { startVerification, verifyDetached } from '../../../src/trust/verify.js';
import { tempDir } from '../../lib/rkt.js';

const { dir, cleanup } = tempDir('rkt-verify-');
const home = path.join(dir, 'gnupg');
mkdirSync(home, { mode: 0o700 });
const env = { ...process.env, GNUPGHOME: home };
const gpg = (args: readonly string[]) =>
  execFileSync('gpg', ['--batch', '--quiet', '--no-tty', '--passphrase', '', '--pinentry-mode', 'loopback', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
const fingerprints = (uid: string) => gpg(['--with-colons', '--list-keys', uid]).toString()
  .split('\n').filter((l) => l.startsWith('fpr:')).map((l) => (l.split(':')[9] ?? '').toLowerCase());

gpg(['--quick-gen-key', 'Ed Signer <ed@example.com>', 'ed25519', 'sign', 'never']);
gpg(['--quick-gen-key', 'Rsa Signer <rsa@example.com>', 'rsa2048', 'sign', 'never']);
const edFpr = fingerprints('ed@example.com')[0] ?? '';
gpg(['--quick-add-key', edFpr, 'ed25519', 'sign', 'never']);
const edSubFpr = fingerprints('ed@example.com')[1] ?? '';

async function trusted(uid: string): Promise<TrustedKey> {
  const info = await readPublicKey(gpg(['--armor', '--export', uid]).toString(), uid);
  return { ...info, path: `/test/${info.fingerprint}`, scope: { prefix: 'example.com' } };
}
/** A detached armored signature of `file` by `signer` (a user ID, or a fingerprint with `!` for that very subkey). */
const sign = (file: string, signer: string) => gpg(['--armor', '--detach-sign', '--local-user', signer, '--output', '-', file]).toString();

const data = path.join(dir, 'data');
const content = Buffer.from('an image, as served\n'.repeat(1000));
writeFileSync(data, content);
const edSig = sign(data, `${edFpr}!`);
const rsaSig = sign(data, 'rsa@example.com');
const subSig = sign(data, `${edSubFpr}!`);
const ed = await trusted('ed@example.com');
const rsa = await trusted('rsa@example.com');

test.after.always(() => {
  execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env, stdio: 'ignore' });
  cleanup();
});

const NAME = 'example.com/app';
const failure = (why: string) => `signature verification failed for ${NAME}: ${why}`;

async function rejected(t: import('ava').ExecutionContext, p: Promise<unknown>): Promise<RktError> {
  const err = await t.throwsAsync(p);
  if (!(err instanceof RktError)) throw new Error(`not an RktError: ${String(err)}`);
  t.is(err.code, 'ESIGNATURE');
  return err;
}

test('a good ed25519 signature verifies and names the signer', async (t) => {
  const signer = await verifyDetached(content, edSig, [rsa, ed], NAME);
  t.deepEqual(signer, { fingerprint: edFpr, userIds: ['Ed Signer <ed@example.com>'] });
  t.regex(edFpr, /^[0-9a-f]{40}$/);
});

test('a good rsa2048 signature verifies', async (t) => {
  const signer = await verifyDetached(content, rsaSig, [ed, rsa], NAME);
  t.is(signer.fingerprint, rsa.fingerprint);
  t.deepEqual(signer.userIds, ['Rsa Signer <rsa@example.com>']);
});

test('a signature by a signing subkey is credited to the trusted primary key', async (t) => {
  t.not(edSubFpr, '');
  const signer = await verifyDetached(content, subSig, [ed], NAME);
  t.is(signer.fingerprint, edFpr);
});

test('tampered data: bad signature', async (t) => {
  const tampered = Buffer.from(content);
  tampered[100] = (tampered[100] ?? 0) ^ 1;
  const err = await rejected(t, verifyDetached(tampered, edSig, [ed], NAME));
  t.is(err.message, failure('bad signature (the image does not match it)'));
  const rsaErr = await rejected(t, verifyDetached(Buffer.concat([content, Buffer.from('x')]), rsaSig, [rsa], NAME));
  t.is(rsaErr.message, failure('bad signature (the image does not match it)'));
});

test('signed by a key that is not trusted: named by its key ID', async (t) => {
  const err = await rejected(t, verifyDetached(content, edSig, [rsa], NAME));
  t.is(err.message, failure(`signed by an untrusted key ${edFpr.slice(-16)}`));
});

test('no trusted key at all', async (t) => {
  const err = await rejected(t, verifyDetached(content, edSig, [], NAME));
  t.is(err.message, failure(`no trusted key for prefix ${NAME} (use 'rkt trust --prefix ${NAME}' or --insecure-options=image)`));
});

test('malformed signatures', async (t) => {
  const pubkey = gpg(['--armor', '--export', 'ed@example.com']).toString();
  const truncated = edSig.split('\n').filter((l, i) => i !== 2).join('\n');
  for (const junk of ['', 'junk', pubkey, truncated, '-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n']) {
    const err = await rejected(t, verifyDetached(content, junk, [ed], NAME));
    t.is(err.message, failure('malformed signature'), junk);
  }
});

test('an early failure leaves the sink draining: a writer never hangs', async (t) => {
  const v = startVerification('junk', [ed], NAME);
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < 20; i++) {
    if (!v.sink.write(big)) await new Promise((resolve) => v.sink.once('drain', resolve));
  }
  await new Promise<void>((resolve, reject) => v.sink.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const err = await rejected(t, v.result);
  t.is(err.message, failure('malformed signature'));
});

test('a sink destroyed before the end rejects the result', async (t) => {
  const v = startVerification(edSig, [ed], NAME);
  v.sink.write(content.subarray(0, 100));
  v.sink.destroy();
  const err = await rejected(t, v.result);
  t.regex(err.message, /^signature verification failed for example\.com\/app: cannot read the image: /);
});

test.serial('a 50 MB image streams through the sink in modest memory', async (t) => {
  const file = path.join(dir, 'big');
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < 50; i++) {
    block.fill(i);
    writeSync(fd, block);
  }
  closeSync(fd);
  const sig = sign(file, `${edFpr}!`);
  const sampleMemory = () => process.memoryUsage();
  const before = sampleMemory();
  let peakBuffers = before.arrayBuffers;
  let peakRss = before.rss;
  const timer = setInterval(() => {
    const m = sampleMemory();
    peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    peakRss = Math.max(peakRss, m.rss);
  }, 5);
  try {
    const v = startVerification(sig, [rsa, ed], NAME);
    await pipeline(createReadStream(file), v.sink);
    t.is((await v.result).fingerprint, edFpr);
  } finally {
    clearInterval(timer);
  }
  const mb = (n: number) => Math.round(n / (1 << 20));
  t.log(`peak arrayBuffers +${mb(peakBuffers - before.arrayBuffers)} MB, peak rss +${mb(peakRss - before.rss)} MB`);
  // Holding the image would take 50 MB of buffers at once; streaming, what is seen is garbage not yet collected
  // (about 15 MB, the same for 200 MB).
  t.true(peakBuffers - before.arrayBuffers < 35 * (1 << 20), 'the image was not buffered');
  t.true(peakRss - before.rss < 60 * (1 << 20), 'rss stayed modest');
  // And the same bytes with one byte changed at the very end fail.
  const v = startVerification(sig, [ed], NAME);
  await pipeline(createReadStream(file), async function* (source: AsyncIterable<Buffer>) {
    let total = 0;
    for await (const chunk of source) {
      total += chunk.length;
      if (total === 50 << 20) {
        const last = Buffer.from(chunk);
        last[last.length - 1] = 0xff;
        yield last;
      } else {
        yield chunk;
      }
    }
  }, v.sink);
  const err = await rejected(t, v.result);
  t.is(err.message, failure('bad signature (the image does not match it)'));
});
