/**
 * Registry authentication as data: the `WWW-Authenticate` challenge parsed, the token request URL built, the
 * registry's error body read for its message. Pure.
 */

export interface Challenge {
  readonly scheme: 'bearer' | 'basic' | 'other';
  readonly params: ReadonlyMap<string, string>;
}

/**
 * The first challenge of a `WWW-Authenticate` header: `Bearer realm="https://auth/token",service="reg",scope="…"`
 * or `Basic realm="…"`. Quoted values may hold commas and escaped quotes. Undefined when there is no header.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header);
  if (m === null) return undefined;
  const scheme = (m[1] ?? '').toLowerCase();
  const params = new Map<string, string>();
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/gy;
  const rest = m[2] ?? '';
  for (let p = re.exec(rest); p !== null && p[0] !== ''; p = re.exec(rest)) {
    params.set((p[1] ?? '').toLowerCase(), p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? ''));
  }
  return { scheme: scheme === 'bearer' ? 'bearer' : scheme === 'basic' ? 'basic' : 'other', params };
}

/** The token endpoint URL for a bearer challenge; `scope` defaults to pulling `repository`. Undefined without a realm. */
export function tokenUrl(c: Challenge, repository: string): string | undefined {
  const realm = c.params.get('realm');
  if (realm === undefined || realm === '') return undefined;
  let url: URL;
  try {
    url = new URL(realm);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_INVALID_URL') return undefined;
    throw err;
  }
  const service = c.params.get('service');
  if (service !== undefined) url.searchParams.set('service', service);
  url.searchParams.set('scope', c.params.get('scope') ?? `repository:${repository}:pull`);
  return url.href;
}

/** The token in a token endpoint's JSON answer (`token`, or OAuth's `access_token`), or undefined. */
export function tokenOf(body: string): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const t = o['token'] ?? o['access_token'];
  return typeof t === 'string' && t !== '' ? t : undefined;
}

/**
 * What a registry said in its error body (`{"errors":[{"code":"UNAUTHORIZED","message":"…"}]}`), as
 * `CODE: message; …`, or the body's first line when it is not that JSON; undefined for an empty body.
 */
export function registryMessage(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as unknown;
    const errors = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['errors'] : undefined;
    if (Array.isArray(errors)) {
      const parts = errors.map((e: unknown) => {
        const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
        const code = typeof o['code'] === 'string' ? o['code'] : '';
        const msg = typeof o['message'] === 'string' ? o['message'] : '';
        return [code, msg].filter((s) => s !== '').join(': ');
      }).filter((s) => s !== '');
      if (parts.length > 0) return parts.join('; ');
    }
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
  }
  const line = body.trim().split('\n')[0]?.trim();
  return line === undefined || line === '' ? undefined : line.slice(0, 200);
}
