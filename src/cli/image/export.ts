import type { CommandSpec } from '../command.js';
import { refuseExisting } from '../flags.js';

export const command: CommandSpec = {
  path: ['image', 'export'],
  operands: '<image> <file>',
  summary: 'Export a stored image to an ACI file',
  description: 'The file is the uncompressed ACI: its sha512 is the Image ID.',
  needsRoot: false,
  flags: [{ name: 'overwrite', kind: 'boolean', default: false, describe: 'overwrite FILE if it exists' }],
  run: async (args, ctx) => {
    const out = String(args['file']);
    await refuseExisting(out, args['overwrite']);
    const { Store } = await import('../../store/store.js');
    const { resolveImage } = await import('../../store/resolve.js');
    const { exportImage } = await import('../../store/manage.js');
    const store = new Store(ctx.globals.dir);
    await exportImage(store, await resolveImage(store.layout, String(args['image'])), out);
    return 0;
  },
};
