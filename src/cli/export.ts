import { promises as fs } from 'node:fs';
import type { CommandSpec } from './command.js';
import { isErrno, RktError, UsageError } from '../common/errors.js';
import { uuidFileFlag } from './pod-arg.js';

export const command: CommandSpec = {
  path: ['export'],
  operands: '<uuid> <file>',
  summary: "Export an exited pod's app, with the files it wrote, as an ACI",
  description: 'Prints the new image\'s ID. The pod must have exited.',
  needsRoot: true,
  flags: (y) => uuidFileFlag(y)
    .option('app', { type: 'string', describe: 'the app to export (needed when the pod has several)' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'replace FILE if it exists' }),
  run: async (args, ctx) => {
    const out = String(args['file']);
    if (typeof args['uuid-file'] === 'string') throw new UsageError('export takes the pod UUID as an operand');
    if (args['overwrite'] !== true) {
      try {
        await fs.lstat(out);
        throw new RktError('EEXIST', `${out} already exists`, { hint: 'use --overwrite to replace it' });
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    const { getPod } = await import('../pod/pods.js');
    const { exportPodApp } = await import('../stage0/pod-ops.js');
    const { Store } = await import('../store/store.js');
    const pod = await getPod(ctx.globals.dir, String(args['uuid']));
    ctx.io.stdout.write(`${await exportPodApp(new Store(ctx.globals.dir), pod, typeof args['app'] === 'string' ? args['app'] : undefined, out)}\n`);
    return 0;
  },
};
