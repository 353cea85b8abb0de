/**
 * Importing a fetched image into the store: staged from its stream, its signature verified against the trust
 * store, its name checked against what was asked for, its dependencies fetched, then published.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { RktError } from '../common/errors.js';
import type { ImageRecord, RemoteInfo } from '../store/records.js';
import type { StagedImage } from '../store/store.js';
import { MAX_DEPENDENCY_DEPTH, type FetchOne, type FetchOptions } from './options.js';
import type { ImageSource } from './source.js';

/** Signature checking for one image: loaded only when needed (openpgp is heavy to load). */
async function verifier(opts: FetchOptions, imageName: string, signature: string | undefined, what: string): Promise<{ sink?: Writable; done: () => Promise<void> }> {
  if (opts.globals.insecure.has('image')) return { done: async () => undefined };
  if (signature === undefined) {
    throw new RktError('ESIGNATURE', `signature verification failed for ${imageName}: no signature found for ${what}`, {
      hint: 'provide the .asc signature beside the image, or skip the check with --insecure-options=image',
    });
  }
  const { startImageVerification } = await import('./signature.js');
  const v = await startImageVerification(opts.globals, signature, imageName);
  return { sink: v.sink, done: async () => { await v.result; } };
}

/**
 * Stage an image from a stream, verify its signature against the trust store on the way, then check and
 * publish it (dependencies first). The image name used for trust is the one the user asked for, or the
 * manifest's when the user gave a file or URL.
 */
export async function importVerified(opts: FetchOptions, fetchOne: FetchOne, input: Readable, what: string, trustName: string | undefined,
  signature: string | undefined, extra: { remote?: RemoteInfo; latest?: boolean; want?: ImageSource; sourceFile?: string }): Promise<ImageRecord> {
  // For files and URLs the name is known only from the manifest: verify against it after staging.
  const early = trustName !== undefined ? await verifier(opts, trustName, signature, what) : undefined;
  let staged: StagedImage;
  if (early === undefined && !opts.globals.insecure.has('image')) {
    // Buffering nothing: we stage first and verify by re-reading the staged blob.
    staged = await opts.store.stage(input, what, [], extra.sourceFile);
    try {
      const v = await verifier(opts, staged.info.manifest.name, signature, what);
      if (v.sink !== undefined) {
        const blob = path.join(staged.workDir, 'blob');
        await new Promise<void>((resolve, reject) => {
          createReadStream(blob).on('error', reject).pipe(v.sink as Writable).on('finish', resolve).on('error', reject);
        });
      }
      await v.done();
    } catch (err) {
      await staged.discard();
      throw err;
    }
  } else {
    staged = await opts.store.stage(input, what, early?.sink !== undefined ? [early.sink] : [], extra.sourceFile);
    try {
      await early?.done();
    } catch (err) {
      await staged.discard();
      throw err;
    }
  }
  const m = staged.info.manifest;
  const want = extra.want;
  if (want?.kind === 'name') {
    const problems: string[] = [];
    if (m.name !== want.name) problems.push(`its name is "${m.name}"`);
    for (const [k, v] of want.labels) {
      const have = m.labels.find((l) => l.name === k)?.value;
      if (have !== v) problems.push(`label ${k} is ${have === undefined ? 'missing' : `"${have}"`}, want "${v}"`);
    }
    if (problems.length > 0) {
      await staged.discard();
      throw new RktError('EMISMATCH', `image fetched from ${what} is not ${want.name}: ${problems.join('; ')}`);
    }
  }
  const dependencies: string[] = [];
  const chain = [...(opts.chain ?? []), m.name];
  const depOpts: FetchOptions = { ...opts, chain };
  try {
    if (m.dependencies.length > 0 && chain.length > MAX_DEPENDENCY_DEPTH) {
      throw new RktError('EDEPENDENCY', `dependencies of ${chain[0] ?? m.name} nest deeper than ${MAX_DEPENDENCY_DEPTH}: ${chain.join(' -> ')}`);
    }
    for (const dep of m.dependencies) {
      if (chain.includes(dep.imageName)) {
        throw new RktError('EDEPENDENCY', `dependency cycle: ${[...chain, dep.imageName].join(' -> ')}`);
      }
      const labels = new Map(dep.labels.map((l) => [l.name, l.value] as const));
      const rec = dep.imageID !== undefined
        ? await fetchOne(depOpts, dep.imageID).catch(async (err: unknown) => {
            if (!(err instanceof RktError) || err.code !== 'ENOIMAGE') throw err;
            return fetchOne(depOpts, [dep.imageName, ...[...labels].map(([k, v]) => `${k}=${v}`)].join(','));
          })
        : await fetchOne(depOpts, [dep.imageName, ...[...labels].map(([k, v]) => `${k}=${v}`)].join(','));
      if (dep.imageID !== undefined && rec.id !== dep.imageID) {
        throw new RktError('EDEPENDENCY', `dependency ${dep.imageName} of ${m.name} has Image ID ${rec.id}, the manifest requires ${dep.imageID}`);
      }
      dependencies.push(rec.id);
    }
  } catch (err) {
    await staged.discard();
    throw err;
  }
  return staged.publish({
    ...(extra.remote !== undefined ? { remote: extra.remote } : {}), ...(extra.latest !== undefined ? { latest: extra.latest } : {}), dependencies,
  });
}
