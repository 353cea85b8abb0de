/**
 * The trust store: which OpenPGP public keys may sign which images. Keys live under each config dir as
 *
 *   trustedkeys/prefix.d/<prefix>/<fingerprint>   trusted for images whose name starts with <prefix> (nested dirs)
 *   trustedkeys/root.d/<fingerprint>              trusted for every image
 *
 * where <fingerprint> is the lowercase hex fingerprint of the primary key and the file holds the armored public
 * key. The local config dir (/etc/rkt) overrides the system one (/usr/lib/rkt) file by file, as systemd's unit
 * directories do: a local file replaces the system file of the same name (or of the same key fingerprint), and an
 * empty local file masks it. Keys are only ever written to the local dir.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { describe, isErrno, RktError } from '../common/errors.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { isAcIdentifier } from '../image/names.js';

/** The dir under a config dir holding the trust store. */
export const TRUSTED_KEYS_DIR = 'trustedkeys';
/** A key file larger than this is not a public key anyone means to trust. */
export const MAX_KEY_FILE_BYTES = 4 << 20;

/** Whom a key is trusted for: the images under one name prefix, or every image. */
export type TrustScope = { readonly prefix: string } | { readonly root: true };

/** The two config dirs the store spans (GlobalOptions has both). */
export interface KeystoreDirs {
  readonly systemConfig: string;
  readonly localConfig: string;
}

/** What a public key says about itself. */
export interface PublicKeyInfo {
  /** Lowercase hex fingerprint of the primary key (40 digits for v4, 64 for v6). */
  readonly fingerprint: string;
  /** Lowercase hex fingerprints of the subkeys, in key order. */
  readonly subkeyFingerprints: readonly string[];
  /** Lowercase hex long key IDs of the primary key and its subkeys (what a signature names as its issuer). */
  readonly keyIds: readonly string[];
  /** The user IDs, e.g. `Example Signing Key <keys@example.com>`. */
  readonly userIds: readonly string[];
  /** The key as armored text, as stored. */
  readonly armored: string;
}

/** A key found in the store. */
export interface TrustedKey extends PublicKeyInfo {
  /** The file it was read from. */
  readonly path: string;
  readonly scope: TrustScope;
}

/** What addKey wrote. */
export interface AddedKey {
  readonly fingerprint: string;
  readonly userIds: readonly string[];
  readonly path: string;
}

/**
 * Parse `text` as exactly one armored OpenPGP public key. `source` names where it came from, for the errors
 * (EKEY): junk, several keys, or a private key (refused: the trust store holds public keys only).
 */
export async function readPublicKey(text: string, source: string): Promise<PublicKeyInfo> {
  return infoOf(await parsePublicKey(text, source));
}

/**
 * readPublicKey, and also refuse a key that cannot sign anything now: revoked, expired, or without a valid
 * self-signature (EKEY). What addKey checks before storing; a CLI can call it first to refuse before asking.
 */
export async function checkNewKey(text: string, source: string): Promise<PublicKeyInfo> {
  const key = await parsePublicKey(text, source);
  try {
    await key.verifyPrimaryKey();
  } catch (err) {
    throw new RktError('EKEY', `cannot trust ${source} (${key.getFingerprint().toLowerCase()}): ${describe(err)}`, { cause: err });
  }
  return infoOf(key);
}

async function parsePublicKey(text: string, source: string): Promise<openpgp.PublicKey> {
  if (/-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(text)) throw privateKeyRefused(source);
  const blocks = text.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----/g)?.length ?? 0;
  if (blocks === 0) {
    throw new RktError('EKEY', `${source} is not an armored OpenPGP public key (no "BEGIN PGP PUBLIC KEY BLOCK" line)`);
  }
  // openpgp reads the first armored block only: more would be silently dropped.
  if (blocks > 1) throw new RktError('EKEY', `${source} holds ${blocks} armored key blocks: give one key at a time`);
  let keys: openpgp.Key[];
  try {
    keys = await openpgp.readKeys({ armoredKeys: text });
  } catch (err) {
    throw new RktError('EKEY', `${source} is not a valid OpenPGP public key: ${describe(err)}`, { cause: err });
  }
  const key = keys[0];
  if (keys.length !== 1 || key === undefined) {
    throw new RktError('EKEY', `${source} holds ${keys.length} keys: give one key at a time`);
  }
  if (key.isPrivate()) throw privateKeyRefused(source);
  return key as openpgp.PublicKey;
}

function privateKeyRefused(source: string): RktError {
  return new RktError('EKEY', `${source} is a private key: refusing to store it; give the public key instead`, {
    hint: 'export the public half, e.g. with "gpg --armor --export KEYID"',
  });
}

function infoOf(key: openpgp.PublicKey): PublicKeyInfo {
  return {
    fingerprint: key.getFingerprint().toLowerCase(),
    subkeyFingerprints: key.getSubkeys().map((s) => s.getFingerprint().toLowerCase()),
    keyIds: key.getKeyIDs().map((id) => id.toHex().toLowerCase()),
    userIds: key.getUserIDs(),
    armored: key.armor(),
  };
}

function checkPrefix(prefix: string): void {
  if (!isAcIdentifier(prefix)) {
    throw new RktError('EPREFIX', `bad prefix "${prefix}": want an image name or a leading part of one, such as example.com/app`);
  }
}

/** The dir, relative to a config dir, holding the keys for `scope`. */
function scopeDir(scope: TrustScope): string {
  if ('root' in scope) return path.join(TRUSTED_KEYS_DIR, 'root.d');
  checkPrefix(scope.prefix);
  return path.join(TRUSTED_KEYS_DIR, 'prefix.d', ...scope.prefix.split('/'));
}

/** The file a key with `fingerprint` has in `configDir` for `scope`. */
export function keyPath(configDir: string, scope: TrustScope, fingerprint: string): string {
  return path.join(configDir, scopeDir(scope), fingerprint.toLowerCase());
}

/**
 * Every prefix of `name` on path boundaries, longest first: `example.com/app/sub` → `example.com/app/sub`,
 * `example.com/app`, `example.com`.
 */
export function namePrefixes(name: string): string[] {
  const parts = name.split('/');
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('/'));
}

/** One file in a scope dir: its path and whether it is empty (a mask, in the local dir). */
interface Entry {
  readonly path: string;
  readonly empty: boolean;
}

/** The key files (regular, not hidden) directly in `dir`, by name; none if it does not exist. */
async function listKeyFiles(dir: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return out;
    throw new RktError('EKEYSTORE', `cannot read the trust store dir ${dir}: ${describe(err)}`, { cause: err });
  }
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue; // temporaries of writeFileAtomic, editor droppings
    const file = path.join(dir, name);
    let st;
    try {
      st = await fs.stat(file);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue; // removed meanwhile, or a dangling symlink
      throw new RktError('EKEYSTORE', `cannot read key file ${file}: ${describe(err)}`, { cause: err });
    }
    if (st.isFile()) out.set(name, { path: file, empty: st.size === 0 });
  }
  return out;
}

async function loadKeyFile(file: string, scope: TrustScope): Promise<TrustedKey> {
  let text: string;
  try {
    const fh = await fs.open(file, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_KEY_FILE_BYTES) throw new RktError('EKEYSTORE', `bad key file ${file}: larger than ${MAX_KEY_FILE_BYTES} bytes`);
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof RktError) throw err;
    throw new RktError('EKEYSTORE', `cannot read key file ${file}: ${describe(err)}`, { cause: err });
  }
  let info: PublicKeyInfo;
  try {
    info = await readPublicKey(text, `key file ${file}`);
  } catch (err) {
    if (!(err instanceof RktError) || err.code !== 'EKEY') throw err;
    throw new RktError('EKEYSTORE', `bad key file in the trust store: ${err.message}`, { cause: err });
  }
  return { ...info, path: file, scope };
}

/**
 * The keys of one scope: the local dir's files over the system dir's. A local file replaces the system file of
 * the same name; an empty local file masks the system file of that name, and also the system key whose
 * fingerprint is that name.
 */
async function loadScope(dirs: KeystoreDirs, scope: TrustScope): Promise<TrustedKey[]> {
  const rel = scopeDir(scope);
  const local = await listKeyFiles(path.join(dirs.localConfig, rel));
  const system = await listKeyFiles(path.join(dirs.systemConfig, rel));
  const masked = new Set([...local].filter(([, e]) => e.empty).map(([name]) => name));
  const keys: TrustedKey[] = [];
  for (const e of local.values()) if (!e.empty) keys.push(await loadKeyFile(e.path, scope));
  const overridden = new Set(keys.map((k) => k.fingerprint));
  for (const [name, e] of system) {
    if (e.empty || local.has(name)) continue;
    const key = await loadKeyFile(e.path, scope);
    if (masked.has(key.fingerprint) || overridden.has(key.fingerprint)) continue;
    keys.push(key);
  }
  return keys;
}

/** The trust store spanning a system and a local config dir. */
export class Keystore {
  readonly dirs: KeystoreDirs;

  constructor(dirs: KeystoreDirs) {
    this.dirs = { systemConfig: dirs.systemConfig, localConfig: dirs.localConfig };
  }

  /**
   * The keys trusted to sign the image `imageName`: those of every prefix of the name on path boundaries
   * (`example.com` covers `example.com/app`, not `example.comx/app`), most specific first, then the root keys;
   * each key once. Throws EKEYSTORE naming the file when a key file is bad, ENAME when the name is not an AC
   * Identifier.
   */
  async keysFor(imageName: string): Promise<TrustedKey[]> {
    if (!isAcIdentifier(imageName)) {
      throw new RktError('ENAME', `cannot look up trusted keys for "${imageName}": it is not a valid image name`);
    }
    const scopes: TrustScope[] = [...namePrefixes(imageName).map((prefix) => ({ prefix })), { root: true }];
    const seen = new Set<string>();
    const out: TrustedKey[] = [];
    for (const scope of scopes) {
      for (const key of await loadScope(this.dirs, scope)) {
        if (seen.has(key.fingerprint)) continue;
        seen.add(key.fingerprint);
        out.push(key);
      }
    }
    return out;
  }

  /**
   * Validate `armored` as one public key (refusing private keys, revoked keys and keys without a valid
   * self-signature) and store it for `scope` in the local config dir, crash-safely: dirs created 0755, the
   * file `<fingerprint>` 0644, replacing any file (or mask) of that name. Throws EKEY for a bad key,
   * EKEYSTORE when the dir cannot be written (naming it).
   */
  async addKey(armored: string, scope: TrustScope): Promise<AddedKey> {
    const info = await checkNewKey(armored, 'the key');
    const file = keyPath(this.dirs.localConfig, scope, info.fingerprint);
    const dir = path.dirname(file);
    try {
      await makeDirs(dir);
      await writeFileAtomic(file, info.armored.endsWith('\n') ? info.armored : `${info.armored}\n`, 0o644);
    } catch (err) {
      if (err instanceof RktError) throw err;
      if (isErrno(err, 'EACCES') || isErrno(err, 'EPERM') || isErrno(err, 'EROFS')) {
        throw new RktError('EKEYSTORE', `cannot write to the trust store dir ${dir}: ${describe(err)}`, {
          cause: err,
          hint: `run as root (e.g. with sudo), or use a local config dir you can write (--local-config=DIR; keys go under DIR/${TRUSTED_KEYS_DIR})`,
        });
      }
      throw new RktError('EKEYSTORE', `cannot store key ${info.fingerprint} in ${dir}: ${describe(err)}`, { cause: err });
    }
    return { fingerprint: info.fingerprint, userIds: info.userIds, path: file };
  }
}

/** mkdir -p with every dir it creates 0755 whatever the umask. */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      const st = await fs.stat(d);
      if (!st.isDirectory()) throw new RktError('EKEYSTORE', `cannot store keys under ${d}: it is not a directory`);
      break;
    } catch (err) {
      if (!isErrno(err, 'ENOENT') || path.dirname(d) === d) throw err;
      missing.push(d);
    }
  }
  for (const d of missing.reverse()) {
    try {
      await fs.mkdir(d, 0o755);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      continue; // made by someone else meanwhile: theirs to keep
    }
    await fs.chmod(d, 0o755);
  }
}
