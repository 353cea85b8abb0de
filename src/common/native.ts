/**
 * rkt's Node-API addon, `build/rkt-native.node` (src/native/native.c, built by hack/build-launcher): the
 * system calls stage0 needs and Node does not have, flock(2) (src/pod/lock.ts) and execve(2) (the fly
 * stage1's launch, src/stage0/fly-launch.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RktError, describe } from './errors.js';
import { packageDir } from './package-dir.js';

export interface NativeAddon {
  /** flock(fd, LOCK_EX or LOCK_SH | LOCK_NB): true when held, false on a conflict; other failures throw (code: errno name). */
  readonly flock: (fd: number, exclusive: boolean) => boolean;
  /**
   * Become `file` (execve(2)) with `argv` and `env` ("NAME=value"), `keepFds` inherited, signals at their
   * defaults and unblocked. Returns only by throwing (code: errno name), everything put back as it was.
   */
  readonly execve: (file: string, argv: readonly string[], env: readonly string[], keepFds: readonly number[]) => never;
}

/**
 * The addon of the package the module in directory `from` belongs to (src/common/package-dir.ts): an EBUILD
 * error naming it and the fix when it cannot be loaded. Loaded with process.dlopen: createRequire would load
 * Node's module machinery for one file.
 */
export function loadNativeAddon(from: string): NativeAddon {
  const pkg = packageDir(from);
  const file = path.join(pkg ?? from, 'build', 'rkt-native.node');
  const m = { exports: {} as NativeAddon };
  try {
    process.dlopen(m, file);
    return m.exports;
  } catch (err) {
    throw new RktError('EBUILD', `cannot load rkt's native addon ${file}: ${existsSync(file) ? describe(err) : 'it is missing'}`, {
      hint: `build it: npm run build in ${pkg ?? "rkt's package directory"}`, cause: err,
    });
  }
}

let addon: NativeAddon | undefined;

/** This package's addon, loaded once, on first use. */
export function nativeAddon(): NativeAddon {
  addon ??= loadNativeAddon(path.dirname(fileURLToPath(import.meta.url)));
  return addon;
}
