import type { CommandSpec } from './command.js';
import { ExitCode, formatError, RktError } from '../common/errors.js';
import { podWords, UUID_FILE_FLAG } from './pod-arg.js';

export const command: CommandSpec = {
  path: ['rm'],
  operands: '[uuids..]',
  summary: 'Remove all files and resources of pods that are not running',
  description: 'Exits 1 if any pod could not be removed.',
  needsRoot: true,
  flags: [UUID_FILE_FLAG],
  run: async (args, ctx) => {
    const { getPod } = await import('../pod/pods.js');
    const { removePod } = await import('../stage0/pod-ops.js');
    let failed = 0;
    for (const w of await podWords(args, 'uuids', true)) {
      try {
        const pod = await getPod(ctx.globals.dir, w);
        await removePod(ctx.globals.dir, pod);
        ctx.io.stdout.write(`${pod.uuid}\n`);
      } catch (err) {
        if (!(err instanceof RktError)) throw err;
        for (const line of formatError(err, ctx.globals.debug)) ctx.io.stderr.write(line + '\n');
        failed++;
      }
    }
    return failed > 0 ? ExitCode.partial : ExitCode.ok;
  },
};
