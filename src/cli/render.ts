/** Text rendering shared by the commands: tables, human sizes and times. Pure functions. */
import { formatBytes } from '../common/bytes.js';

/** Columns left-aligned, separated by tabs-as-spaces as rkt's tabwriter did; `legend` false drops the header. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], legend = true): string {
  const all = legend ? [header, ...rows] : rows;
  if (all.length === 0) return '';
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('\t').trimEnd()).join('\n') + '\n';
}

/** 1536 → "1.5KiB", as rkt printed sizes. */
export const humanSize = (bytes: number): string => formatBytes(bytes, { compact: true });

const AGO_STEPS: readonly (readonly [number, string])[] = [[60, 'second'], [60, 'minute'], [24, 'hour'], [30, 'day'], [12, 'month'], [Infinity, 'year']];

/** How long ago `when` (a time, or its RFC 3339 text) was, relative to `now`: "5 seconds ago", "3 hours ago". */
export function humanAgo(when: string | Date, now: number = Date.now()): string {
  const s = Math.max(0, Math.round((now - (typeof when === 'string' ? Date.parse(when) : when.getTime())) / 1000));
  let v = s;
  for (const [n, unit] of AGO_STEPS) {
    if (v < n) return `${v} ${unit}${v === 1 ? '' : 's'} ago`;
    v = Math.floor(v / n);
  }
  return typeof when === 'string' ? when : when.toISOString();
}
