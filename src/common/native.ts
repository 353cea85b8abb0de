/**
 * rkt's Node-API addon, `build/rkt-native.node` (src/native/native.c, built by hack/build-launcher): the
 * system calls stage0 needs and Node does not have: flock(2) (src/pod/lock.ts), execve(2) (the fly stage1's
 * launch, src/stage0/fly-launch.ts), and posix_spawn(3) with waitpid(2) (the systemd stage1's launcher,
 * src/stage0/run.ts).
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
  /** A pipe: [read end, write end], both close-on-exec. */
  readonly pipe: () => [number, number];
  /**
   * Start `file` (posix_spawn: no fork of Node's memory, no node:child_process) with `argv` and our environment in
   * `cwd`; its descriptor i is our `fds[i]` (-1: /dev/null), it has no other. Returns its pid; throws (code: errno
   * name) if it cannot be started.
   */
  readonly spawn: (file: string, argv: readonly string[], fds: readonly number[], cwd: string) => number;
  /**
   * Once the child `pid` has ended, and (relayFd >= 0) relayFd has reached end of file or relayWaitMs have passed
   * since: its exit status, or the number of the signal that killed it.
   */
  readonly waitExit: (pid: number, relayFd: number, relayWaitMs: number) => Promise<{ code: number | null; signal: number | null }>;
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
