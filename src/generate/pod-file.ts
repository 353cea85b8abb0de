/**
 * Pod files (`/etc/rkt/pods.d/NAME.pod`): a unit-like INI file declaring a pod, parsed into data. Pure: text
 * in, a PodFile or the first error with its line out (tested in tests/unit/generate/).
 *
 * ```ini
 * [Unit]                       passed through to NAME.service
 * Description=web in a pod
 * [Pod]
 * Image=example.com/web:1.0    one per app; the app keys after it are that app's
 * Name=web                     Exec=, Environment=, Mount=, Name=
 * Exec=/bin/web --port=8080
 * Volume=data,kind=host,source=/srv/data
 * Net=host
 * PullPolicy=new               new (the default), update, never
 * [Service]                    passed through, after rkt's own settings (so they win)
 * [Install]                    WantedBy=, RequiredBy=, Alias=: the generator's links
 * ```
 *
 * Beside a pod manifest (`NAME.pod.yaml`, `NAME.pod.json`; see manifest-pod.ts) the pod file keeps `[Unit]`,
 * `[Service]`, `[Install]` and the pod-level `Net=`, `PullPolicy=`, `Stage1=`, `InsecureOptions=`; the apps,
 * volumes, mounts and ports are the manifest's, and `Image=`, `Volume=`, `Mount=`, `Port=` are errors.
 */

/** One app of a pod file: an `Image=` and the app keys that follow it. */
export interface PodFileApp {
  readonly image: string;
  readonly name?: string;
  /** The app's executable and arguments (`Exec=`, split as systemd splits a command line). */
  readonly exec?: readonly string[];
  readonly environment: readonly string[];
  readonly mounts: readonly string[];
}

export type PullPolicy = 'new' | 'update' | 'never';

/** A `Key=value` line of a passed-through section, in file order. */
export type UnitLine = readonly [key: string, value: string];

/** A pod whose apps, volumes and ports are those of a pod manifest file (`rkt run --pod-manifest`). */
export interface PodManifestRef {
  /** The manifest file, absolute: `--pod-manifest=` and `SourcePath=`. */
  readonly file: string;
  /** The images to fetch: the references (`NAME[:VERSION][,LABEL=VALUE]`) of the apps that name theirs, each once. */
  readonly images: readonly string[];
  /** The manifest's `ports` as `--port` values (`NAME:[HOSTIP:]HOSTPORT`). */
  readonly ports: readonly string[];
}

/** A parsed pod file. */
export interface PodFile {
  readonly apps: readonly PodFileApp[];
  readonly volumes: readonly string[];
  readonly nets: readonly string[];
  readonly ports: readonly string[];
  /** Pod-level `Mount=` (before the first `Image=`): for every app. */
  readonly mounts: readonly string[];
  readonly pullPolicy: PullPolicy;
  /** `Stage1=`: an absolute path to an ACI, or an image name. */
  readonly stage1?: string;
  /** `InsecureOptions=`: rkt's `--insecure-options` for the fetch and the run (e.g. `image` for unsigned images). */
  readonly insecureOptions?: string;
  readonly unit: readonly UnitLine[];
  readonly service: readonly UnitLine[];
  readonly install: { readonly wantedBy: readonly string[]; readonly requiredBy: readonly string[]; readonly alias: readonly string[] };
  /** Set when a pod manifest declares the pod (then `apps`, `volumes`, `mounts` and `ports` are empty). */
  readonly manifest?: PodManifestRef;
}

/** How to read a pod file: alone (it declares the apps), or beside the pod manifest named here. */
export interface ParseOptions {
  /** The pod manifest beside the file (its name, for messages): the file must then declare no apps, volumes or ports. */
  readonly besideManifest?: string;
}

/** Why a pod file was refused: a message and the 1-based line it is about. */
export interface PodFileError {
  readonly line: number;
  readonly message: string;
}

export type ParseResult = { readonly ok: true; readonly pod: PodFile } | { readonly ok: false; readonly error: PodFileError };

const APP_KEYS = new Set(['Name', 'Exec', 'Environment', 'Mount']);
const POD_KEYS = new Set(['Image', 'Volume', 'Net', 'Port', 'PullPolicy', 'Stage1', 'InsecureOptions', 'Mount']);
/** The [Pod] keys whose facts a pod manifest holds: refused in a pod file beside one (what each would declare). */
const MANIFEST_KEYS: Readonly<Record<string, string>> = {
  Image: 'declares an app', Name: 'names an app', Exec: "sets an app's exec", Environment: "sets an app's environment",
  Volume: 'declares a volume', Mount: 'declares a mount', Port: 'forwards a port',
};
/** Settings rkt's own unit needs as they are: a pod file that changes them would break the pod's record. */
const FIXED_SERVICE_KEYS = new Set(['Type', 'ExecStart', 'KillMode', 'NotifyAccess', 'Delegate']);

/** Parse the text of a pod file. Never throws: a malformed file gives its first error and line. */
export function parsePodFile(text: string, opts: ParseOptions = {}): ParseResult {
  let section = '';
  const apps: { image: string; name?: string; exec?: string[]; environment: string[]; mounts: string[] }[] = [];
  const volumes: string[] = [];
  const nets: string[] = [];
  const ports: string[] = [];
  const mounts: string[] = [];
  const unit: UnitLine[] = [];
  const service: UnitLine[] = [];
  const install = { wantedBy: [] as string[], requiredBy: [] as string[], alias: [] as string[] };
  let pullPolicy: PullPolicy = 'new';
  let stage1: string | undefined;
  let insecureOptions: string | undefined;
  let podLine: number | undefined;
  const fail = (line: number, message: string): ParseResult => ({ ok: false, error: { line, message } });

  const lines = joinContinuations(text);
  for (const { line: n, text: raw } of lines) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#') || l.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(l);
    if (header !== null) {
      section = header[1] ?? '';
      if (section === 'Pod') podLine ??= n;
      if (!['Unit', 'Pod', 'Service', 'Install'].includes(section)) return fail(n, `unknown section [${section}] (want [Unit], [Pod], [Service] or [Install])`);
      continue;
    }
    const eq = l.indexOf('=');
    if (eq <= 0) return fail(n, `not a Key=value line: "${l}"`);
    const key = l.slice(0, eq).trim();
    const value = l.slice(eq + 1).trim();
    if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(key)) return fail(n, `bad key "${key}"`);
    if (section === '') return fail(n, `"${key}=" before any section`);
    switch (section) {
      case 'Unit':
        unit.push([key, value]);
        break;
      case 'Service':
        if (FIXED_SERVICE_KEYS.has(key)) return fail(n, `[Service] ${key}= is rkt's to set in a pod's unit (see Documentation/systemd-units.md)`);
        service.push([key, value]);
        break;
      case 'Install':
        if (key === 'WantedBy') install.wantedBy.push(...words(value));
        else if (key === 'RequiredBy') install.requiredBy.push(...words(value));
        else if (key === 'Alias') install.alias.push(...words(value));
        else return fail(n, `[Install] ${key}= is not supported in a pod file (want WantedBy=, RequiredBy= or Alias=)`);
        break;
      case 'Pod': {
        const app = apps[apps.length - 1];
        if (value === '') return fail(n, `${key}= needs a value`);
        const manifest = opts.besideManifest;
        const declares = Object.hasOwn(MANIFEST_KEYS, key) ? MANIFEST_KEYS[key] : undefined;
        if (manifest !== undefined && declares !== undefined) return fail(n, `${key}= ${declares}, but ${manifest} declares this pod's apps, volumes and ports: say it there (or remove ${manifest})`);
        if (APP_KEYS.has(key) && key !== 'Mount' && app === undefined) return fail(n, `${key}= belongs to an app: put it after the Image= it is for`);
        if (!APP_KEYS.has(key) && !POD_KEYS.has(key)) return fail(n, `unknown key "${key}" in [Pod] (want ${[...POD_KEYS, ...APP_KEYS].filter((k, i, a) => a.indexOf(k) === i).join(', ')})`);
        switch (key) {
          case 'Image':
            apps.push({ image: value, environment: [], mounts: [] });
            break;
          case 'Name':
            if (!/^[a-z0-9]+([-._~/][a-z0-9]+)*$/.test(value)) return fail(n, `bad app name "${value}" (an AC name: lower case letters, digits, -._~/)`);
            if (app !== undefined) app.name = value;
            break;
          case 'Exec': {
            const argv = splitCommandLine(value);
            if (typeof argv === 'string') return fail(n, `Exec=: ${argv}`);
            if (app !== undefined) app.exec = argv;
            break;
          }
          case 'Environment':
            if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(value)) return fail(n, `Environment= wants NAME=VALUE, got "${value}"`);
            app?.environment.push(value);
            break;
          case 'Mount':
            if (!/^volume=[^,]+,target=.+$/.test(value)) return fail(n, `Mount= wants volume=NAME,target=/path, got "${value}"`);
            (app === undefined ? mounts : app.mounts).push(value);
            break;
          case 'Volume':
            volumes.push(value);
            break;
          case 'Net':
            nets.push(value);
            break;
          case 'Port':
            ports.push(value);
            break;
          case 'PullPolicy':
            if (value !== 'new' && value !== 'update' && value !== 'never') return fail(n, `PullPolicy= wants new, update or never, got "${value}"`);
            pullPolicy = value;
            break;
          case 'Stage1':
            stage1 = value;
            break;
          case 'InsecureOptions':
            insecureOptions = value;
            break;
        }
        break;
      }
    }
  }
  // about the [Pod] section if there is one, else the top of the file
  if (apps.length === 0 && opts.besideManifest === undefined) return fail(podLine ?? 1, 'no Image= in [Pod]: a pod needs at least one app');
  return { ok: true, pod: { apps, volumes, nets, ports, mounts, pullPolicy, unit, service, install, ...(stage1 !== undefined ? { stage1 } : {}), ...(insecureOptions !== undefined ? { insecureOptions } : {}) } };
}

/** Lines with systemd's trailing-backslash continuation joined, each with the number of its first line. */
function joinContinuations(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let pending: { line: number; text: string } | undefined;
  text.split('\n').forEach((raw, i) => {
    const l = raw.replace(/\r$/, '');
    const isComment = pending === undefined && /^\s*[#;]/.test(l);
    if (!isComment && l.endsWith('\\')) {
      pending = { line: pending?.line ?? i + 1, text: (pending?.text ?? '') + l.slice(0, -1) + ' ' };
      return;
    }
    out.push({ line: pending?.line ?? i + 1, text: (pending?.text ?? '') + l });
    pending = undefined;
  });
  if (pending !== undefined) out.push(pending);
  return out;
}

function words(value: string): string[] {
  return value.split(/\s+/).filter((w) => w !== '');
}

/**
 * Split a command line as systemd splits `ExecStart=`: words separated by white space, `"…"` and `'…'`
 * quoting, backslash escapes (`\\`, `\"`, `\'`, `\ `, `\n`, `\t`). Returns the words, or why it cannot.
 */
export function splitCommandLine(value: string): string[] | string {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] ?? '';
    if (c === '\\') {
      const next = value[i + 1];
      if (next === undefined) return 'a trailing backslash';
      cur += next === 'n' ? '\n' : next === 't' ? '\t' : next;
      inWord = true;
      i++;
    } else if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote !== undefined) return `an unterminated ${quote} quote`;
  if (inWord) out.push(cur);
  if (out.length === 0) return 'an empty command';
  return out;
}
