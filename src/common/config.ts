/**
 * rkt's configuration files, as rkt 1.x defined them: `<dir>/{paths.d,stage1.d,auth.d}/*.json` under the system
 * (`--system-config`, /usr/lib/rkt) and local (`--local-config`, /etc/rkt) directories, each file
 * `{"rktKind": …, "rktVersion": "v1", …}`. Kinds: `paths` (paths.d), `stage1` (stage1.d), `auth` and
 * `dockerAuth` (auth.d). Local overrides system per auth domain, per Docker registry and per field of `paths`
 * and `stage1`; within one directory, a domain, registry or field given by two files is an error.
 * Parsing and merging are pure; `readConfigDir` is the only effect.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, isErrno, RktError } from './errors.js';

/** Credentials of an `auth` entry: HTTP basic, or an OAuth bearer token. */
export type AuthCredentials =
  | { readonly type: 'basic'; readonly user: string; readonly password: string }
  | { readonly type: 'oauth'; readonly token: string };

/** User and password for a Docker registry (`dockerAuth`). */
export interface BasicCredentials {
  readonly user: string;
  readonly password: string;
}

/** Where rkt keeps its data (`paths`): `data` (pods and images), `stage1-images` (stage1 images by name). */
export interface PathsConfig {
  readonly data?: string;
  readonly stage1Images?: string;
}

/** The default stage1 (`stage1`): name and version go together; location is an ACI file or URL. */
export interface Stage1Config {
  readonly name?: string;
  readonly version?: string;
  readonly location?: string;
}

/** What one or more configuration directories say, merged. */
export interface Config {
  /** By domain (host, or host:port). */
  readonly auth: ReadonlyMap<string, AuthCredentials>;
  /** By registry host. */
  readonly dockerAuth: ReadonlyMap<string, BasicCredentials>;
  readonly paths: PathsConfig;
  readonly stage1: Stage1Config;
}

/** One configuration file, parsed. */
export type ConfigFile =
  | { readonly kind: 'auth'; readonly domains: readonly string[]; readonly credentials: AuthCredentials }
  | { readonly kind: 'dockerAuth'; readonly registries: readonly string[]; readonly credentials: BasicCredentials }
  | { readonly kind: 'paths'; readonly paths: PathsConfig }
  | { readonly kind: 'stage1'; readonly stage1: Stage1Config };

/** The subdirectories of a configuration directory and the kinds each may hold. */
export const CONFIG_SUBDIRS = {
  'paths.d': ['paths'],
  'stage1.d': ['stage1'],
  'auth.d': ['auth', 'dockerAuth'],
} as const satisfies Readonly<Record<string, readonly ConfigFile['kind'][]>>;

export type ConfigSubdir = keyof typeof CONFIG_SUBDIRS;

/** A configuration with nothing in it. */
export const EMPTY_CONFIG: Config = { auth: new Map(), dockerAuth: new Map(), paths: {}, stage1: {} };

type Json = Readonly<Record<string, unknown>>;

/** Validation of one file: every failure is ECONFIG naming the file and the field. */
class FileReader {
  constructor(readonly file: string) {}

  fail(why: string): never {
    throw new RktError('ECONFIG', `invalid configuration file ${this.file}: ${why}`);
  }

  object(v: unknown, at: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return this.fail(`${at}: expected an object`);
    return v as Json;
  }

  string(o: Json, key: string, at = key): string {
    const v = o[key];
    if (v === undefined || v === null) return this.fail(`${at}: required field is missing`);
    if (typeof v !== 'string' || v === '') return this.fail(`${at}: expected a non-empty string`);
    return v;
  }

  optionalString(o: Json, key: string): string | undefined {
    return o[key] === undefined || o[key] === null ? undefined : this.string(o, key);
  }

  strings(o: Json, key: string): string[] {
    const v = o[key];
    if (v === undefined || v === null) return this.fail(`${key}: required field is missing`);
    if (!Array.isArray(v) || v.length === 0) return this.fail(`${key}: expected a non-empty array of strings`);
    return v.map((s: unknown, i) => (typeof s === 'string' && s !== '' ? s : this.fail(`${key}[${i}]: expected a non-empty string`)));
  }

  basic(o: Json): BasicCredentials {
    const c = this.object(o['credentials'], 'credentials');
    return { user: this.string(c, 'user', 'credentials.user'), password: this.string(c, 'password', 'credentials.password') };
  }
}

/**
 * Parse one configuration file found in `subdir` (its path `file` is for messages). Throws ECONFIG for bad
 * JSON, a kind that does not belong in `subdir`, a version other than v1, or a missing or malformed field.
 * Unknown extra fields are ignored, so that newer compatible files still load. Pure.
 */
export function parseConfigFile(subdir: ConfigSubdir, file: string, text: string): ConfigFile {
  const r = new FileReader(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) return r.fail(err.message);
    throw err;
  }
  const o = r.object(parsed, 'the file');
  const kind = r.string(o, 'rktKind');
  const version = r.string(o, 'rktVersion');
  const allowed: readonly string[] = CONFIG_SUBDIRS[subdir];
  if (!allowed.includes(kind)) r.fail(`rktKind "${kind}" does not belong in ${subdir} (want ${allowed.map((k) => `"${k}"`).join(' or ')})`);
  if (version !== 'v1') r.fail(`rktVersion "${version}" of kind "${kind}" is not supported (want "v1")`);
  switch (kind) {
    case 'auth': {
      const domains = r.strings(o, 'domains');
      const type = r.string(o, 'type');
      if (type === 'basic') return { kind, domains, credentials: { type, ...r.basic(o) } };
      if (type === 'oauth') {
        const c = r.object(o['credentials'], 'credentials');
        return { kind, domains, credentials: { type, token: r.string(c, 'token', 'credentials.token') } };
      }
      return r.fail(`type "${type}" is not supported (want "basic" or "oauth")`);
    }
    case 'dockerAuth':
      return { kind, registries: r.strings(o, 'registries'), credentials: r.basic(o) };
    case 'paths': {
      const data = r.optionalString(o, 'data');
      const stage1Images = r.optionalString(o, 'stage1-images');
      return { kind, paths: { ...(data !== undefined ? { data } : {}), ...(stage1Images !== undefined ? { stage1Images } : {}) } };
    }
    default: {
      const name = r.optionalString(o, 'name');
      const ver = r.optionalString(o, 'version');
      const location = r.optionalString(o, 'location');
      if ((name === undefined) !== (ver === undefined)) r.fail('"name" and "version" go together: give both or neither');
      return {
        kind: 'stage1',
        stage1: { ...(name !== undefined ? { name } : {}), ...(ver !== undefined ? { version: ver } : {}), ...(location !== undefined ? { location } : {}) },
      };
    }
  }
}

/**
 * The configuration of one directory from its files, given in the order read (`file` names each in
 * messages). A domain, registry or field set by two files of the same directory is ECONFIG naming both. Pure.
 */
export function configOfDir(files: readonly { readonly file: string; readonly config: ConfigFile }[]): Config {
  const auth = new Map<string, AuthCredentials>();
  const dockerAuth = new Map<string, BasicCredentials>();
  const paths: Record<string, string> = {};
  const stage1: Record<string, string> = {};
  const origin = new Map<string, string>();
  const claim = (what: string, file: string) => {
    const first = origin.get(what);
    if (first !== undefined) throw new RktError('ECONFIG', `${what} is configured twice in one directory: in ${first} and in ${file}`);
    origin.set(what, file);
  };
  for (const { file, config: c } of files) {
    if (c.kind === 'auth') for (const d of c.domains) { claim(`auth domain "${d}"`, file); auth.set(d, c.credentials); }
    else if (c.kind === 'dockerAuth') for (const reg of c.registries) { claim(`dockerAuth registry "${reg}"`, file); dockerAuth.set(reg, c.credentials); }
    else if (c.kind === 'paths') {
      for (const [k, v] of Object.entries(c.paths)) { claim(`paths field "${k === 'stage1Images' ? 'stage1-images' : k}"`, file); paths[k] = v; }
    }
    else for (const [k, v] of Object.entries(c.stage1)) { claim(`stage1 field "${k}"`, file); stage1[k] = v; }
  }
  return { auth, dockerAuth, paths, stage1 };
}

/**
 * `local` over `system`: per auth domain, per registry, per paths field; the stage1 name and version are
 * overridden together (they name one image), the location on its own. Pure.
 */
export function mergeConfig(system: Config, local: Config): Config {
  const nameVersion = local.stage1.name !== undefined ? local.stage1 : system.stage1;
  const location = local.stage1.location ?? system.stage1.location;
  return {
    auth: new Map([...system.auth, ...local.auth]),
    dockerAuth: new Map([...system.dockerAuth, ...local.dockerAuth]),
    paths: { ...system.paths, ...local.paths },
    stage1: {
      ...(nameVersion.name !== undefined ? { name: nameVersion.name } : {}),
      ...(nameVersion.version !== undefined ? { version: nameVersion.version } : {}),
      ...(location !== undefined ? { location } : {}),
    },
  };
}

/**
 * Read the configuration of one directory (`<root>/{paths.d,stage1.d,auth.d}/*.json`, not recursing; files in
 * name order). A missing directory or subdirectory is empty. Throws ECONFIG for a bad or unreadable file.
 */
export async function readConfigDir(root: string): Promise<Config> {
  const files: { file: string; config: ConfigFile }[] = [];
  for (const subdir of Object.keys(CONFIG_SUBDIRS) as ConfigSubdir[]) {
    const dir = path.join(root, subdir);
    let names: string[];
    try {
      names = (await fs.readdir(dir)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
      throw new RktError('ECONFIG', `cannot read configuration directory ${dir}: ${describe(err)}`, { cause: err });
    }
    for (const n of names) {
      const file = path.join(dir, n);
      let text: string;
      try {
        text = await fs.readFile(file, 'utf8');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue; // removed since the listing
        throw new RktError('ECONFIG', `cannot read configuration file ${file}: ${describe(err)}`, { cause: err });
      }
      files.push({ file, config: parseConfigFile(subdir, file, text) });
    }
  }
  return configOfDir(files);
}

/** The merged configuration of the system and local directories (local wins). */
export async function readConfig(dirs: { readonly systemConfig: string; readonly localConfig: string }): Promise<Config> {
  return mergeConfig(await readConfigDir(dirs.systemConfig), await readConfigDir(dirs.localConfig));
}
