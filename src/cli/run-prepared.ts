import type { CommandSpec } from './command.js';
import { podWords, UUID_FILE_FLAG } from './pod-arg.js';
import { stage0Env } from './run.js';

export const command: CommandSpec = {
  path: ['run-prepared'],
  operands: '[uuid]',
  summary: 'Run a prepared pod',
  description: "Exits with the first failing app's status, 0 if every app succeeded.",
  needsRoot: true,
  flags: [UUID_FILE_FLAG],
  run: async (args, ctx) => {
    const [word] = await podWords(args, 'uuid', false);
    const { runPrepared } = await import('../stage0/run-path.js');
    return runPrepared(word ?? '', ctx.onStop !== undefined ? { onStopRequest: ctx.onStop } : {}, stage0Env(ctx.globals, ctx));
  },
};
