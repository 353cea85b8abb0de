/** What a fetch is asked to do and how it reports back: the types every fetch module shares. */
import type { GlobalOptions } from '../common/options.js';
import type { ImageRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { PullPolicy } from './pull-policy.js';

export interface FetchOptions {
  readonly store: Store;
  readonly globals: GlobalOptions;
  readonly pullPolicy: PullPolicy;
  /** Progress and notes for the user (drawn on stderr by the CLI). */
  readonly note?: (msg: string) => void;
  /**
   * Download progress, for a reporter that draws it on a terminal: called at most every PROGRESS_INTERVAL_MS
   * while an image downloads, and once when it is complete. Without it, progress goes to `note` as a line per
   * PROGRESS_INTERVAL_MS.
   */
  readonly progress?: (p: DownloadProgress) => void;
  /** Names of the images whose dependencies are being fetched, outermost first (cycle and depth checks). */
  readonly chain?: readonly string[];
}

/** How far an image download has got. */
export interface DownloadProgress {
  readonly url: string;
  /** Bytes of the image on disk so far (a resumed download starts above 0). */
  readonly received: number;
  /** The image's size in bytes, when the server said. */
  readonly total: number | undefined;
  readonly done: boolean;
}

/** Fetches one image as `arg` names it: how an import gets the image's dependencies. */
export type FetchOne = (opts: FetchOptions, arg: string) => Promise<ImageRecord>;

/** How deep dependencies may nest. */
export const MAX_DEPENDENCY_DEPTH = 10;
/** The shortest time between two progress reports of one download. */
export const PROGRESS_INTERVAL_MS = 1000;
