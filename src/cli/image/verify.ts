import type { CommandSpec } from '../command.js';
import { operands } from '../flags.js';
import { ExitCode } from '../../common/errors.js';

export const command: CommandSpec = {
  path: ['image', 'verify'],
  operands: '<images..>',
  summary: "Check stored images' rendered trees against their blobs, and repair tampered trees",
  description: 'Exits 1 if a tree was found tampered (it is repaired unless --repair=false).',
  needsRoot: true,
  flags: [{ name: 'repair', kind: 'boolean', default: true, describe: 'replace a tampered tree with a fresh rendering' }],
  run: async (args, ctx) => {
    const { Store } = await import('../../store/store.js');
    const { resolveImage } = await import('../../store/resolve.js');
    const { verifyImage } = await import('../../store/manage.js');
    const store = new Store(ctx.globals.dir);
    let bad = 0;
    for (const arg of operands(args['images'])) {
      const rec = await resolveImage(store.layout, arg);
      const diffs = await verifyImage(store, rec, args['repair'] !== false);
      if (diffs.length === 0) {
        ctx.io.stdout.write(`${rec.id}: ok\n`);
        continue;
      }
      bad++;
      ctx.io.stdout.write(`${rec.id}: tampered (${diffs.length} differences)${args['repair'] !== false ? ', repaired' : ''}\n`);
      for (const d of diffs.slice(0, 20)) ctx.io.stderr.write(`  ${d}\n`);
    }
    return bad > 0 ? ExitCode.partial : ExitCode.ok;
  },
};
