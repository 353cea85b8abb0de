/**
 * What `rkt list` reads of a pod manifest: its apps' names and images, for a pod without `list.json` (prepared
 * by an rkt before 2026-12). Its own module so that the CLI frame, and `rkt list` of pods that have one, do not
 * load the manifest readers.
 */
import { Field, ObjectReader, readAcIdentifier, readAcName, readImageId, readNamedList, type Reader } from '../image/names.js';
import { parseJson, readAcKind, readAcVersion } from '../image/manifest.js';
import type { ListedApp } from '../pod/pods.js';

const readListedApp: Reader<ListedApp> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', readAcName);
  const image = o.required('image', (v, imageAt) => {
    const i = ObjectReader.of(v, imageAt);
    return { name: i.optional('name', readAcIdentifier) ?? '', id: i.required('id', readImageId) };
  });
  return { name, image: image.name, id: image.id };
};

/**
 * The apps of a pod manifest (JSON text or bytes) as `rkt list` shows them, checked with the pod manifest's own
 * readers, so a damaged field fails (EPODMANIFEST) with the words the full validation would use. Only what is
 * shown is read: validating a whole manifest (src/image/pod-manifest.ts) costs several times its JSON.parse,
 * which for a thousand pods was most of `rkt list`.
 */
export function listedApps(text: string | Uint8Array): ListedApp[] {
  const root = Field.root('EPODMANIFEST', 'pod manifest');
  const o = ObjectReader.of(parseJson(text, root), root);
  o.required('acVersion', readAcVersion);
  o.required('acKind', readAcKind('PodManifest'));
  // Required, but Go writes `null` for a pod without apps yet.
  if (!o.has('apps')) root.key('apps').fail('required field is missing');
  return [...o.list('apps', readNamedList(readListedApp, 'app'))];
}

