import type { CommandSpec } from './command.js';
import { parseDuration } from '../common/options.js';

export const command: CommandSpec = {
  path: ['gc'],
  summary: 'Garbage-collect pods that have exited, and expired prepared pods',
  description: 'Exited pods are marked, then removed once marked for longer than the grace period. A running pod is never touched.',
  needsRoot: true,
  flags: [
    { name: 'grace-period', kind: 'string', default: '30m', describe: 'how long an exited pod stays marked before removal' },
    { name: 'expire-prepared', kind: 'string', default: '24h', describe: 'remove prepared pods older than this' },
    { name: 'mark-only', kind: 'boolean', default: false, describe: 'only mark exited pods; remove nothing' },
  ],
  run: async (args, ctx) => {
    const graceMs = parseDuration('--grace-period', String(args['grace-period']));
    const expirePreparedMs = parseDuration('--expire-prepared', String(args['expire-prepared']));
    const { gcPods } = await import('../stage0/pod-ops.js');
    await gcPods(ctx.globals.dir, { graceMs, expirePreparedMs, markOnly: args['mark-only'] === true }, (m) => ctx.io.stderr.write(`${m}\n`));
    return 0;
  },
};
