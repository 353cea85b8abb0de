import type { CommandSpec } from '../command.js';
import { ExitCode, formatError, RktError } from '../../common/errors.js';
import { operands } from '../flags.js';

export const command: CommandSpec = {
  path: ['image', 'rm'],
  operands: '<images..>',
  summary: 'Remove one or more images from the local store',
  description: 'Exits 1 if any image could not be removed.',
  needsRoot: false,
  run: async (args, ctx) => {
    const { Store } = await import('../../store/store.js');
    const { resolveImage } = await import('../../store/resolve.js');
    const { removeImage } = await import('../../store/manage.js');
    const { imagesInUse } = await import('../../stage0/pod-ops.js');
    const store = new Store(ctx.globals.dir);
    const inUse = await imagesInUse(ctx.globals.dir);
    let failed = 0;
    for (const arg of operands(args['images'])) {
      try {
        const rec = await resolveImage(store.layout, arg);
        const pod = inUse.get(rec.id);
        if (pod !== undefined) {
          throw new RktError('EIMAGEINUSE', `cannot remove image ${rec.id}: pod ${pod} uses it`, { hint: `stop and remove the pod first (rkt stop ${pod}; rkt rm ${pod})` });
        }
        await removeImage(store, rec);
        ctx.io.stderr.write(`successfully removed image ${rec.id}\n`);
      } catch (err) {
        if (!(err instanceof RktError)) throw err;
        for (const line of formatError(err, ctx.globals.debug)) ctx.io.stderr.write(line + '\n');
        failed++;
      }
    }
    return failed > 0 ? ExitCode.partial : ExitCode.ok;
  },
};
