// Bundle the CLI into one file, dist/bin/rkt.js (replacing tsc's entry point): rkt is a short-lived command
// whose start-up is paid on every call, and resolving and loading ~100 module files costs more than parsing
// one (measured: hack/bench run). The rest of dist/ stays as tsc wrote it, for tools and tests.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/bin/rkt.ts'],
  outfile: 'dist/bin/rkt.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  allowOverwrite: true,
  logLevel: 'warning',
  // CommonJS dependencies bundled into an ES module still call require().
  banner: { js: "import { createRequire as __rktCreateRequire } from 'node:module'; const require = __rktCreateRequire(import.meta.url);" },
});
