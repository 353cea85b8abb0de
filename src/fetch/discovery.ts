/**
 * appc meta discovery (App Container spec 0.8.11, "App Container Image Discovery"): from an image name and its
 * labels to the URLs of the image, its signature and the keys that sign it. `https://{name}?ac-discovery=1` is
 * fetched and its `<meta name="ac-discovery" content="PREFIX TEMPLATE">` and `<meta name="ac-discovery-pubkeys"
 * content="PREFIX URL">` tags read; a page without a usable template sends the search up the name's path.
 * Parsing and rendering are pure; `discover` and `discoverPubkeys` do the HTTP through ./http.js.
 */
import { RktError } from '../common/errors.js';
import { defaultOsArch } from '../image/labels.js';
import { isAcIdentifier } from '../image/names.js';
import { httpGetText } from './http.js';

export interface DiscoveryEndpoints {
  /** Image and signature URLs, best first (https before http). */
  readonly aci: readonly { readonly aci: string; readonly asc: string }[];
  /** Public key URLs whose prefix matches the name, in the order met. */
  readonly keys: readonly string[];
}

export interface DiscoveryOptions {
  /** Also try `http://` when `https://` fails, and accept http templates (`--insecure-options=http`). */
  readonly insecureHttp?: boolean;
  /** Skip certificate checks (`--insecure-options=tls`). */
  readonly insecureTls?: boolean;
  /** Told each step, for `--debug` style output. */
  readonly trace?: (msg: string) => void;
}

/** The version label assumed when the user gives none. */
export const DEFAULT_VERSION = 'latest';
/** The `{ext}` values of the image and of its signature. */
const EXT_ACI = 'aci';
const EXT_ASC = 'aci.asc';
/** Discovery pages are small; a larger answer is not one. */
const MAX_PAGE_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------------------------
// Reading meta tags

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** `s` with HTML character references (`&amp;`, `&#38;`, `&#x26;`) decoded; unknown ones are kept as written. */
function decodeEntities(s: string): string {
  return s.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return Object.hasOwn(ENTITIES, ref.toLowerCase()) ? (ENTITIES[ref.toLowerCase()] ?? whole) : whole;
  });
}

/** The next comment opening or start tag (`<` and a letter); any other `<` is text. */
const TOKEN = /<!--|<([a-zA-Z][^\t\n\f\r />]*)/g;
/**
 * One step inside a start tag, from where the last ended: the closing `>` (group 1), the end of the document
 * (nothing captured), or an attribute name (2) with an optional value: double-quoted (3; group 4 is empty when
 * the closing quote is missing), single-quoted (5, 6) or bare (7). Every alternative is a forward scan without
 * backtracking, so a hostile page costs time linear in its size.
 */
const ATTRIBUTE = /[\t\n\f\r /]*(?:(>)|$|([^\t\n\f\r />][^\t\n\f\r />=]*)[\t\n\f\r ]*(?:=[\t\n\f\r ]*(?:"([^"]*)("?)|'([^']*)('?)|([^\t\n\f\r >]*)))?)/y;

/**
 * The attributes of every `<meta>` tag in `html`, names lowercased, first occurrence of a name kept, values
 * decoded. Comments and the contents of `<script>` and `<style>` are skipped; an unterminated comment, tag or
 * quote ends the document.
 */
// Regular expressions rather than a hand-written loop over characters: on Node 20 (V8 11.3) such a loop, once
// hot and compiled by TurboFan, never ended on a page of a million `<` (it did end with --no-opt). The unit test
// of hostile pages runs each several times to catch a relapse.
function metaTags(html: string): Map<string, string>[] {
  const tags: Map<string, string>[] = [];
  const token = new RegExp(TOKEN);
  const attribute = new RegExp(ATTRIBUTE);
  for (let m = token.exec(html); m !== null; m = token.exec(html)) {
    const tagName = m[1]?.toLowerCase();
    if (tagName === undefined) {
      const end = html.indexOf('-->', token.lastIndex);
      if (end === -1) return tags;
      token.lastIndex = end + 3;
      continue;
    }
    const attrs = new Map<string, string>();
    attribute.lastIndex = token.lastIndex;
    for (;;) {
      const a = attribute.exec(html);
      if (a === null) return tags;
      if (a[1] !== undefined) break;
      const name = a[2]?.toLowerCase();
      if (name === undefined || a[4] === '' || a[6] === '') return tags;
      if (!attrs.has(name)) attrs.set(name, decodeEntities(a[3] ?? a[5] ?? a[7] ?? ''));
    }
    token.lastIndex = attribute.lastIndex;
    if (tagName === 'meta') tags.push(attrs);
    if (tagName === 'script' || tagName === 'style') {
      const close = new RegExp(`</${tagName}`, 'gi');
      close.lastIndex = token.lastIndex;
      const found = close.exec(html);
      if (found === null) return tags;
      token.lastIndex = found.index;
    }
  }
  return tags;
}

/** True if `prefix` names `name` or one of its parents: `example.com/app` matches `example.com/app/x`, not `example.com/apple`. */
export function prefixMatches(prefix: string, name: string): boolean {
  if (prefix === '') return false;
  if (name === prefix) return true;
  return name.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

/**
 * The `ac-discovery` templates and `ac-discovery-pubkeys` URLs of a discovery page whose prefix matches `name`,
 * in page order. Tag and attribute names are case-insensitive, values may be quoted either way or not at all, and
 * entities in them are decoded; a `content` that is not exactly two space-separated fields is ignored, as is
 * everything that is not such a meta tag.
 */
export function parseDiscoveryMeta(
  html: string,
  name: string,
): { templates: { prefix: string; template: string }[]; pubkeys: { prefix: string; url: string }[] } {
  const templates: { prefix: string; template: string }[] = [];
  const pubkeys: { prefix: string; url: string }[] = [];
  for (const attrs of metaTags(html)) {
    const kind = attrs.get('name')?.trim().toLowerCase();
    if (kind !== 'ac-discovery' && kind !== 'ac-discovery-pubkeys') continue;
    const fields = (attrs.get('content') ?? '').trim().split(/\s+/);
    const [prefix, value] = fields;
    if (fields.length !== 2 || prefix === undefined || value === undefined) continue;
    if (!prefixMatches(prefix, name)) continue;
    if (kind === 'ac-discovery') templates.push({ prefix, template: value });
    else pubkeys.push({ prefix, url: value });
  }
  return { templates, pubkeys };
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering templates

/** A label value made safe for a URL path: RFC 3986 path characters stay, the rest (and `/` unless allowed) is %-escaped. */
function escapeValue(value: string, allowSlash: boolean): string {
  return Array.from(new TextEncoder().encode(value), (byte) => {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~!$&'()*+,;=:@]/.test(c) || (allowSlash && c === '/')) return c;
    return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

/**
 * Render a template and count the labels it used (other than `name` and `ext`); undefined if a `{placeholder}`
 * has no label. Substitution is one pass: a value that contains `{x}` is not substituted again.
 */
function render(template: string, labels: ReadonlyMap<string, string>): { url: string; used: number } | undefined {
  let leftover = false;
  const used = new Set<string>();
  const url = template.replace(/\{([^{}]*)\}/g, (whole, label: string) => {
    const value = labels.get(label);
    if (value === undefined) {
      leftover = true;
      return whole;
    }
    if (label !== 'name' && label !== 'ext') used.add(label);
    // The name keeps its slashes: `{name}` is meant to spread over path segments.
    return escapeValue(value, label === 'name');
  });
  return leftover ? undefined : { url, used: used.size };
}

/**
 * Substitute `{name}`, `{version}`, `{os}`, `{arch}`, `{ext}` and any other `{label}` in a discovery template
 * with the values in `labels` (%-escaped where a URL needs it). Undefined if a placeholder is left over.
 */
export function renderTemplate(template: string, labels: ReadonlyMap<string, string>): string | undefined {
  return render(template, labels)?.url;
}

/**
 * The image and signature URLs of the best matching templates (appc: all placeholders filled, the most labels
 * used). Templates without `{ext}`, with a scheme other than https (or http when `allowHttp`), or that do not
 * render are left out, each with a note saying why.
 */
export function selectEndpoints(
  templates: readonly { prefix: string; template: string }[],
  labels: ReadonlyMap<string, string>,
  allowHttp: boolean,
  note: (msg: string) => void = () => undefined,
): { aci: string; asc: string }[] {
  const candidates: { aci: string; asc: string; used: number }[] = [];
  for (const { template } of templates) {
    if (!template.includes('{ext}')) {
      note(`ignoring template ${template}: it has no {ext}`);
      continue;
    }
    const aci = render(template, new Map([...labels, ['ext', EXT_ACI]]));
    const asc = render(template, new Map([...labels, ['ext', EXT_ASC]]));
    if (aci === undefined || asc === undefined) {
      note(`ignoring template ${template}: it has a placeholder without a label`);
      continue;
    }
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(aci.url)?.[1]?.toLowerCase();
    if (scheme !== 'https' && !(scheme === 'http' && allowHttp)) {
      note(`ignoring template ${template}: scheme ${scheme ?? '(none)'} is not supported${scheme === 'http' ? ' without --insecure-options=http' : ''}`);
      continue;
    }
    candidates.push({ aci: aci.url, asc: asc.url, used: aci.used });
  }
  const best = Math.max(...candidates.map((c) => c.used));
  const chosen = candidates.filter((c) => c.used === best);
  const https = chosen.filter((c) => c.aci.toLowerCase().startsWith('https:'));
  const http = chosen.filter((c) => !c.aci.toLowerCase().startsWith('https:'));
  return [...https, ...http].map(({ aci, asc }) => ({ aci, asc }));
}

// ---------------------------------------------------------------------------------------------------------------
// The walk

/** `example.com/a/b` → `example.com/a/b`, `example.com/a`, `example.com`. */
function walk(name: string): string[] {
  const parts = name.split('/');
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('/'));
}

/** One discovery page per step of the walk; `visit` returns true to stop. */
async function walkPages(
  name: string,
  opts: DiscoveryOptions,
  visit: (html: string, url: string) => string | true,
): Promise<{ found: boolean; tried: string[]; first: string }> {
  const trace = opts.trace ?? (() => undefined);
  const schemes = opts.insecureHttp === true ? ['https', 'http'] : ['https'];
  const tried: string[] = [];
  for (const path of walk(name)) {
    for (const scheme of schemes) {
      const url = `${scheme}://${path}?ac-discovery=1`;
      trace(`discovery: GET ${url}`);
      let page: Awaited<ReturnType<typeof httpGetText>>;
      try {
        page = await httpGetText(url, { insecureTls: opts.insecureTls, allowHttp: opts.insecureHttp }, MAX_PAGE_BYTES);
      } catch (err) {
        if (!(err instanceof RktError && err.code === 'EHTTP')) throw err;
        tried.push(`${url}: ${err.message}`);
        trace(`discovery: ${err.message}`);
        continue;
      }
      if (page.status !== 200) {
        tried.push(`${url}: HTTP ${page.status}`);
        trace(`discovery: ${url} answered HTTP ${page.status}`);
        continue;
      }
      const outcome = visit(page.text, page.url);
      if (outcome === true) return { found: true, tried, first: `https://${name}?ac-discovery=1` };
      tried.push(`${url}: ${outcome}`);
      trace(`discovery: ${url}: ${outcome}`);
      // A page was served over this scheme: the other one would tell the same.
      break;
    }
  }
  return { found: false, tried, first: `https://${name}?ac-discovery=1` };
}

function checkName(name: string): void {
  if (!isAcIdentifier(name)) {
    throw new RktError('ENAME', `cannot discover "${name}": it is not a valid AC Identifier (lowercase letters and digits joined by -._~/)`);
  }
}

/**
 * Find the image and signature URLs of `name` with `labels` by appc meta discovery, walking up the name's path
 * until a page has a matching template. `version` defaults to `latest`, `os` and `arch` to this machine's; the
 * caller's map is not changed. Keys are those of every page visited on the way. Throws EDISCOVERY listing each
 * URL tried and why it did not do.
 */
export async function discover(name: string, labels: ReadonlyMap<string, string>, opts: DiscoveryOptions): Promise<DiscoveryEndpoints> {
  checkName(name);
  const full = new Map(labels);
  if (!full.has('version')) full.set('version', DEFAULT_VERSION);
  if (!full.has('os') || !full.has('arch')) {
    const here = defaultOsArch();
    if (!full.has('os')) full.set('os', here.os);
    if (!full.has('arch')) full.set('arch', here.arch);
  }
  full.set('name', name);
  full.delete('ext');
  const trace = opts.trace ?? (() => undefined);
  const keys: string[] = [];
  let aci: { aci: string; asc: string }[] = [];
  const result = await walkPages(name, opts, (html) => {
    const meta = parseDiscoveryMeta(html, name);
    for (const { url } of meta.pubkeys) if (!keys.includes(url)) keys.push(url);
    aci = selectEndpoints(meta.templates, full, opts.insecureHttp === true, (msg) => trace(`discovery: ${msg}`));
    if (aci.length > 0) return true;
    return meta.templates.length === 0 ? 'no ac-discovery meta tag for this name' : 'no usable template';
  });
  if (!result.found) {
    throw new RktError(
      'EDISCOVERY',
      `discovery failed for ${name}: no ac-discovery meta tag with a matching template at ${result.first} (tried: ${result.tried.join('; ')})`,
    );
  }
  for (const e of aci) trace(`discovery: found ${e.aci}`);
  return { aci, keys };
}

/**
 * The public key URLs for `prefix` (`rkt trust --prefix` without a key): the `ac-discovery-pubkeys` of the first
 * page on the walk up `prefix` that has any matching it. Throws EDISCOVERY listing each URL tried.
 */
export async function discoverPubkeys(prefix: string, opts: DiscoveryOptions): Promise<string[]> {
  checkName(prefix);
  const keys: string[] = [];
  const result = await walkPages(prefix, opts, (html) => {
    for (const { url } of parseDiscoveryMeta(html, prefix).pubkeys) if (!keys.includes(url)) keys.push(url);
    return keys.length > 0 ? true : 'no ac-discovery-pubkeys meta tag for this prefix';
  });
  if (!result.found) {
    throw new RktError(
      'EDISCOVERY',
      `discovery failed for ${prefix}: no ac-discovery-pubkeys meta tag with a matching prefix at ${result.first} (tried: ${result.tried.join('; ')})`,
    );
  }
  return keys;
}
