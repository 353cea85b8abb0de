/**
 * Everything `rkt run` and `rkt prepare` always need, behind one dynamic import: the bundler makes a chunk
 * per distinct set of importers, and each chunk file costs the module loader about a millisecond at start-up
 * (hack/bundle.mjs). Rarely used parts (--pod-manifest, --detach, fetching) stay separate imports.
 */
export { systemdContext } from '../systemd/detect.js';
export { parseAssignment, parseEnvFile } from './app-setup.js';
export { parseVolume, parseMount } from './volumes.js';
export { Store } from '../store/store.js';
export { buildPodManifest, layOutPod } from './prepare.js';
export * as pods from '../pod/pods.js';
export { closePodDir } from '../pod/lock.js';
export { trace } from '../common/trace.js';
export { launchPod } from './run.js';
