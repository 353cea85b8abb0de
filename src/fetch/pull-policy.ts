/**
 * Pull policies (`--pull-policy=new|update|never`): what the store may answer for an image argument and when a
 * URL's earlier download may be reused without asking the server. Pure: no store, no clock of its own.
 */

/** `new`: fetch only what the store lacks; `update`: ask the remote again; `never`: the store only. */
export type PullPolicy = 'new' | 'update' | 'never';

/** The kinds of image argument (see source.ts `classifySource`). */
export type SourceKind = 'file' | 'url' | 'id' | 'name';

/**
 * How an argument of `kind` is answered under `policy`:
 * - `store-only`: from the store (for a URL, its cache record), else the image is missing;
 * - `store-first`: from the store when it has the image, else fetched;
 * - `fetch`: fetched (a URL's cache record may still spare the download: see `reuseDownload`);
 * - `refuse`: not at all (a file is never imported under `never`).
 */
export function storePlan(kind: SourceKind, policy: PullPolicy): 'store-only' | 'store-first' | 'fetch' | 'refuse' {
  switch (kind) {
    case 'id': return 'store-only';
    case 'file': return policy === 'never' ? 'refuse' : 'fetch';
    case 'url':
    case 'name': return policy === 'never' ? 'store-only' : policy === 'new' ? 'store-first' : 'fetch';
  }
}

/**
 * Whether the image downloaded from a URL at `downloadTime` (ISO 8601) may be used without asking the server:
 * always under `new`, otherwise while it is younger than the server's `maxAge` (seconds) at `now` (ms).
 */
export function reuseDownload(policy: PullPolicy, downloadTime: string, maxAge: number | undefined, now: number): boolean {
  if (policy !== 'update') return true;
  if (maxAge === undefined) return false;
  const age = (now - Date.parse(downloadTime)) / 1000;
  return age < maxAge;
}
