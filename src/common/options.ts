import { UsageError } from './errors.js';

/** What `--insecure-options` can switch off, as rkt names them. */
export const INSECURE_OPTIONS = [
  'none', 'image', 'tls', 'ondisk', 'http', 'pubkey', 'capabilities', 'paths', 'seccomp', 'all-fetch', 'all-run', 'all',
] as const;
export type InsecureOption = (typeof INSECURE_OPTIONS)[number];
/** The individual checks, after the group names are expanded. */
export type InsecureCheck = 'image' | 'tls' | 'ondisk' | 'http' | 'pubkey' | 'capabilities' | 'paths' | 'seccomp';

const GROUPS: Readonly<Record<string, readonly InsecureCheck[]>> = {
  none: [],
  'all-fetch': ['image', 'tls', 'http'],
  'all-run': ['ondisk', 'capabilities', 'paths', 'seccomp'],
  all: ['image', 'tls', 'ondisk', 'http', 'pubkey', 'capabilities', 'paths', 'seccomp'],
};

/**
 * Parse `--insecure-options` values (each a comma list; may be given several times) into the set of checks
 * to skip. An unknown name is a usage error naming it and the valid ones.
 */
export function parseInsecureOptions(values: readonly string[]): ReadonlySet<InsecureCheck> {
  const out = new Set<InsecureCheck>();
  for (const value of values) {
    for (const raw of value.split(',')) {
      const name = raw.trim().toLowerCase();
      if (name === '') continue;
      if (!(INSECURE_OPTIONS as readonly string[]).includes(name)) {
        throw new UsageError(`bad --insecure-options value "${raw}": valid values are ${INSECURE_OPTIONS.join(', ')}`);
      }
      const group = GROUPS[name];
      if (group !== undefined) group.forEach((c) => out.add(c));
      else out.add(name as InsecureCheck);
    }
  }
  return out;
}

/** Flags every command accepts (before or after the command name). */
export interface GlobalOptions {
  readonly dir: string;
  readonly systemConfig: string;
  readonly localConfig: string;
  readonly userConfig: string | undefined;
  readonly insecure: ReadonlySet<InsecureCheck>;
  readonly trustKeysFromHttps: boolean;
  readonly debug: boolean;
}

/**
 * Parse a Go-style duration as rkt's flags take it: `30m`, `24h`, `1h30m`, `0s`, `500ms`, `1.5h`. Returns
 * milliseconds; a bad value is a usage error naming the flag.
 */
export function parseDuration(flag: string, value: string): number {
  const units: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const s = value.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * (units[m[2] ?? ''] ?? 0);
    pos = re.lastIndex;
  }
  if (s === '' || pos !== s.length) {
    throw new UsageError(`bad ${flag} value "${value}": want a duration such as 30s, 10m or 24h`);
  }
  return Math.round(total);
}
