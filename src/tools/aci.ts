/**
 * hack/aci: the build-time tool that builds and validates ACIs for tests, the README's sample and the stage1
 * image. Not part of rkt's own command set (`rkt image …` is the store's). Its entry point is src/bin/aci.ts.
 */
import type { Writable } from 'node:stream';
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

/** Where the tool writes: its stdout (results) and stderr (errors). */
export interface AciIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

async function run(argv: readonly string[], io: AciIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv], allowPositionals: true, strict: true,
    options: { compression: { type: 'string', default: 'none' }, debug: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) { io.stdout.write(USAGE + '\n'); return ExitCode.ok; }
  const [verb, ...ops] = positionals;
  switch (verb) {
    case 'build': {
      const c = values.compression ?? 'none';
      if (!['none', 'gzip', 'bzip2', 'xz'].includes(c)) throw new UsageError(`bad --compression "${c}": want none, gzip, bzip2 or xz`);
      if (ops.length !== 2) throw new UsageError('build takes DIR and OUT.aci');
      const info = await buildAci(ops[0] ?? '', ops[1] ?? '', c as Compression);
      io.stdout.write(info.imageId + '\n');
      return ExitCode.ok;
    }
    case 'validate':
    case 'id': {
      if (ops.length !== 1) throw new UsageError(`${verb} takes one FILE.aci`);
      const info = await inspectAciFile(ops[0] ?? '');
      if (verb === 'validate') io.stdout.write(serializeImageManifest(info.manifest, true) + '\n' + `Image ID: ${info.imageId}\n`);
      else io.stdout.write(info.imageId + '\n');
      return ExitCode.ok;
    }
    default:
      throw new UsageError(verb === undefined ? 'missing verb' : `unknown verb "${verb}"`);
  }
}

/**
 * Run hack/aci with `argv` (the arguments after the program name) and return its exit status: 0, 2 for a usage
 * error (the usage is printed), 254 for any other failure (one `aci: …` line, the cause chain with --debug).
 */
export async function main(argv: readonly string[], io: AciIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    const e = err instanceof Error && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? new UsageError(err.message) : err;
    for (const line of formatError(e, argv.includes('--debug'))) io.stderr.write(line.replace(/^rkt:/, 'aci:') + '\n');
    if (e instanceof UsageError) io.stderr.write(USAGE + '\n');
    return e instanceof RktError ? e.exitCode : ExitCode.failure;
  }
}
