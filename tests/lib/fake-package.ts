import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A throwaway rkt package directory (a package.json named "rkt", as src/common/package-dir.ts looks for) with a
 * module directory in it where the bundle's chunks would be, removed when the test ends.
 */
export function fakePackage(t: { teardown: (f: () => void) => void }): { pkg: string; module: string } {
  const pkg = mkdtempSync(path.join(os.tmpdir(), 'rkt-pkg-'));
  t.teardown(() => rmSync(pkg, { recursive: true, force: true }));
  writeFileSync(path.join(pkg, 'package.json'), '{"name": "rkt"}\n');
  const module = path.join(pkg, 'dist', 'bin', 'chunks');
  mkdirSync(module, { recursive: true });
  return { pkg, module };
}
