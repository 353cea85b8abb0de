// Bundle the CLI into dist/bin/rkt.js (replacing tsc's entry point) and its chunks: rkt is a short-lived command
// whose start-up is paid on every call, and resolving and loading ~100 module files costs more than parsing
// one (measured: hack/bench run). The rest of dist/ stays as tsc wrote it, for tools and tests.
import { build } from 'esbuild';

// Code splitting keeps what every command needs (the CLI frame) in rkt.js and puts each dynamically imported
// part (store, fetch, openpgp, stage0 …) in a chunk loaded only by the commands that use it.
await build({
  entryPoints: { rkt: 'src/bin/rkt.ts' },
  outdir: 'dist/bin',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  // dbus-next is loaded from node_modules at run time: it requires optional modules (x11) esbuild cannot resolve.
  // So are grpc-js and its proto loader (rkt api-service only): protobufjs finds its optional modules (long)
  // with an eval'd require that a bundle would break.
  external: ['dbus-next', '@grpc/grpc-js', '@grpc/proto-loader'],
  platform: 'node',
  format: 'esm',
  target: 'node20',
  allowOverwrite: true,
  logLevel: 'warning',
  // CommonJS dependencies bundled into an ES module still call require().
  banner: { js: "import { createRequire as __rktCreateRequire } from 'node:module'; const require = __rktCreateRequire(import.meta.url);" },
});

// npm's bin link makes it executable when installed; a checkout runs it directly too.
const { chmod } = await import('node:fs/promises');
await chmod('dist/bin/rkt.js', 0o755);
