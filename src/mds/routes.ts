/**
 * The HTTP endpoints of the appc 0.8.11 metadata service, as a pure function from a request (its method, path,
 * form, and whether its source may speak for the pod) to a response. The path is `/<token>/acMetadata/v1/…`:
 * the token (the path part of the pod's AC_METADATA_URL) names the pod.
 */
import { annotationsToJson } from '../image/manifest.js';
import { signContent, verifyContent } from './hmac.js';
import type { RegisteredPod } from './registry.js';

/** One endpoint of the spec. */
export type Route =
  | { readonly kind: 'pod/annotations' | 'pod/manifest' | 'pod/uuid' | 'pod/hmac/sign' | 'pod/hmac/verify' }
  | { readonly kind: 'apps/annotations' | 'apps/image/manifest' | 'apps/image/id'; readonly app: string };

/** A request path split into its token and route; the route is undefined for a path the spec does not have. */
export interface ParsedPath {
  readonly token: string;
  readonly route?: Route;
}

export interface Response {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=us-ascii';

/** The method each route takes. */
export function routeMethod(r: Route): 'GET' | 'POST' {
  return r.kind === 'pod/hmac/sign' || r.kind === 'pod/hmac/verify' ? 'POST' : 'GET';
}

/** Split a request target (`/TOKEN/acMetadata/v1/pod/uuid?x`) into token and route. Undefined: no token at all. */
export function parsePath(target: string): ParsedPath | undefined {
  const q = target.indexOf('?');
  const p = q === -1 ? target : target.slice(0, q);
  const parts = p.split('/');
  // ['', token, 'acMetadata', 'v1', ...rest]
  const token = parts[1] ?? '';
  if (token === '' || token === 'acMetadata') return undefined;
  if (parts[2] !== 'acMetadata' || parts[3] !== 'v1') return { token };
  const rest = parts.slice(4);
  if (rest[rest.length - 1] === '' && rest.length > 1) rest.pop(); // a trailing slash
  const [a, b, c, d] = rest;
  if (a === 'pod' && rest.length === 2 && (b === 'annotations' || b === 'manifest' || b === 'uuid')) return { token, route: { kind: `pod/${b}` } };
  if (a === 'pod' && b === 'hmac' && rest.length === 3 && (c === 'sign' || c === 'verify')) return { token, route: { kind: `pod/hmac/${c}` } };
  if (a === 'apps' && b !== undefined && b !== '') {
    let app: string;
    try {
      app = decodeURIComponent(b);
    } catch (err) {
      if (err instanceof URIError) return { token };
      throw err;
    }
    if (rest.length === 3 && c === 'annotations') return { token, route: { kind: 'apps/annotations', app } };
    if (rest.length === 4 && c === 'image' && (d === 'manifest' || d === 'id')) return { token, route: { kind: `apps/image/${d}`, app } };
  }
  return { token };
}

const text = (status: number, body: string, extra: Record<string, string> = {}): Response => ({
  status, headers: { 'Content-Type': TEXT_TYPE, ...extra }, body: body === '' ? '' : `${body}\n`,
});
const json = (body: string): Response => ({ status: 200, headers: { 'Content-Type': JSON_TYPE }, body });

/** The refusal for a request whose token no registered pod has (or a request without one). */
export const UNAUTHORIZED: Response = text(401, 'unknown or missing pod token');
/** The refusal for a known token from an address that is not its pod's. */
export const FORBIDDEN_SOURCE: Response = text(403, 'this token is not valid from this address');

/**
 * The response to `method route` from `pod` (the token's pod, already checked to be allowed from the request's
 * source). `form` is the request body's form fields (POST). `key` is the service's HMAC key.
 */
export function respond(pod: RegisteredPod, route: Route, method: string, form: URLSearchParams | undefined, key: Uint8Array): Response {
  const want = routeMethod(route);
  if (method !== want && !(want === 'GET' && method === 'HEAD')) return text(405, `use ${want}`, { Allow: want === 'GET' ? 'GET, HEAD' : 'POST' });
  switch (route.kind) {
    case 'pod/annotations':
      return json(JSON.stringify(annotationsToJson(pod.podAnnotations)));
    case 'pod/manifest':
      return json(pod.reg.manifest);
    case 'pod/uuid':
      return { status: 200, headers: { 'Content-Type': TEXT_TYPE }, body: pod.reg.uuid };
    case 'pod/hmac/sign': {
      const content = form?.get('content');
      if (content === null || content === undefined) return text(400, 'the form has no "content"');
      return { status: 200, headers: { 'Content-Type': TEXT_TYPE }, body: signContent(key, pod.reg.uuid, content) };
    }
    case 'pod/hmac/verify': {
      const content = form?.get('content');
      const uuid = form?.get('uuid');
      const signature = form?.get('signature');
      if (content === null || content === undefined || uuid === null || uuid === undefined || signature === null || signature === undefined) {
        return text(400, 'the form needs "content", "uuid" and "signature"');
      }
      return verifyContent(key, uuid.toLowerCase(), content, signature) ? text(200, '') : text(403, 'signature check failed');
    }
    default: {
      const app = pod.apps.get(route.app);
      if (app === undefined) return text(404, `no app ${route.app} in this pod`);
      if (route.kind === 'apps/annotations') return json(JSON.stringify(annotationsToJson(app.annotations)));
      if (route.kind === 'apps/image/manifest') return json(app.imageManifest);
      return { status: 200, headers: { 'Content-Type': TEXT_TYPE }, body: app.imageId };
    }
  }
}

/** The response to a path with a known token but no such endpoint. */
export const NOT_FOUND: Response = text(404, 'no such metadata endpoint (see the appc spec: /acMetadata/v1/…)');
