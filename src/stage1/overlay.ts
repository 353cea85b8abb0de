/**
 * Overlay mounts of a pod, as both stage1 launches make them (the systemd stage1's through the launcher, the
 * fly stage1's in its run entrypoint). Pure.
 */

/** An overlay mount: its lower dirs (top first), upper and work dirs, and where it goes. */
export interface OverlayMount {
  readonly lower: readonly string[];
  readonly upper: string;
  readonly work: string;
  readonly target: string;
}

/** Escape a path for overlayfs's option string (`,` `:` and `\` are special there). */
export function overlayPath(p: string): string {
  return p.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/:/g, '\\:');
}

/** The overlayfs options of `o` (`metacopy=on` first, for a pod in a user namespace of its own). */
export function overlayOptions(o: OverlayMount, metacopy = false): string {
  return `${metacopy ? 'metacopy=on,' : ''}lowerdir=${o.lower.map(overlayPath).join(':')},upperdir=${overlayPath(o.upper)},workdir=${overlayPath(o.work)}`;
}
