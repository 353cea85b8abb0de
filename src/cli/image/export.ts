import { promises as fs } from 'node:fs';
import type { CommandSpec } from '../command.js';
import { isErrno, RktError } from '../../common/errors.js';

export const command: CommandSpec = {
  path: ['image', 'export'],
  operands: '<image> <file>',
  summary: 'Export a stored image to an ACI file',
  description: 'The file is the uncompressed ACI: its sha512 is the Image ID.',
  needsRoot: false,
  flags: (y) => y.option('overwrite', { type: 'boolean', default: false, describe: 'overwrite FILE if it exists' }),
  run: async (args, ctx) => {
    const out = String(args['file']);
    if (args['overwrite'] !== true) {
      try {
        await fs.lstat(out);
        throw new RktError('EEXIST', `${out} already exists`, { hint: 'use --overwrite to replace it' });
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    const { Store } = await import('../../store/store.js');
    const { resolveImage } = await import('../../store/resolve.js');
    const { exportImage } = await import('../../store/manage.js');
    const store = new Store(ctx.globals.dir);
    await exportImage(store, await resolveImage(store.layout, String(args['image'])), out);
    return 0;
  },
};
