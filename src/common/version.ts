/** rkt's own version: continues rkt 1.x's line (drivers refuse rkt older than 1.27). Kept equal to package.json by a unit test. */
export const RKT_VERSION = '1.30.0';
/** The App Container spec version implemented. */
export const APPC_VERSION = '0.8.11';
/** Optional features compiled in, in rkt's `+NAME`/`-NAME` form. */
export const FEATURES = ['-TPM', '+SDJOURNAL'] as const;
