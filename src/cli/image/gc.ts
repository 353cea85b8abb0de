import type { CommandSpec } from '../command.js';
import { parseDuration } from '../../common/options.js';

export const command: CommandSpec = {
  path: ['image', 'gc'],
  summary: 'Remove unused images from the local store',
  description: 'Removes images not used within the grace period (never one a running or prepared pod needs), and leftovers of interrupted fetches.',
  needsRoot: false,
  flags: [{ name: 'grace-period', kind: 'string', default: '24h', describe: 'keep images used within this long' }],
  run: async (args, ctx) => {
    const grace = parseDuration('--grace-period', String(args['grace-period']));
    const { Store } = await import('../../store/store.js');
    const { gcImages } = await import('../../store/manage.js');
    const { imagesInUse } = await import('../../stage0/pod-ops.js');
    const result = await gcImages(new Store(ctx.globals.dir), grace, new Set((await imagesInUse(ctx.globals.dir)).keys()));
    for (const r of result.removed) ctx.io.stderr.write(`removed image ${r.id} (${r.name})\n`);
    for (const p of result.leftovers) ctx.io.stderr.write(`removed leftover ${p}\n`);
    return 0;
  },
};
