import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CommandSpec } from '../command.js';

export const command: CommandSpec = {
  path: ['image', 'cat-manifest'],
  operands: '<image>',
  summary: 'Inspect and print the image manifest',
  needsRoot: false,
  flags: [{ name: 'pretty-print', kind: 'boolean', default: true, describe: 'apply indent and newlines' }],
  run: async (args, ctx) => {
    const { StoreLayout } = await import('../../store/layout.js');
    const { resolveImage } = await import('../../store/resolve.js');
    const { parseImageManifest, serializeImageManifest } = await import('../../image/manifest.js');
    const layout = new StoreLayout(ctx.globals.dir);
    const rec = await resolveImage(layout, String(args['image']));
    const m = parseImageManifest(await fs.readFile(path.join(layout.tree(rec.id), 'manifest')));
    ctx.io.stdout.write(serializeImageManifest(m, args['pretty-print'] !== false) + '\n');
    return 0;
  },
};
