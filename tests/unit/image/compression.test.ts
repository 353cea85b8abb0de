import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { decompress, detectCompression } from '../../../src/image/compression.js';

const data = Buffer.from('rkt '.repeat(100_000));

/** `data` compressed by the named Debian tool; undefined if it is not installed. */
function compressed(tool: 'xz' | 'bzip2'): Buffer | undefined {
  try {
    return execFileSync(tool, ['-c'], { input: data, maxBuffer: 1 << 26 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const made = { xz: compressed('xz'), bzip2: compressed('bzip2') };
/** `test`, or `test.skip` with the reason in the title when `tool` is not installed. */
function withTool(tool: 'xz' | 'bzip2', title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  if (made[tool] === undefined) test.skip(`${title} (skipped: ${tool} is not installed)`, fn);
  else test(title, fn);
}

for (const tool of ['xz', 'bzip2'] as const) {
  withTool(tool, `${tool} data is decoded by ${tool} -dc`, async (t) => {
    const z = made[tool] ?? Buffer.alloc(0);
    t.is(detectCompression(z), tool);
    t.deepEqual(await readAll(decompress(Readable.from([z]), tool, 'img.aci')), data);
  });

  withTool(tool, `truncated ${tool} data is an EDECOMPRESS error naming the image`, async (t) => {
    const z = made[tool] ?? Buffer.alloc(0);
    const err = await t.throwsAsync(readAll(decompress(Readable.from([z.subarray(0, z.length >> 1)]), tool, 'img.aci')));
    t.is((err as { code?: string }).code, 'EDECOMPRESS');
    t.regex(err?.message ?? '', new RegExp(`^img\\.aci: bad ${tool} data: `));
  });
}

withTool('xz', 'a reader that stops early ends the decoder without an error', async (t) => {
  const z = made.xz ?? Buffer.alloc(0);
  const out = decompress(Readable.from([z]), 'xz', 'img.aci');
  const first = await new Promise<Buffer>((resolve) => out.once('data', resolve));
  out.destroy();
  await new Promise((resolve) => out.once('close', resolve));
  t.true(first.length > 0);
  t.true(out.destroyed);
});
