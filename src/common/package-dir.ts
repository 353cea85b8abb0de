/**
 * rkt's own package directory (where package.json, build/ and src/api/ are), found from a module's directory
 * (`path.dirname(fileURLToPath(import.meta.url))`) by walking up to the package.json named "rkt". The depth differs between tsc's output (dist/<dir>/), the bundle's
 * chunks (dist/bin/chunks/) and the sources tests run (src/<dir>/), and dist/bin/ has a package.json of its own
 * (it only says its files are CommonJS), so the name is what tells.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const found = new Map<string, string | undefined>();

/** The package directory at or above the directory `start`, or undefined when there is none. */
export function packageDir(start: string): string | undefined {
  if (found.has(start)) return found.get(start);
  let result: string | undefined;
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      if ((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'rkt') {
        result = dir;
        break;
      }
    } catch {
      // no package.json here, or not JSON: keep walking
    }
    if (path.dirname(dir) === dir) break;
  }
  found.set(start, result);
  return result;
}
