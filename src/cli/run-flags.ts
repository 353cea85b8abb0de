/**
 * The flags of `rkt run` and `rkt prepare`: one declarative table, read by their parser (run-args.ts), their
 * `--help`, `rkt completion` and the documentation test. A pod flag stands before the first image; an app flag
 * after an image, for that image.
 */
import type { FlagSpec } from './command.js';

/** Pod flags both commands take. */
const POD_FLAGS: readonly FlagSpec[] = [
  { name: 'set-env', kind: 'list', scope: 'pod', describe: 'NAME=VALUE for every app (repeatable)' },
  { name: 'set-env-file', kind: 'list', scope: 'pod', describe: 'file of NAME=VALUE lines for every app (repeatable)' },
  { name: 'inherit-env', kind: 'boolean', scope: 'pod', default: false, describe: "pass rkt's own environment to the apps (lowest precedence)" },
  { name: 'volume', kind: 'list', scope: 'pod', describe: 'NAME,kind=host,source=/abs[,readOnly=true] or NAME,kind=empty[,mode=0755,uid=0,gid=0] (repeatable)' },
  { name: 'mount', kind: 'list', scope: 'pod', describe: 'volume=NAME,target=/path: before the first image for every app, after an image for that app' },
  { name: 'hostname', kind: 'string', scope: 'pod', describe: 'the pod hostname (default rkt-<uuid>)' },
  { name: 'net', kind: 'list', scope: 'pod', describe: 'default (a private network per pod: the default), default-restricted, host (the host network), none (loopback only), all, or net.d network names NAME[:K=V;...] (repeatable; Documentation/networking.md)' },
  { name: 'dns', kind: 'list', scope: 'pod', describe: "name server for the apps' /etc/resolv.conf (repeatable), or host (the host's file), or none (rkt writes none)" },
  { name: 'dns-search', kind: 'list', scope: 'pod', describe: 'DNS search domain (repeatable; with --dns=IP)' },
  { name: 'dns-opt', kind: 'list', scope: 'pod', describe: 'DNS resolver option, e.g. ndots:2 (repeatable; with --dns=IP)' },
  { name: 'dns-domain', kind: 'string', scope: 'pod', describe: 'DNS local domain (with --dns=IP)' },
  { name: 'hosts-entry', kind: 'list', scope: 'pod', describe: "IP=HOSTNAME for the apps' /etc/hosts (repeatable), or host (start from the host's file)" },
  { name: 'port', kind: 'list', scope: 'pod', describe: "NAME:[HOSTIP:]HOSTPORT: forward the image's port NAME from the host (needs a pod network; repeatable)" },
  { name: 'private-users', kind: 'boolean', scope: 'pod', default: false, describe: "run the pod in a user namespace of its own: its root is an unprivileged UID range of the host's" },
  { name: 'mds-register', kind: 'boolean', scope: 'pod', default: false, describe: "register the pod with the metadata service (rkt metadata-service) and give its apps AC_METADATA_URL; the default is false, as in rkt 1.x" },
  { name: 'interactive', kind: 'boolean', scope: 'pod', default: false, describe: 'one app: pass stdin and the terminal through' },
  { name: 'no-overlay', kind: 'boolean', scope: 'pod', default: false, describe: 'copy the image trees instead of overlay-mounting them' },
  { name: 'pull-policy', kind: 'string', scope: 'pod', default: 'new', describe: 'new (use the store if it has the image), update (check the remote), never (store only)' },
  { name: 'uuid-file-save', kind: 'string', scope: 'pod', describe: "write the pod's UUID to this file" },
  { name: 'pod-manifest', kind: 'string', scope: 'pod', describe: 'run this pod manifest (JSON or YAML) instead of images given here' },
  { name: 'stage1-path', kind: 'string', scope: 'pod', describe: 'stage1 image file' },
  { name: 'stage1-url', kind: 'string', scope: 'pod', describe: 'stage1 image URL' },
  { name: 'stage1-name', kind: 'string', scope: 'pod', describe: 'stage1 image name' },
  { name: 'stage1-hash', kind: 'string', scope: 'pod', describe: 'stage1 image ID in the store' },
  { name: 'stage1-from-dir', kind: 'string', scope: 'pod', describe: 'directory holding stage1.aci' },
];

/** Flags only `rkt run` takes: how it places and follows the pod. */
const RUN_ONLY: readonly FlagSpec[] = [
  { name: 'detach', kind: 'boolean', scope: 'pod', default: false, describe: 'with systemd as PID 1: run the pod as the service rkt-<uuid>.service, print its UUID and return at once' },
  { name: 'slice', kind: 'string', scope: 'pod', describe: "with systemd as PID 1, run from a shell: the slice of the pod's scope (default machine.slice)" },
  { name: 'memory', kind: 'string', scope: 'pod', describe: "with systemd as PID 1, run from a shell: the scope's MemoryMax= (e.g. 512M)" },
  { name: 'cpu', kind: 'string', scope: 'pod', describe: "with systemd as PID 1, run from a shell: the scope's CPU quota (500m = half a CPU, 2 = two CPUs)" },
];

/** Flags only `rkt prepare` takes. */
const PREPARE_ONLY: readonly FlagSpec[] = [
  { name: 'quiet', kind: 'boolean', scope: 'pod', default: false, describe: 'print only the UUID: no notes on stderr' },
];

/** App flags: after an image, for that image's app. */
export const APP_FLAGS: readonly FlagSpec[] = [
  { name: 'exec', kind: 'string', scope: 'app', describe: "the app's executable (replaces the image's exec; gives an app to an image without one)" },
  { name: 'name', kind: 'string', scope: 'app', describe: "the app's name (default: the image name's last path element)" },
  { name: 'user', kind: 'string', scope: 'app', describe: 'user to run as: a number, a name in the image, or a path (its owner)' },
  { name: 'group', kind: 'string', scope: 'app', describe: 'group to run as: a number, a name in the image, or a path (its group)' },
  { name: 'working-dir', kind: 'string', scope: 'app', describe: 'working directory inside the app' },
  { name: 'environment', kind: 'list', scope: 'app', describe: 'NAME=VALUE for this app (repeatable)' },
  { name: 'mount', kind: 'list', scope: 'app', describe: 'volume=NAME,target=/path for this app (repeatable)' },
  // Isolation (Documentation/isolation.md): each replaces the image's isolator of the same kind.
  { name: 'caps-retain', kind: 'string', scope: 'app', describe: 'CAP_X,CAP_Y: the capabilities the app keeps (replaces the default set)' },
  { name: 'caps-remove', kind: 'string', scope: 'app', describe: 'CAP_X,CAP_Y: capabilities taken out of the default set' },
  { name: 'seccomp', kind: 'string', scope: 'app', describe: 'mode=retain|remove[,errno=ENAME],SYSCALL|@GROUP,...: the app\'s syscall filter (replaces the default blocklist)' },
  { name: 'no-new-privileges', kind: 'boolean', scope: 'app', describe: 'the app cannot gain privileges (setuid binaries, file capabilities)' },
  { name: 'memory', kind: 'string', scope: 'app', describe: "the app's memory limit (512M, 1Gi)" },
  { name: 'cpu', kind: 'string', scope: 'app', describe: "the app's CPU limit (500m = half a CPU, 2 = two CPUs)" },
  { name: 'cpu-shares', kind: 'string', scope: 'app', describe: "the app's CPU shares (2-262144)" },
  { name: 'oom-score-adj', kind: 'string', scope: 'app', describe: "the app's OOM score adjustment (-1000-1000)" },
  { name: 'readonly-rootfs', kind: 'boolean', scope: 'app', describe: "the app's root filesystem is read-only (its volumes stay writable)" },
];

export const RUN_FLAGS: readonly FlagSpec[] = [...POD_FLAGS, ...RUN_ONLY, ...APP_FLAGS];
export const PREPARE_FLAGS: readonly FlagSpec[] = [...POD_FLAGS, ...PREPARE_ONLY, ...APP_FLAGS];
