/**
 * A pod's overlay mounts, from its manifest and the store: what both stage1 launches mount (src/stage0/run.ts for
 * the systemd stage1, src/stage0/fly-launch.ts for the fly stage1's app).
 */
import path from 'node:path';
import type { PodManifest } from '../image/pod-manifest.js';
import * as layout from '../pod/layout.js';
import type { OverlayMount } from '../stage1/overlay.js';
import { imageLowerDirs } from '../store/oci-lowers.js';
import type { Store } from '../store/store.js';

/** The overlay mounts of a pod: the stage1 tree, then each app's rootfs inside it. */
export function podOverlays(store: Store, pod: string, manifest: PodManifest, stage1Id: string): OverlayMount[] {
  const s1 = path.join(pod, layout.STAGE1_DIR);
  const root = path.join(s1, 'rootfs');
  return [
    { lower: [path.join(store.layout.tree(stage1Id), 'rootfs')], upper: path.join(s1, 'upper'), work: path.join(s1, 'work'), target: root },
    ...manifest.apps.map((a) => ({
      // An OCI image's layers are stacked as they are (no squash); an ACI's rendered tree is its one lower dir.
      lower: imageLowerDirs(store.layout, a.image.id) ?? [path.join(store.layout.tree(a.image.id), 'rootfs')],
      upper: layout.overlayUpperDir(pod, a.name),
      work: layout.overlayWorkDir(pod, a.name),
      target: layout.appRootfs(pod, a.name),
    })),
  ];
}
