/**
 * Declared pods as pod manifests: `pods.d/NAME.pod.yaml` or `NAME.pod.json`, an appc pod manifest as `rkt run
 * --pod-manifest` takes it (apps naming their image by `image.name` and labels, or by `image.id`). Pure: the
 * file's text in, what the unit needs (the file, the images to fetch, the ports) or the error naming the file
 * and its line (syntax) or field (schema) out. A `NAME.pod` beside it adds the unit's sections (pod-file.ts).
 */
import { RktError } from '../common/errors.js';
import { checkPodManifest, parseManifestText } from '../stage0/pod-manifest-file.js';
import type { PodFile, PodManifestRef } from './pod-file.js';

/** The suffixes of a pod manifest in pods.d. `.pod.yml` is not one (see MISNAMED_SUFFIX). */
export const MANIFEST_SUFFIXES = ['.pod.yaml', '.pod.json'] as const;
/** A name users may reach for: reported with the fix, never read (one spelling per pod, no two files to rank). */
export const MISNAMED_SUFFIX = '.pod.yml';

export type ManifestParse = { readonly ok: true; readonly ref: PodManifestRef } | { readonly ok: false; readonly message: string };

/**
 * Check the text of the pod manifest `file` (absolute) as `rkt run --pod-manifest` will read it, and return what
 * the unit takes from it. Never throws for a bad file: the message is `FILE:LINE: why` for a syntax error,
 * `FILE: invalid pod manifest: FIELD: why` for a schema error.
 */
export function parseManifestPod(file: string, text: string): ManifestParse {
  const parsed = parseManifestText(file, text);
  if (!parsed.ok) return { ok: false, message: `${file}${parsed.problem.line !== undefined ? `:${parsed.problem.line}` : ''}: ${parsed.problem.message}` };
  let checked: ReturnType<typeof checkPodManifest>;
  try {
    checked = checkPodManifest(parsed.value);
  } catch (err) {
    if (err instanceof RktError && err.code === 'EPODMANIFEST') return { ok: false, message: `${file}: ${err.message}` };
    throw err;
  }
  if (checked.manifest.apps.length === 0) return { ok: false, message: `${file}: invalid pod manifest: apps: a pod needs at least one app` };
  const images = [...new Set(checked.named.map((n) => n.reference))];
  const ports = checked.manifest.ports.map((p) => `${p.name}:${p.hostIP !== undefined ? `${p.hostIP}:` : ''}${p.hostPort}`);
  return { ok: true, ref: { file, images, ports } };
}

/**
 * The pod of a manifest: with `ini` (the NAME.pod beside it, parsed with `besideManifest`) its sections and
 * pod-level keys; alone, a pod file's defaults (no `Net=`: rkt run's default network; `PullPolicy=new`).
 */
export function manifestPodFile(ref: PodManifestRef, ini?: PodFile): PodFile {
  const base: PodFile = ini ?? {
    apps: [], volumes: [], nets: [], ports: [], mounts: [], pullPolicy: 'new', unit: [], service: [],
    install: { wantedBy: [], requiredBy: [], alias: [] },
  };
  return { ...base, apps: [], volumes: [], ports: [], mounts: [], manifest: ref };
}
