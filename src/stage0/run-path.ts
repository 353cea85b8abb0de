/**
 * Everything `rkt run`, `rkt prepare` and `rkt run-prepared` need, behind one dynamic import: the bundler
 * makes a chunk per distinct set of importers, and each chunk file costs the module loader about a
 * millisecond at start-up (hack/bundle.mjs). Rarely used parts (--pod-manifest, --detach, fetching) stay
 * separate imports inside stage0.
 */
export { parseAssignment } from './app-setup.js';
export { parseVolume, parseMount } from './volumes.js';
export { parseIsolationFlags } from './isolation.js';
export { prepare, run, runDetached, runPrepared } from './pod-run.js';
