/** Sizes in bytes as rkt shows them to people. Pure. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * `bytes` in binary units as rkt (go-humanize) wrote them: one decimal below 10 of a unit, none from 10 up,
 * plain bytes without decimals: 1536 → "1.5 KiB", 20971520 → "20 MiB", 512 → "512 B". `compact` drops the space
 * ("1.5KiB"), as the SIZE column of `rkt image list` has it.
 */
export function formatBytes(bytes: number, opts: { readonly compact?: boolean } = {}): string {
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const number = i === 0 ? String(v) : Math.abs(v) < 10 ? v.toFixed(1) : String(Math.round(v));
  return `${number}${opts.compact === true ? '' : ' '}${UNITS[i]}`;
}
