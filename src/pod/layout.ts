/**
 * Where pods live and what is in a pod directory: constants and pure path functions only (no fs access).
 * See README.md for the state machine these directories encode.
 */
import path from 'node:path';

/** The directories under `<dataDir>/pods/`, in lifecycle order: a pod only ever moves forward in this list. */
export const POD_DIRS = ['embryo', 'prepare', 'prepared', 'run', 'exited-garbage', 'garbage'] as const;

/** The directory a pod is in. */
export type PodDirState = (typeof POD_DIRS)[number];

/** A pod's state: its directory plus whether its lock is held. */
export type PodState =
  | 'embryo'
  | 'preparing'
  | 'aborted-prepare'
  | 'prepared'
  | 'running'
  | 'exited'
  | 'exited-garbage'
  | 'garbage';

/** The pod manifest (JSON, schema `PodManifest`), written by stage0 while preparing. */
export const POD_MANIFEST = 'pod';
/**
 * What `rkt list` shows of the pod that does not change once it is prepared (JSON: `created`, and each app's
 * `name`, `image` name and Image `id`), written beside the pod manifest: a listing reads it instead of `created`
 * and the whole manifest. A pod prepared by an rkt before 2026-12 has none.
 */
export const LISTING_FILE = 'list.json';
/** RFC 3339 timestamps, one line each: pod directory created, stage1 started, pod seen exited. */
export const CREATED_FILE = 'created';
export const STARTED_FILE = 'started';
export const EXITED_FILE = 'exited';
/** The names `writeTimestamp`/`readTimestamp` accept. */
export type TimestampName = typeof CREATED_FILE | typeof STARTED_FILE | typeof EXITED_FILE;
/** The pod's PID 1 as seen from the host, one decimal integer. */
export const PID_FILE = 'pid';
/** The pod's UUID, one line: a pod directory identifies itself even when found by path alone. */
export const UUID_FILE = 'uuid';
/** The stage1 tree: `stage1/rootfs/…`, with each app's root at `stage1/rootfs/opt/stage2/<app>/rootfs`. */
export const STAGE1_DIR = 'stage1';
/** `status/<app>`: each app's exit status, one decimal integer, written when the app exits. */
export const STATUS_DIR = 'status';
/** `overlay/<app>/{upper,work}`: the writable layer of each app's overlay root. */
export const OVERLAY_DIR = 'overlay';

/** `<dataDir>/pods`. */
export function podsDir(dataDir: string): string {
  return path.join(dataDir, 'pods');
}

/** `<dataDir>/pods/<dirState>`. */
export function podStateDir(dataDir: string, dirState: PodDirState): string {
  return path.join(podsDir(dataDir), dirState);
}

/** `<dataDir>/pods/<dirState>/<uuid>`. */
export function podDir(dataDir: string, dirState: PodDirState, uuid: string): string {
  return path.join(podStateDir(dataDir, dirState), uuid);
}

/** The stage1 tree's root filesystem. */
export function stage1Rootfs(pod: string): string {
  return path.join(pod, STAGE1_DIR, 'rootfs');
}

/** Where an app's root filesystem is mounted inside the stage1 tree. */
export function appRootfs(pod: string, app: string): string {
  return path.join(stage1Rootfs(pod), 'opt', 'stage2', app, 'rootfs');
}

/** The file holding an app's exit status. */
export function appStatusFile(pod: string, app: string): string {
  return path.join(pod, STATUS_DIR, app);
}

/** The upper (writable) directory of an app's overlay. */
export function overlayUpperDir(pod: string, app: string): string {
  return path.join(pod, OVERLAY_DIR, app, 'upper');
}

/** The overlay work directory of an app (same filesystem as its upper directory, as overlayfs requires). */
export function overlayWorkDir(pod: string, app: string): string {
  return path.join(pod, OVERLAY_DIR, app, 'work');
}

/** The state of a pod in `dirState` whose lock is (or is not) held. */
export function stateOf(dirState: PodDirState, locked: boolean): PodState {
  switch (dirState) {
    case 'embryo':
      return 'embryo';
    case 'prepare':
      return locked ? 'preparing' : 'aborted-prepare';
    case 'prepared':
      return 'prepared';
    case 'run':
      return locked ? 'running' : 'exited';
    case 'exited-garbage':
      return 'exited-garbage';
    case 'garbage':
      return 'garbage';
  }
}

/** The directory a pod in `state` is in. */
export function dirStateOf(state: PodState): PodDirState {
  switch (state) {
    case 'embryo':
      return 'embryo';
    case 'preparing':
    case 'aborted-prepare':
      return 'prepare';
    case 'prepared':
      return 'prepared';
    case 'running':
    case 'exited':
      return 'run';
    case 'exited-garbage':
      return 'exited-garbage';
    case 'garbage':
      return 'garbage';
  }
}
