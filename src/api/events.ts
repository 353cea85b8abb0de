/**
 * The event source of ListenEvents: one watcher per service, running only while a client listens. It looks at
 * the pods and the images (state.ts) when inotify says one of their directories changed (fs.watch on
 * `pods/<state>/`, `pods/` and `cas/images/`) and every RESCAN_MS besides: a pod's exit is its lock going
 * away, which no directory event announces, and a directory made after the watch started is only seen then.
 * Each look is compared with the previous one (mapping.ts: podEvents, imageEvents).
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { POD_DIRS, podStateDir, podsDir } from '../pod/layout.js';
import { StoreLayout } from '../store/layout.js';
import { imageEvents, podEvents, type PodSnapshot, type V1Event } from './mapping.js';
import { imageSnapshots, podSnapshots, type Warn } from './state.js';

/** How often the watcher looks again without being told (a pod's exit has no directory event). */
const RESCAN_MS = 500;

export type Listener = (events: readonly V1Event[]) => void;

export class EventWatcher {
  private readonly listeners = new Set<Listener>();
  private pods: Map<string, PodSnapshot> | undefined;
  private images: Map<string, string> | undefined;
  private watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private starting: Promise<void> | undefined;
  /** Counts stops, so that a first look finishing after a stop does not start the watcher again. */
  private generation = 0;

  constructor(private readonly dataDir: string, private readonly warn: Warn) {}

  /**
   * Start delivering the events that happen from now on to `l` (the first listener starts the watcher, after
   * one look that defines "now"). Returns the function that stops them.
   */
  async subscribe(l: Listener): Promise<() => void> {
    if (this.pods === undefined) {
      // The first look defines "now"; listeners subscribing while it is taken share it.
      this.starting ??= (async () => {
        const generation = this.generation;
        const pods = await podSnapshots(this.dataDir);
        const images = await imageSnapshots(this.dataDir);
        if (generation !== this.generation) return; // stopped meanwhile
        this.pods = pods;
        this.images = images;
        this.watchDirs();
        this.timer = setInterval(() => { void this.kick(); }, RESCAN_MS);
      })().finally(() => { this.starting = undefined; });
      await this.starting;
    } else {
      // A new listener sees only what happens after it subscribed: bring the last look up to date first.
      await this.kick();
    }
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Stop watching (the last listener left, or the service is closing). */
  stop(): void {
    this.generation++;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.pods = undefined;
    this.images = undefined;
  }

  /** The directories whose changes mean a look is due; those that do not exist yet are tried on each look. */
  private watchDirs(): void {
    const dirs = [podsDir(this.dataDir), ...POD_DIRS.map((d) => podStateDir(this.dataDir, d)), new StoreLayout(this.dataDir).images, path.dirname(new StoreLayout(this.dataDir).images)];
    for (const d of dirs) {
      if (this.watchers.has(d)) continue;
      try {
        const w = watch(d, { persistent: false }, () => { void this.kick(); });
        w.on('error', () => { w.close(); this.watchers.delete(d); });
        this.watchers.set(d, w);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.warn(`events: cannot watch ${d}: ${(err as Error).message}`);
      }
    }
  }

  /** Look now (or right after the look in progress), and deliver what changed. */
  private kick(): Promise<void> {
    if (this.scanning !== undefined) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.again = false;
        await this.look();
      } while (this.again && this.pods !== undefined);
    })().finally(() => { this.scanning = undefined; });
    return this.scanning;
  }

  private async look(): Promise<void> {
    if (this.pods === undefined || this.images === undefined) return;
    let pods: Map<string, PodSnapshot>;
    let images: Map<string, string>;
    try {
      pods = await podSnapshots(this.dataDir);
      images = await imageSnapshots(this.dataDir);
    } catch (err) {
      this.warn(`events: cannot read the pods or images: ${(err as Error).message}`);
      return;
    }
    if (this.pods === undefined || this.images === undefined) return; // stopped meanwhile
    const now = new Date();
    const events = [...podEvents(this.pods, pods, now), ...imageEvents(this.images, images, now)];
    this.pods = pods;
    this.images = images;
    this.watchDirs();
    if (events.length === 0) return;
    for (const l of this.listeners) l(events);
  }
}
