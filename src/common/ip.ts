/**
 * IP address syntax, as node:net's isIP judges it (tests/unit/common/ip.test.ts checks the two agree), without
 * loading node:net: that module loads Node's streams, several milliseconds of every `rkt run` that only
 * validates a flag or a manifest's address.
 */

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const ZONE = /^[0-9a-zA-Z.:-]+$/;

/** A dotted quad: four decimal numbers 0–255, no leading zeros. */
export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => DECIMAL_OCTET.test(p) && Number(p) <= 255);
}

/**
 * An IPv6 address: eight hex groups of 1–4 digits, or fewer around one `::` (which stands for at least one
 * group); the last two groups may be a dotted quad; a `%zone` may follow.
 */
export function isIPv6(s: string): boolean {
  const pct = s.indexOf('%');
  const addr = pct < 0 ? s : s.slice(0, pct);
  if (pct >= 0 && !ZONE.test(s.slice(pct + 1))) return false;
  const halves = addr.split('::');
  if (halves.length > 2) return false;
  const groups = halves.flatMap((h) => (h === '' ? [] : h.split(':')));
  if (groups.length === 0 && halves.length === 1) return false;
  let count = groups.length;
  const last = groups[groups.length - 1];
  if (last !== undefined && last.includes('.') && addr.endsWith(last)) {
    if (!isIPv4(last)) return false;
    groups.pop();
    count += 1;
  }
  if (!groups.every((g) => HEX_GROUP.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** 4 for an IPv4 address, 6 for an IPv6 address, 0 for anything else (node:net's isIP). */
export function isIP(s: string): 0 | 4 | 6 {
  if (isIPv4(s)) return 4;
  return isIPv6(s) ? 6 : 0;
}
