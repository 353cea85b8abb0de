import type { CommandSpec } from './command.js';
import { UsageError } from '../common/errors.js';
import { operands } from './flags.js';

export const command: CommandSpec = {
  path: ['fetch'],
  operands: '<images..>',
  summary: 'Fetch image(s) and store them in the local store',
  description: 'IMAGE is a file path or file:// URL, an http(s) URL, an Image ID, or a name with optional labels '
    + '(example.com/app:1.0, example.com/app,version=1.0,os=linux) found by appc discovery. Prints each Image ID on stdout.',
  needsRoot: false,
  flags: [
    { name: 'pull-policy', kind: 'string', default: 'update', describe: 'new: use the store if it has the image; update: check the remote; never: store only' },
    { name: 'full', kind: 'boolean', default: false, describe: 'print the full Image ID' },
  ],
  run: async (args, ctx) => {
    const policy = String(args['pull-policy']);
    if (policy !== 'new' && policy !== 'update' && policy !== 'never') throw new UsageError(`bad --pull-policy "${policy}": want new, update or never`);
    const { Store } = await import('../store/store.js');
    const { fetchImage } = await import('../fetch/fetch.js');
    const { shortId } = await import('../store/resolve.js');
    const store = new Store(ctx.globals.dir);
    const note = (m: string) => { if (ctx.globals.debug || ctx.io.stderr.isTTY === true) ctx.io.stderr.write(`${m}\n`); };
    for (const image of operands(args['images'])) {
      const rec = await fetchImage({ store, globals: ctx.globals, pullPolicy: policy, note }, image);
      ctx.io.stdout.write(`${args['full'] === true ? rec.id : shortId(rec.id)}\n`);
    }
    return 0;
  },
};
