// Bundle the CLI into dist/bin/rkt.js (replacing tsc's entry point) and its chunks, and hack/aci's entry into
// dist/bin/aci.js: rkt is a short-lived command whose start-up is paid on every call, and resolving and loading
// ~100 module files costs more than parsing one (measured: hack/bench run). The rest of dist/ stays as tsc wrote
// it, for tools and tests.
//
// The bundle is CommonJS (dist/bin/package.json says so), made from esbuild's ES-module split output file by
// file: Node 20's ES module loader costs every command ≈ 10 ms of start-up that require() does not (an empty
// .mjs against an empty .cjs, measured 2026-12-02), and dynamic import() of a chunk goes through that loader
// too (esbuild's `dynamic-import: false` lowers it to a call).
//
// Chunks are not loaded by require() either but by the entry's own small loader (LOADER below): require()
// resolves, stats and looks up the package scope of each of the 20–45 files a command loads (≈ 0.4 ms each),
// and compiles each from scratch. The loader knows where they are, and compiles each with the V8 code cache
// this build writes beside it (`<chunk>.js.cache`, from the same node; V8 ignores a cache made by another V8 or
// with other flags, and the chunk is then compiled as usual). Measured 2026-12-02, 15 runs interleaved:
// `rkt status` ≈ 10% less CPU, `rkt run` of the fly stage1 ≈ 12% less.
import { build, transform } from 'esbuild';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import vm from 'node:vm';

// Code splitting keeps what every command needs (the CLI frame) in rkt.js and puts each dynamically imported
// part (a command, the store, fetch, openpgp, stage0 …) in a chunk loaded only by the commands that use it.
const esm = await build({
  entryPoints: { rkt: 'src/bin/rkt.ts', aci: 'src/bin/aci.ts' },
  outdir: 'dist/bin',
  // (`c-`: the chunks of this loader's format; those of earlier formats stay beside them for commands started
  // before a rebuild, under other names.)
  chunkNames: 'chunks/c-[name]-[hash]',
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

// A chunk file is this function (written whole: the loader compiles the file's text as it is, no copy of it
// made to wrap it); __rktLoad(NAME) loads a chunk by its file name (once).
const HEAD = '(function (exports, require, module, __filename, __dirname, __rktLoad) {';
const TAIL = '\n})';
// The entry points' loader (on one line, after the #! line: the entry's own line numbers stay right). With
// RKT_TRAIN_CODE_CACHE=1 (hack/train-code-cache) it keeps each chunk's script and, when the process exits or
// execs another program (globalThis.__rktCodeCacheSave, called by src/bin/rkt.ts's flush), writes its code cache
// again: V8's cache then holds every function that ran too, not only those compiled up front.
const LOADER = `var __rktLoad = (() => { const fs = require("node:fs"), vm = require("node:vm"), dir = __dirname + "/chunks/", loaded = new Map(); `
  + `const train = process.env.RKT_TRAIN_CODE_CACHE === "1" ? [] : undefined; `
  + `if (train !== undefined) { globalThis.__rktCodeCacheSave = () => { for (const [f, s] of train.splice(0)) { const t = f + ".cache." + process.pid; fs.writeFileSync(t, s.createCachedData()); fs.renameSync(t, f + ".cache"); } }; process.on("exit", globalThis.__rktCodeCacheSave); } `
  + `return function load(name) { let m = loaded.get(name); if (m !== undefined) return m.exports; m = { exports: {} }; loaded.set(name, m); `
  + `const file = dir + name; let cachedData; try { cachedData = fs.readFileSync(file + ".cache"); } catch {} `
  + `const script = new vm.Script(fs.readFileSync(file, "utf8"), { filename: file, cachedData }); train?.push([file, script]); `
  + `script.runInThisContext()(m.exports, require, m, file, dir, load); return m.exports; }; })();\n`;
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
  const body = cjs.code.replace(entry ? /require\("\.\/chunks\/([^"/]+\.js)"\)/g : /require\("\.\/([^"/]+\.js)"\)/g, '__rktLoad("$1")');
  const banner = body.includes('__rktImportMetaUrl') ? URL_BANNER : '';
  const code = entry ? `#!/usr/bin/env node\n${LOADER}${banner}${body}` : `${HEAD}${banner}${body}${TAIL}`;
  // The code cache of what V8 compiles up front (a function's body is compiled, and cached, when first called).
  const cache = entry ? undefined : new vm.Script(code, { filename: f.path }).createCachedData();
  return { file: f.path, code, cache };
}));

// Chunks first, the entry points last, each through a rename: a command started meanwhile (tests run rkt while
// a helper rebuilds) finds either the old entry and its old chunks (never removed) or the new one and all of its.
await mkdir('dist/bin/chunks', { recursive: true });
await writeFile('dist/bin/package.json', '{ "type": "commonjs" }\n');
files.sort((a, b) => Number(path.dirname(a.file) === path.resolve('dist/bin')) - Number(path.dirname(b.file) === path.resolve('dist/bin')));
const put = async (file, data, mode) => {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  if (mode !== undefined) await chmod(tmp, mode);
  await rename(tmp, file);
};
for (const { file, code, cache } of files) {
  if (cache !== undefined) await put(`${file}.cache`, cache);
  await put(file, code, path.dirname(file) === path.resolve('dist/bin') ? 0o755 : undefined);
}
