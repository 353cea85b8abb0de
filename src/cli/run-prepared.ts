import type { CommandSpec } from './command.js';
import { podWords, UUID_FILE_FLAG } from './pod-arg.js';
import { stage0Env } from './run.js';

export const command: CommandSpec = {
  path: ['run-prepared'],
  operands: '[uuid]',
  summary: 'Run a prepared pod',
  description: "Exits with the first failing app's status, 0 if every app succeeded.",
  needsRoot: true,
  flags: [
    UUID_FILE_FLAG,
    { name: 'mds-register', kind: 'boolean', describe: 'register the pod with the metadata service; default: as it was prepared (rkt prepare --mds-register); =false: not this time' },
  ],
  run: async (args, ctx) => {
    const [word] = await podWords(args, 'uuid', false);
    const { runPrepared } = await import('../stage0/run-path.js');
    const mds = typeof args['mds-register'] === 'boolean' ? { mdsRegister: args['mds-register'] } : {};
    return runPrepared(word ?? '', { ...(ctx.onStop !== undefined ? { onStopRequest: ctx.onStop } : {}), ...mds }, stage0Env(ctx.globals, ctx));
  },
};
