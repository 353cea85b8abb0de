import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { CommandContext, CommandSpec } from './command.js';
import { describe, isErrno, RktError, UsageError } from '../common/errors.js';
import { isAcIdentifier } from '../image/names.js';
import type { PublicKeyInfo, TrustScope } from '../trust/keystore.js';
import { operands } from './flags.js';

/** Keys, fetched or read, larger than this are refused (real ones are a few KiB). */
const MAX_KEY_BYTES = 4 << 20;

/** A fingerprint as gpg shows it: uppercase groups of four, an extra space at the middle. */
export function formatFingerprint(hex: string): string {
  const groups = hex.toUpperCase().match(/.{1,4}/g) ?? [];
  const half = Math.ceil(groups.length / 2);
  return `${groups.slice(0, half).join(' ')}  ${groups.slice(half).join(' ')}`.trim();
}

/** The text shown for review before a key is trusted (rkt's layout). */
export function renderKeyReview(scope: TrustScope, location: string, key: PublicKeyInfo): string {
  const lines = [
    'root' in scope ? 'Root key (trusted for every image)' : `Prefix: ${JSON.stringify(scope.prefix)}`,
    `Key: ${JSON.stringify(location)}`,
    `GPG key fingerprint is: ${formatFingerprint(key.fingerprint)}`,
    ...key.subkeyFingerprints.map((fp) => `\tSubkey fingerprint: ${formatFingerprint(fp)}`),
    ...key.userIds.map((id) => `\t${id}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** True for an answer that accepts: `yes` or `y`, any case, surrounding blanks ignored. */
export function isYes(answer: string): boolean {
  return /^(?:y|yes)$/i.test(answer.trim());
}

export const PROMPT = 'Are you sure you want to trust this key (yes/no)? ';

/** Lines typed on stdin, one per question; lines typed ahead are kept for the next question. */
function lineReader(input: NodeJS.ReadableStream): { next: () => Promise<string | undefined>; close: () => void } {
  // node:readline is loaded here, not with the command table that every rkt command loads.
  const { createInterface } = createRequire(import.meta.url)('node:readline') as typeof import('node:readline');
  const rl = createInterface({ input, terminal: false, crlfDelay: Infinity });
  const lines = rl[Symbol.asyncIterator]();
  return {
    next: async () => {
      const r = await lines.next();
      return r.done === true ? undefined : String(r.value);
    },
    close: () => rl.close(),
  };
}

interface KeySource {
  readonly allowHttp: boolean;
  readonly insecureTls: boolean;
}

/** The text of the key at `location`: a file path, a file:// URL or an http(s) URL (plain http only if allowed). */
async function readKeyText(location: string, src: KeySource): Promise<string> {
  if (/^https?:\/\//i.test(location)) {
    if (/^http:/i.test(location) && !src.allowHttp) {
      throw new RktError('EKEY', `refusing to fetch the key ${location} over plain http`, {
        hint: 'use https, or pass --insecure-allow-http if you check the fingerprint by other means',
      });
    }
    const { httpGetText } = await import('../fetch/http.js');
    const res = await httpGetText(location, { allowHttp: src.allowHttp, insecureTls: src.insecureTls }, MAX_KEY_BYTES);
    if (res.status !== 200) throw new RktError('EKEY', `cannot fetch the key ${location}: the server answered ${res.status}`);
    return res.text;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) && !/^file:/i.test(location)) {
    throw new RktError('EKEY', `unsupported key location "${location}": want a file, a file:// URL or an https:// URL`);
  }
  const file = /^file:/i.test(location) ? fileURLToPath(location) : location;
  try {
    const fh = await fs.open(file, 'r');
    try {
      if ((await fh.stat()).size > MAX_KEY_BYTES) {
        throw new RktError('EKEY', `cannot read the key file ${file}: larger than ${MAX_KEY_BYTES} bytes`);
      }
      return await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof RktError) throw err;
    if (isErrno(err, 'ENOENT')) throw new RktError('EKEY', `cannot read the key file ${file}: no such file`, { cause: err });
    throw new RktError('EKEY', `cannot read the key file ${file}: ${describe(err)}`, { cause: err });
  }
}

function reviewImpossible(): RktError {
  return new RktError('EREVIEW', 'cannot ask whether to trust the key: stdin is not a terminal; check its fingerprint yourself and pass --skip-fingerprint-review');
}

/** The scope asked for by --prefix / --root; exactly one of them. */
function scopeOf(args: Readonly<Record<string, unknown>>): TrustScope {
  const prefix = args['prefix'];
  const root = args['root'] === true;
  if ((prefix !== undefined) === root) throw new UsageError('give exactly one of --prefix=PREFIX and --root');
  if (root) return { root: true };
  if (typeof prefix !== 'string' || prefix === '') throw new UsageError('--prefix needs a value, such as example.com/app');
  if (!isAcIdentifier(prefix)) {
    throw new UsageError(`bad --prefix value "${prefix}": want an image name or a leading part of one, such as example.com/app`);
  }
  return { prefix };
}

async function trust(args: Readonly<Record<string, unknown>>, ctx: CommandContext): Promise<number> {
  const scope = scopeOf(args);
  let locations = operands(args['keys']);
  if (locations.length === 0 && 'root' in scope) {
    throw new UsageError('--root needs the key(s) to trust: keys are discovered only for a --prefix');
  }
  const { globals, io } = ctx;
  const skipReview = args['skip-fingerprint-review'] === true;
  const allowHttp = args['insecure-allow-http'] === true || globals.insecure.has('http');
  const insecureTls = globals.insecure.has('tls');
  // --trust-keys-from-https: a key fetched over verified https needs no review.
  const needsReview = (loc: string) => !skipReview && !(globals.trustKeysFromHttps && !insecureTls && /^https:/i.test(loc));
  const interactive = io.stdin.isTTY === true;
  if (!interactive && !skipReview && !globals.trustKeysFromHttps) throw reviewImpossible();

  const { Keystore, checkNewKey } = await import('../trust/keystore.js');
  if (locations.length === 0 && 'prefix' in scope) {
    const { discoverPubkeys } = await import('../fetch/discovery.js');
    locations = await discoverPubkeys(scope.prefix, { insecureHttp: allowHttp, insecureTls });
  }
  if (!interactive && locations.some(needsReview)) throw reviewImpossible();

  // Review every key first: a refusal leaves the store untouched.
  const accepted: { location: string; text: string }[] = [];
  let lines: ReturnType<typeof lineReader> | undefined;
  try {
    for (const location of locations) {
      const text = await readKeyText(location, { allowHttp, insecureTls });
      const info = await checkNewKey(text, `the key ${location}`);
      io.stderr.write(renderKeyReview(scope, location, info));
      if (needsReview(location)) {
        io.stderr.write(PROMPT);
        lines ??= lineReader(io.stdin);
        const answer = await lines.next();
        if (answer === undefined) io.stderr.write('\n');
        if (answer === undefined || !isYes(answer)) {
          throw new RktError('EREFUSED', `not trusting key ${JSON.stringify(location)}`);
        }
      }
      accepted.push({ location, text });
    }
  } finally {
    lines?.close();
  }

  const store = new Keystore(globals);
  for (const { location, text } of accepted) {
    const added = await store.addKey(text, scope);
    if ('root' in scope) {
      io.stderr.write(`Trusted key ${JSON.stringify(location)} as a root key.\n`);
      io.stderr.write(`Added root key at ${JSON.stringify(added.path)}\n`);
    } else {
      io.stderr.write(`Trusted key ${JSON.stringify(location)} for prefix ${JSON.stringify(scope.prefix)}.\n`);
      io.stderr.write(`Added key for prefix ${JSON.stringify(scope.prefix)} at ${JSON.stringify(added.path)}\n`);
    }
  }
  return 0;
}

export const command: CommandSpec = {
  path: ['trust'],
  operands: '[keys..]',
  summary: 'Trust a key for image verification',
  description: 'Adds a public key to the trust store of the local config dir (--local-config, /etc/rkt by default), '
    + 'trusted for the images whose name starts with --prefix, or for every image with --root. Each KEY is a file, '
    + 'a file:// URL or an https:// URL; without one, the keys of the prefix are found by appc discovery '
    + '(ac-discovery-pubkeys). The fingerprint is shown and must be confirmed unless --skip-fingerprint-review.',
  needsRoot: false,
  flags: [
    { name: 'prefix', kind: 'string', describe: 'trust the key for images whose name starts with this prefix (e.g. example.com/app)' },
    { name: 'root', kind: 'boolean', default: false, describe: 'trust the key for every image' },
    { name: 'skip-fingerprint-review', kind: 'boolean', default: false, describe: 'accept the key without asking to confirm its fingerprint' },
    { name: 'insecure-allow-http', kind: 'boolean', default: false, describe: 'allow plain http for key discovery and fetching' },
  ],
  run: trust,
};
