/**
 * `rkt trust` as users run it (the built CLI, `--local-config` in a temporary dir): key files, file:// and
 * https:// URLs, key discovery in a netns, the fingerprint review on a terminal (a pseudo-terminal made by
 * script(1)) and off one, usage errors, an unwritable trust store. The review logic is also driven in-process
 * with a fake terminal, which needs neither root nor the built CLI. Keys are made at test time with gpg.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { Args, Io } from '../../src/cli/command.js';
import { command, formatFingerprint, isYes, PROMPT } from '../../src/cli/trust.js';
import { RktError, UsageError } from '../../src/common/errors.js';
import type { GlobalOptions, InsecureCheck } from '../../src/common/options.js';
import { makeTestCa, startHttpsServer } from '../lib/https.js';
import { netnsSkipReason, runInNetns } from '../lib/netns.js';
import { functionalSkipReason, RKT, rkt, runCmd, tempDir, type Result } from '../lib/rkt.js';

const { dir, cleanup } = tempDir('rkt-trust-');
chmodSync(dir, 0o755); // the unwritable-store case runs rkt as nobody, who must read the key file
const home = path.join(dir, 'gnupg');
mkdirSync(home, { mode: 0o700 });
const env = { ...process.env, GNUPGHOME: home };
const gpg = (args: readonly string[]) =>
  execFileSync('gpg', ['--batch', '--quiet', '--no-tty', '--passphrase', '', '--pinentry-mode', 'loopback', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
gpg(['--quick-gen-key', 'Key A <a@example.com>', 'ed25519', 'sign', 'never']);
const fingerprint = (gpg(['--with-colons', '--list-keys', 'a@example.com']).split('\n').find((l) => l.startsWith('fpr:'))?.split(':')[9] ?? '').toLowerCase();
const keyFile = path.join(dir, 'a.asc');
writeFileSync(keyFile, gpg(['--armor', '--export', 'a@example.com']));
chmodSync(keyFile, 0o644);
const secretFile = path.join(dir, 'a-secret.asc');
writeFileSync(secretFile, gpg(['--armor', '--export-secret-keys', 'a@example.com']));

// Whether the built CLI has the command (before any test is declared: ava wants them declared synchronously).
const skip = functionalSkipReason();
const help = skip === undefined && existsSync(RKT) ? await rkt(['trust', '--help']) : undefined;
const cliSkip = skip ?? (help === undefined ? `the CLI is not built (${RKT})`
  : help.exitCode !== 0 || !help.stdout.includes('--skip-fingerprint-review') ? 'rkt trust is not registered in src/cli/index.ts' : undefined);

test.after.always(() => {
  execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env, stdio: 'ignore' });
  cleanup();
});

let cases = 0;
/** A fresh local config dir (not created). */
function localConfig(): string {
  return path.join(dir, `local-${++cases}`);
}
const prefixPath = (local: string, prefix: string) => path.join(local, 'trustedkeys/prefix.d', prefix, fingerprint);
const rootPath = (local: string) => path.join(local, 'trustedkeys/root.d', fingerprint);
/** Every file under the store of `local` (none if it was never created). */
function storeFiles(local: string): string[] {
  const root = path.join(local, 'trustedkeys');
  return existsSync(root) ? readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name) : [];
}

// ---------------------------------------------------------------------------------------------------------------
// In-process: the command's own logic with a fake terminal.

function fakeIo(opts: { tty: boolean; input?: string }): Io & { err(): string } {
  let err = '';
  const stdin = Object.assign(new PassThrough(), { isTTY: opts.tty });
  stdin.end(opts.input ?? '');
  return {
    stdout: { write: () => true, isTTY: false },
    stderr: { write: (s: string) => { err += s; return true; }, isTTY: opts.tty },
    stdin,
    err: () => err,
  };
}

function globals(local: string, insecure: InsecureCheck[] = []): GlobalOptions {
  return {
    dir: path.join(dir, 'data'), systemConfig: path.join(dir, 'no-system-config'), localConfig: local, userConfig: undefined,
    insecure: new Set(insecure), trustKeysFromHttps: false, debug: false,
  };
}

function runInProcess(flags: Record<string, unknown>, io: Io, local: string): Promise<number> {
  const args: Args = { _: ['trust'], root: false, 'skip-fingerprint-review': false, 'insecure-allow-http': false, ...flags };
  return command.run(args, { globals: globals(local), io, rest: [] });
}

test('in-process: on a terminal the fingerprint is shown and "yes" trusts the key', async (t) => {
  for (const answer of ['yes', 'Y', ' YES ']) {
    const local = localConfig();
    const io = fakeIo({ tty: true, input: `${answer}\n` });
    t.is(await runInProcess({ prefix: 'example.com/app', keys: [keyFile] }, io, local), 0);
    t.is(io.err(), [
      'Prefix: "example.com/app"',
      `Key: ${JSON.stringify(keyFile)}`,
      `GPG key fingerprint is: ${formatFingerprint(fingerprint)}`,
      '\tKey A <a@example.com>',
      `${PROMPT}Trusted key ${JSON.stringify(keyFile)} for prefix "example.com/app".`,
      `Added key for prefix "example.com/app" at ${JSON.stringify(prefixPath(local, 'example.com/app'))}`,
      '',
    ].join('\n'));
    t.true(existsSync(prefixPath(local, 'example.com/app')));
  }
});

test('in-process: any other answer, or none, refuses and writes nothing', async (t) => {
  for (const input of ['no\n', 'n\n', 'yess\n', '\n', '']) {
    const local = localConfig();
    const io = fakeIo({ tty: true, input });
    const err = await t.throwsAsync(runInProcess({ root: true, keys: [keyFile] }, io, local));
    t.true(err instanceof RktError, input);
    t.is((err as RktError).exitCode, 254);
    t.is(err?.message, `not trusting key ${JSON.stringify(keyFile)}`);
    t.true(io.err().includes(PROMPT));
    t.deepEqual(storeFiles(local), [], input);
  }
});

test('in-process: several keys are all reviewed before any is written', async (t) => {
  const local = localConfig();
  const io = fakeIo({ tty: true, input: 'yes\nno\n' });
  await t.throwsAsync(runInProcess({ prefix: 'example.com', keys: [keyFile, pathToFileURL(keyFile).href] }, io, local), { message: /^not trusting key "file:/ });
  t.is(io.err().split(PROMPT).length, 3, 'asked twice');
  t.deepEqual(storeFiles(local), []);
});

test('in-process: off a terminal the review is refused without reading stdin', async (t) => {
  const local = localConfig();
  const io = fakeIo({ tty: false, input: 'yes\n' });
  const err = await t.throwsAsync(runInProcess({ prefix: 'example.com', keys: [keyFile] }, io, local));
  t.regex(err?.message ?? '', /stdin is not a terminal.*--skip-fingerprint-review/);
  t.is(io.err(), '');
  t.deepEqual(storeFiles(local), []);
});

test('in-process: --prefix and --root, exactly one; bad prefixes', async (t) => {
  const io = fakeIo({ tty: false });
  for (const flags of [{}, { prefix: 'example.com', root: true }, { prefix: '' }, { prefix: 'Bad/Prefix' }, { prefix: '../x' }, { root: true }]) {
    const err = await t.throwsAsync(runInProcess({ 'skip-fingerprint-review': true, keys: 'root' in flags && !('prefix' in flags) ? [] : [keyFile], ...flags }, io, localConfig()));
    t.true(err instanceof UsageError, JSON.stringify(flags));
    t.is((err as UsageError).exitCode, 2);
  }
});

test('isYes and formatFingerprint', (t) => {
  t.true(isYes('y') && isYes('Yes') && isYes(' yes\r'));
  t.false(isYes('') || isYes('no') || isYes('yes please'));
  t.is(formatFingerprint('0efaf78cdf439eb9e840da578141b591d9f8b940'), '0EFA F78C DF43 9EB9 E840  DA57 8141 B591 D9F8 B940');
});

// ---------------------------------------------------------------------------------------------------------------
// The built CLI.

const cli = (title: string) => `${title}${cliSkip === undefined ? '' : ` (skipped: ${cliSkip})`}`;
const cliTest = cliSkip === undefined ? test : test.skip;

const trust = (local: string, args: readonly string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) =>
  rkt([`--local-config=${local}`, `--system-config=${path.join(dir, 'no-system-config')}`, 'trust', ...args], opts);
const show = (r: Result) => `exit ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

cliTest(cli('trust a key file for a prefix with --skip-fingerprint-review'), async (t) => {
  const local = localConfig();
  const r = await trust(local, ['--prefix=example.com/app', '--skip-fingerprint-review', keyFile]);
  t.is(r.exitCode, 0, show(r));
  const want = prefixPath(local, 'example.com/app');
  t.is(readFileSync(want, 'utf8').split('\n')[0], '-----BEGIN PGP PUBLIC KEY BLOCK-----');
  t.true(r.stderr.includes(`Prefix: "example.com/app"\nKey: ${JSON.stringify(keyFile)}\nGPG key fingerprint is: ${formatFingerprint(fingerprint)}\n\tKey A <a@example.com>\n`), r.stderr);
  t.true(r.stderr.includes(`Trusted key ${JSON.stringify(keyFile)} for prefix "example.com/app".\nAdded key for prefix "example.com/app" at ${JSON.stringify(want)}\n`), r.stderr);
  t.false(r.stderr.includes(PROMPT));
  t.is(r.stdout, '');
});

cliTest(cli('trust a file:// URL as a root key'), async (t) => {
  const local = localConfig();
  const url = pathToFileURL(keyFile).href;
  const r = await trust(local, ['--root', '--skip-fingerprint-review', url]);
  t.is(r.exitCode, 0, show(r));
  t.true(existsSync(rootPath(local)));
  t.true(r.stderr.includes(`Trusted key ${JSON.stringify(url)} as a root key.\nAdded root key at ${JSON.stringify(rootPath(local))}\n`), r.stderr);
});

cliTest(cli('off a terminal, without --skip-fingerprint-review: refused, nothing written'), async (t) => {
  const local = localConfig();
  const r = await trust(local, ['--prefix=example.com', keyFile], { input: 'yes\n' });
  t.is(r.exitCode, 254, show(r));
  t.regex(r.stderr, /^rkt: cannot ask whether to trust the key: stdin is not a terminal; .*pass --skip-fingerprint-review\n/);
  t.deepEqual(storeFiles(local), []);
});

cliTest(cli('usage errors: neither or both of --prefix/--root, unknown flag → exit 2'), async (t) => {
  for (const args of [[keyFile], ['--prefix=example.com', '--root', keyFile], ['--root'], ['--prefix=example.com', '--bogus', keyFile]]) {
    const local = localConfig();
    const r = await trust(local, ['--skip-fingerprint-review', ...args]);
    t.is(r.exitCode, 2, `${args.join(' ')}\n${show(r)}`);
    t.deepEqual(storeFiles(local), []);
  }
  const r = await trust(localConfig(), ['--skip-fingerprint-review', keyFile]);
  t.true(r.stderr.startsWith('rkt: give exactly one of --prefix=PREFIX and --root\n'), r.stderr);
});

cliTest(cli('a private key, junk, a missing file: refused with exit 254, nothing written'), async (t) => {
  const junk = path.join(dir, 'junk.asc');
  writeFileSync(junk, 'hello\n');
  const cases: [string, RegExp][] = [
    [secretFile, /^rkt: the key .* is a private key: refusing to store it; give the public key instead\n/],
    [junk, /^rkt: the key .* is not an armored OpenPGP public key/],
    [path.join(dir, 'missing.asc'), /^rkt: cannot read the key file .*missing\.asc: no such file\n/],
  ];
  for (const [file, want] of cases) {
    const local = localConfig();
    const r = await trust(local, ['--prefix=example.com', '--skip-fingerprint-review', file]);
    t.is(r.exitCode, 254, show(r));
    t.regex(r.stderr, want);
    t.deepEqual(storeFiles(local), []);
  }
});

/** Run the built rkt on a pseudo-terminal (script(1)), typing `input`. Output is the terminal's transcript. */
function onTerminal(args: readonly string[], input: string): Promise<Result> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, RKT, ...args].map(quote).join(' ');
  return runCmd('script', ['--quiet', '--return', '--command', cmd, '/dev/null'], { input, timeoutMs: 60_000 });
}
const scriptSkip = cliSkip ?? (existsSync('/usr/bin/script') ? undefined : 'needs script(1) from util-linux');

(scriptSkip === undefined ? test : test.skip)(`on a terminal: "no" refuses, "yes" trusts${scriptSkip === undefined ? '' : ` (skipped: ${scriptSkip})`}`, async (t) => {
  const no = localConfig();
  const refused = await onTerminal([`--local-config=${no}`, 'trust', '--prefix=example.com/app', keyFile], 'no\n');
  t.is(refused.exitCode, 254, show(refused));
  t.true(refused.stdout.includes(`GPG key fingerprint is: ${formatFingerprint(fingerprint)}`), refused.stdout);
  t.true(refused.stdout.includes(PROMPT), refused.stdout);
  t.true(refused.stdout.includes(`rkt: not trusting key ${JSON.stringify(keyFile)}`), refused.stdout);
  t.deepEqual(storeFiles(no), []);

  const yes = localConfig();
  const accepted = await onTerminal([`--local-config=${yes}`, 'trust', '--prefix=example.com/app', keyFile], 'yes\n');
  t.is(accepted.exitCode, 0, show(accepted));
  t.true(accepted.stdout.includes('Trusted key'), accepted.stdout);
  t.true(existsSync(prefixPath(yes, 'example.com/app')));
});

cliTest(cli('an https:// key URL is fetched (TLS checked against the test CA); plain http needs --insecure-allow-http'), async (t) => {
  const caDir = path.join(dir, 'ca');
  mkdirSync(caDir);
  const ca = makeTestCa(caDir);
  const armored = readFileSync(keyFile, 'utf8');
  const server = await startHttpsServer({
    cert: ca.serverCert, key: ca.serverKey,
    routes: (req, res) => {
      if (req.url === '/keys/a.asc') {
        res.writeHead(200, { 'content-type': 'application/pgp-keys' }).end(armored);
      } else {
        res.writeHead(404).end('not found\n');
      }
    },
  });
  try {
    const withCa = { ...process.env, NODE_EXTRA_CA_CERTS: ca.caCert };
    const url = `${server.url}/keys/a.asc`;
    const local = localConfig();
    const r = await trust(local, ['--prefix=example.com/app', '--skip-fingerprint-review', url], { env: withCa });
    t.is(r.exitCode, 0, show(r));
    t.true(existsSync(prefixPath(local, 'example.com/app')));
    t.true(r.stderr.includes(`Key: ${JSON.stringify(url)}\n`), r.stderr);

    const missing = await trust(localConfig(), ['--prefix=example.com', '--skip-fingerprint-review', `${server.url}/nope.asc`], { env: withCa });
    t.is(missing.exitCode, 254, show(missing));
    t.regex(missing.stderr, /^rkt: cannot fetch the key https:\/\/127\.0\.0\.1:\d+\/nope\.asc: the server answered 404\n/);

    const untrustedCa = await trust(localConfig(), ['--prefix=example.com', '--skip-fingerprint-review', url]);
    t.is(untrustedCa.exitCode, 254, show(untrustedCa));
    t.true(untrustedCa.stderr.includes(url), untrustedCa.stderr);

    const plain = await trust(localConfig(), ['--prefix=example.com', '--skip-fingerprint-review', 'http://127.0.0.1:9/a.asc']);
    t.is(plain.exitCode, 254, show(plain));
    t.regex(plain.stderr, /^rkt: refusing to fetch the key http:\/\/127\.0\.0\.1:9\/a\.asc over plain http\nrkt: .*--insecure-allow-http/);
  } finally {
    await server.close();
  }
});

const netnsSkip = cliSkip ?? netnsSkipReason();
(netnsSkip === undefined ? test : test.skip)(`without a key: discovered from ac-discovery-pubkeys (netns)${netnsSkip === undefined ? '' : ` (skipped: ${netnsSkip})`}`, async (t) => {
  const caDir = path.join(dir, 'ca-netns');
  mkdirSync(caDir);
  const ca = makeTestCa(caDir);
  const local = localConfig();
  const html = '<html><head><meta name="ac-discovery-pubkeys" content="example.com/app https://keys.example.com/app.gpg"></head></html>';
  const run = await runInNetns({
    command: [process.execPath, RKT, `--local-config=${local}`, 'trust', '--prefix=example.com/app', '--skip-fingerprint-review'],
    server: {
      cert: ca.serverCert, key: ca.serverKey, httpPort: null,
      routes: [
        { host: 'example.com', path: '/app', query: { 'ac-discovery': '1' }, body: html },
        { host: 'keys.example.com', path: '/app.gpg', body: readFileSync(keyFile, 'utf8'), headers: { 'content-type': 'application/pgp-keys' } },
      ],
    },
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.caCert },
    timeoutMs: 60_000,
  });
  t.is(run.exitCode, 0, show(run) + run.serverLog);
  t.true(existsSync(prefixPath(local, 'example.com/app')));
  t.true(run.stderr.includes('Key: "https://keys.example.com/app.gpg"\n'), run.stderr);
  t.deepEqual(run.requests.map((r) => `${r.host}${r.url}`), ['example.com/app?ac-discovery=1', 'keys.example.com/app.gpg']);
});

/** Run the built rkt as nobody (uid/gid 65534). */
function asNobody(args: readonly string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RKT, ...args], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ exitCode: code ?? -1, stdout, stderr }));
  });
}

cliTest(cli('an unwritable trust store: the error names the dir and says what to do'), async (t) => {
  const local = localConfig();
  mkdirSync(local, { mode: 0o755 }); // root's: nobody cannot create trustedkeys/ in it
  const r = await asNobody([`--local-config=${local}`, 'trust', '--prefix=example.com', '--skip-fingerprint-review', keyFile]);
  t.is(r.exitCode, 254, show(r));
  t.true(r.stderr.includes(`rkt: cannot write to the trust store dir ${path.join(local, 'trustedkeys/prefix.d/example.com')}: EACCES`), r.stderr);
  t.regex(r.stderr, /\nrkt: run as root \(e\.g\. with sudo\), or use a local config dir you can write \(--local-config=DIR/);
  t.deepEqual(storeFiles(local), []);
});
