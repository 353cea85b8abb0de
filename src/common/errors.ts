/**
 * Typed errors. Every failure rkt reports on purpose is an RktError with a stable code, one message written
 * where the context is richest, an optional hint (what to do) and an optional cause. Anything else that
 * reaches the entry point is a bug and is printed with its stack.
 */

/** Exit statuses users and scripts rely on. */
export const ExitCode = {
  ok: 0,
  /** `rkt stop`, `rkt rm`, `rkt image rm`, `rkt image verify`: some of several operands failed (or were tampered). */
  partial: 1,
  usage: 2,
  /** Any failure of rkt itself. */
  failure: 254,
} as const;

/**
 * Every code an RktError may carry, with the exit status rkt ends with when it reaches the entry point and what
 * it means. Codes are stable (scripts and tests match them) and never a Node errno name (isErrno tells those
 * apart). A new kind of failure gets its row here.
 */
export const ERROR_CODES = {
  EACIBUILD: { exit: ExitCode.failure, meaning: 'an image cannot be built from a directory (hack/aci build)' },
  EACIFORMAT: { exit: ExitCode.failure, meaning: 'a file is not an ACI: not a tar, or not a compression rkt reads' },
  EACILAYOUT: { exit: ExitCode.failure, meaning: "an ACI's entries are not laid out as the spec says (manifest, rootfs/, paths)" },
  EACIREAD: { exit: ExitCode.failure, meaning: 'an image file cannot be read' },
  EAMBIGUOUS: { exit: ExitCode.failure, meaning: 'a prefix of a pod UUID or an Image ID matches more than one' },
  EAPILISTEN: { exit: 1, meaning: 'rkt api-service cannot listen where asked (address in use, not an address of this machine)' },
  EAPP: { exit: ExitCode.failure, meaning: "a pod's app cannot be set up as asked (name, exec, user, group, environment)" },
  EBUILD: { exit: ExitCode.failure, meaning: "a part of rkt's own build is missing (npm run build makes it)" },
  ECHANGED: { exit: ExitCode.failure, meaning: 'a file changed while it was being read' },
  ECNI: { exit: ExitCode.failure, meaning: 'a CNI plugin reported an error' },
  ECNIPLUGIN: { exit: ExitCode.failure, meaning: 'a CNI plugin a network needs is not installed' },
  ECONFIG: { exit: ExitCode.failure, meaning: 'a configuration file (paths.d, stage1.d, auth.d) is invalid' },
  ECOPY: { exit: ExitCode.failure, meaning: 'a directory tree cannot be copied' },
  ECORRUPT: { exit: ExitCode.failure, meaning: 'a stored image no longer matches its Image ID' },
  EDBUS: { exit: ExitCode.failure, meaning: 'a D-Bus call to systemd or machined failed' },
  EDECOMPRESS: { exit: ExitCode.failure, meaning: "an image's compressed stream is damaged" },
  EDEPENDENCY: { exit: ExitCode.failure, meaning: "an image's dependencies nest too deep, form a cycle, or are not the images the manifest names" },
  EDETACH: { exit: ExitCode.failure, meaning: "rkt run --detach cannot start the pod's service" },
  EDISCOVERY: { exit: ExitCode.failure, meaning: 'appc discovery found no image or key URL for a name' },
  EENTER: { exit: ExitCode.failure, meaning: 'rkt enter cannot enter the pod' },
  EEXPORT: { exit: ExitCode.failure, meaning: 'an image or a pod cannot be exported' },
  EEXTRACT: { exit: ExitCode.failure, meaning: 'an image cannot be extracted into a tree' },
  EFETCH: { exit: ExitCode.failure, meaning: 'an image or its signature cannot be fetched (unsupported source, HTTP status, short body)' },
  EFLY: { exit: ExitCode.failure, meaning: 'a pod asks for what the fly stage1 cannot give (several apps, a network of its own, an isolator it cannot apply)' },
  EHTTP: { exit: ExitCode.failure, meaning: 'an http(s) request failed (connection, TLS, refused redirect, timeout, size)' },
  EIMAGEINUSE: { exit: ExitCode.failure, meaning: 'an image cannot be removed: a pod uses it' },
  EISOLATOR: { exit: ExitCode.failure, meaning: "an app's isolators cannot be applied" },
  EKEY: { exit: ExitCode.failure, meaning: 'a public key cannot be fetched, read or parsed' },
  EKEYSTORE: { exit: ExitCode.failure, meaning: 'the trust store cannot be read or written' },
  ELAUNCH: { exit: ExitCode.failure, meaning: "the pod's stage1 cannot be started" },
  ELOCK: { exit: ExitCode.failure, meaning: 'a lock cannot be taken (flock failed)' },
  EMANIFEST: { exit: ExitCode.failure, meaning: 'an image manifest is invalid' },
  EMDS: { exit: ExitCode.failure, meaning: 'the metadata service cannot be reached, refused a registration, or cannot listen' },
  EMISMATCH: { exit: ExitCode.failure, meaning: 'a fetched image is not the one asked for (name, labels)' },
  ENAME: { exit: ExitCode.failure, meaning: 'an image name, reference or Image ID is malformed' },
  ENETCONF: { exit: ExitCode.failure, meaning: 'a network configuration (net.d) is invalid' },
  ENETINFO: { exit: ExitCode.failure, meaning: "a pod's net-info.json is invalid" },
  ENETNS: { exit: ExitCode.failure, meaning: "the pod's network namespace cannot be made or removed" },
  ENETUNKNOWN: { exit: ExitCode.failure, meaning: 'a network named by --net is not configured' },
  ENOFILE: { exit: ExitCode.failure, meaning: 'a file given to rkt does not exist' },
  ENOFLOCK: { exit: ExitCode.failure, meaning: 'flock(1) is not installed' },
  ENOIMAGE: { exit: ExitCode.failure, meaning: 'no such image in the store, or none fetched under the pull policy' },
  ENOPOD: { exit: ExitCode.failure, meaning: 'no such pod' },
  ENOSYSTEMD: { exit: ExitCode.failure, meaning: 'the operation needs systemd as PID 1, and it is not' },
  ENOTROOT: { exit: ExitCode.failure, meaning: 'the command needs root' },
  EOCI: { exit: ExitCode.failure, meaning: 'an OCI/Docker reference, manifest, index, config or layer is malformed or unsupported' },
  EOCIDIFFID: { exit: ExitCode.failure, meaning: "an OCI layer's uncompressed content does not match the diff_id its image config names" },
  EOCIDIGEST: { exit: ExitCode.failure, meaning: 'an OCI blob or manifest does not match its digest' },
  EOVERWRITE: { exit: ExitCode.failure, meaning: 'an output file exists and --overwrite was not given' },
  EPODBUSY: { exit: ExitCode.failure, meaning: "a pod's directory still has mounts and cannot be removed" },
  EPODCORRUPT: { exit: ExitCode.failure, meaning: "a pod's files on disk are damaged" },
  EPODDIR: { exit: ExitCode.failure, meaning: 'a pod directory cannot be made, or is not a directory' },
  EPODFILE: { exit: ExitCode.failure, meaning: 'a declared pod (pods.d/NAME.pod, NAME.pod.yaml, NAME.pod.json) is invalid: the message names its file and line or field' },
  EPODLOCKED: { exit: ExitCode.failure, meaning: 'a pod is locked by another process' },
  EPODMANIFEST: { exit: ExitCode.failure, meaning: 'a pod manifest is invalid' },
  EPODMOVE: { exit: ExitCode.failure, meaning: 'a pod cannot move to another state (its rename failed)' },
  EPODREAD: { exit: ExitCode.failure, meaning: "a pod's files cannot be read" },
  EPODRM: { exit: ExitCode.failure, meaning: "a pod's directory cannot be removed" },
  EPODSTATE: { exit: ExitCode.failure, meaning: 'a pod is not in a state the operation allows' },
  EPORTINUSE: { exit: ExitCode.failure, meaning: 'a host port is already forwarded to another pod' },
  EPREFIX: { exit: ExitCode.failure, meaning: 'a trust prefix is malformed' },
  EPRIVATEUSERS: { exit: ExitCode.failure, meaning: "no UID/GID range is free for a pod's own user namespace (--private-users)" },
  EREADFILE: { exit: ExitCode.failure, meaning: 'a file named by a flag cannot be read' },
  EREFUSED: { exit: ExitCode.failure, meaning: 'the user declined to trust a key' },
  EREGISTRY: { exit: ExitCode.failure, meaning: 'a Docker/OCI registry refused a request (auth, unknown tag, HTTP status)' },
  EREVIEW: { exit: ExitCode.failure, meaning: 'a key cannot be reviewed: stdin is not a terminal' },
  ESIGNATURE: { exit: ExitCode.failure, meaning: "an image's signature is missing, or does not verify with a trusted key" },
  ESTAGE1: { exit: ExitCode.failure, meaning: 'the stage1 image is unusable, or failed before any app started' },
  ESTOP: { exit: ExitCode.failure, meaning: 'a pod cannot be stopped' },
  ESTORE: { exit: ExitCode.failure, meaning: 'the image store cannot be read or written' },
  ESYMLINKLOOP: { exit: ExitCode.failure, meaning: 'too many levels of symbolic links resolving a path in an image' },
  ETARFORMAT: { exit: ExitCode.failure, meaning: 'a tar archive is malformed' },
  ETIMEOUT: { exit: ExitCode.failure, meaning: 'a wait ran out of time' },
  EUNSUPPORTED: { exit: ExitCode.failure, meaning: "this machine's os/arch is not one appc knows" },
  EUSAGE: { exit: ExitCode.usage, meaning: 'the command line cannot be acted on: bad flag, bad value, missing operand' },
  EUUIDFILE: { exit: ExitCode.failure, meaning: 'a --uuid-file cannot be read, or does not hold one UUID' },
  EVOLUME: { exit: ExitCode.failure, meaning: 'a volume or mount cannot be set up (unknown name, missing or unusable host source)' },
} as const satisfies Readonly<Record<string, { readonly exit: 1 | 2 | 254; readonly meaning: string }>>;

/** A code of ERROR_CODES. */
export type ErrorCode = keyof typeof ERROR_CODES;

export interface RktErrorOptions {
  readonly hint?: string;
  readonly cause?: unknown;
  /** The exit status, when it is not the code's own (ERROR_CODES). */
  readonly exitCode?: number;
}

export class RktError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: RktErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RktError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ERROR_CODES[code].exit;
  }
}

/** A command line that cannot be acted on: bad flag, bad value, missing operand. Exit status 2. */
export class UsageError extends RktError {
  constructor(message: string, options: Omit<RktErrorOptions, 'exitCode'> = {}) {
    super('EUSAGE', message, options);
    this.name = 'UsageError';
  }
}

/** True for a Node system error (ENOENT, EEXIST, …) with the given code; never for an RktError. */
export function isErrno(err: unknown, code: string): err is NodeJS.ErrnoException {
  return err instanceof Error && !(err instanceof RktError) && (err as NodeJS.ErrnoException).code === code;
}

/**
 * The lines to print for an error at the entry point: `rkt: message` (+ hint), and with `debug` the cause
 * chain. A non-RktError is a bug: its stack is always printed.
 */
export function formatError(err: unknown, debug: boolean): string[] {
  if (!(err instanceof RktError)) {
    const stack = err instanceof Error ? (err.stack ?? String(err)) : String(err);
    return [`rkt: internal error (this is a bug): ${stack}`];
  }
  const lines = [`rkt: ${err.message}`];
  if (err.hint !== undefined) lines.push(`rkt: ${err.hint}`);
  if (debug) {
    let cause: unknown = err.cause;
    while (cause !== undefined && cause !== null) {
      if (cause instanceof Error) {
        lines.push(`  caused by: ${cause instanceof RktError ? cause.message : (cause.stack ?? cause.message)}`);
        cause = cause.cause;
      } else {
        lines.push(`  caused by: ${String(cause)}`);
        break;
      }
    }
  }
  return lines;
}

/** The message of a non-rkt cause (errno text and friends), for use inside an RktError's own message. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== undefined && e.syscall !== undefined) return `${e.code}: ${e.message.replace(/^\w+: /, '')}`;
    return err.message;
  }
  return String(err);
}
