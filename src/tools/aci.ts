#!/usr/bin/env node
// hack/aci: the build-time tool that builds and validates ACIs for tests, the README's sample and the stage1
// image. Not part of rkt's own command set (`rkt image …` is the store's).
import { parseArgs } from 'node:util';
import { ExitCode, formatError, RktError, UsageError } from '../common/errors.js';
import { buildAci } from '../image/aci-build.js';
import { inspectAciFile } from '../image/aci.js';
import type { Compression } from '../image/compression.js';
import { serializeImageManifest } from '../image/manifest.js';

const USAGE = `Usage:
  hack/aci build [--compression=none|gzip|bzip2|xz] DIR OUT.aci   build DIR (manifest + rootfs/) into OUT.aci; prints the Image ID
  hack/aci validate FILE.aci                                        check layout and manifest; prints the manifest and the Image ID
  hack/aci id FILE.aci                                              print only the Image ID`;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { compression: { type: 'string', default: 'none' }, debug: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) { process.stdout.write(USAGE + '\n'); return ExitCode.ok; }
  const [verb, ...ops] = positionals;
  switch (verb) {
    case 'build': {
      const c = values.compression ?? 'none';
      if (!['none', 'gzip', 'bzip2', 'xz'].includes(c)) throw new UsageError(`bad --compression "${c}": want none, gzip, bzip2 or xz`);
      if (ops.length !== 2) throw new UsageError('build takes DIR and OUT.aci');
      const info = await buildAci(ops[0] ?? '', ops[1] ?? '', c as Compression);
      process.stdout.write(info.imageId + '\n');
      return ExitCode.ok;
    }
    case 'validate':
    case 'id': {
      if (ops.length !== 1) throw new UsageError(`${verb} takes one FILE.aci`);
      const info = await inspectAciFile(ops[0] ?? '');
      if (verb === 'validate') process.stdout.write(serializeImageManifest(info.manifest, true) + '\n' + `Image ID: ${info.imageId}\n`);
      else process.stdout.write(info.imageId + '\n');
      return ExitCode.ok;
    }
    default:
      throw new UsageError(verb === undefined ? 'missing verb' : `unknown verb "${verb}"`);
  }
}

const argv = process.argv.slice(2);
try {
  process.exitCode = await run(argv);
} catch (err) {
  const e = err instanceof Error && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? new UsageError(err.message) : err;
  for (const line of formatError(e, argv.includes('--debug'))) process.stderr.write(line.replace(/^rkt:/, 'aci:') + '\n');
  if (e instanceof UsageError) process.stderr.write(USAGE + '\n');
  process.exitCode = e instanceof RktError ? e.exitCode : ExitCode.failure;
}
