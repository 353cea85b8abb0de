// Bundle the CLI into dist/bin/rkt.js (replacing tsc's entry point) and its chunks, and hack/aci's entry into
// dist/bin/aci.js: rkt is a short-lived command whose start-up is paid on every call, and resolving and loading
// ~100 module files costs more than parsing one (measured: hack/bench run). The rest of dist/ stays as tsc wrote
// it, for tools and tests.
//
// The bundle is CommonJS (dist/bin/package.json says so), made from esbuild's ES-module split output file by
// file: Node 20's ES module loader costs every command ≈ 10 ms of start-up that require() does not (an empty
// .mjs against an empty .cjs, measured 2026-12-02), and dynamic import() of a chunk goes through that loader
// too, so chunks are loaded with require() (esbuild's `dynamic-import: false` lowering).
import { build, transform } from 'esbuild';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

// Code splitting keeps what every command needs (the CLI frame) in rkt.js and puts each dynamically imported
// part (a command, the store, fetch, openpgp, stage0 …) in a chunk loaded only by the commands that use it.
const esm = await build({
  entryPoints: { rkt: 'src/bin/rkt.ts', aci: 'src/bin/aci.ts' },
  outdir: 'dist/bin',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  write: false,
  // dbus-next is loaded from node_modules at run time: it requires optional modules (x11) esbuild cannot resolve.
  // So are grpc-js and its proto loader (rkt api-service only): protobufjs finds its optional modules (long)
  // with an eval'd require that a bundle would break.
  external: ['dbus-next', '@grpc/grpc-js', '@grpc/proto-loader'],
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
});

// Each file to CommonJS. `import.meta.url` (a few modules find files beside them by it) becomes the file's own
// URL, computed only in the files that use it.
const URL_BANNER = 'var __rktImportMetaUrl = require("node:url").pathToFileURL(__filename).href;\n';
const files = await Promise.all(esm.outputFiles.map(async (f) => {
  const text = f.text.replace(/^#!.*\n/, '');
  const cjs = await transform(text, {
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    supported: { 'dynamic-import': false },
    define: { 'import.meta.url': '__rktImportMetaUrl' },
    sourcefile: path.relative('dist/bin', f.path),
    logLevel: 'warning',
  });
  const entry = path.dirname(f.path) === path.resolve('dist/bin');
  const code = (entry ? '#!/usr/bin/env node\n' : '') + (cjs.code.includes('__rktImportMetaUrl') ? URL_BANNER : '') + cjs.code;
  return { file: f.path, code };
}));

// Chunks first, the entry points last, each through a rename: a command started meanwhile (tests run rkt while
// a helper rebuilds) finds either the old entry and its old chunks (never removed) or the new one and all of its.
await mkdir('dist/bin/chunks', { recursive: true });
await writeFile('dist/bin/package.json', '{ "type": "commonjs" }\n');
files.sort((a, b) => Number(path.dirname(a.file) === path.resolve('dist/bin')) - Number(path.dirname(b.file) === path.resolve('dist/bin')));
for (const { file, code } of files) {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, code);
  if (path.dirname(file) === path.resolve('dist/bin')) await chmod(tmp, 0o755);
  await rename(tmp, file);
}
