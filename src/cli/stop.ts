import type { CommandSpec } from './command.js';
import { ExitCode, formatError, RktError } from '../common/errors.js';
import { podWords, UUID_FILE_FLAG } from './pod-arg.js';

export const command: CommandSpec = {
  path: ['stop'],
  operands: '[uuids..]',
  summary: 'Stop running pods',
  description: 'Graceful by default: the pod\'s systemd stops each app (post-stop handlers run); a fly pod\'s app gets SIGTERM. Exits 1 if any pod could not be stopped.',
  needsRoot: true,
  flags: [UUID_FILE_FLAG, { name: 'force', kind: 'boolean', default: false, describe: 'kill the pod at once (SIGKILL)' }],
  run: async (args, ctx) => {
    const { getPod } = await import('../pod/pods.js');
    const { stopPod } = await import('../stage0/pod-ops.js');
    const { Store } = await import('../store/store.js');
    const store = new Store(ctx.globals.dir);
    let failed = 0;
    for (const w of await podWords(args, 'uuids', true)) {
      try {
        const pod = await getPod(ctx.globals.dir, w);
        if (await stopPod(store, ctx.globals.dir, pod, args['force'] === true)) ctx.io.stdout.write(`${pod.uuid}\n`);
        else ctx.io.stderr.write(`pod ${pod.uuid} is already stopped (${pod.state})\n`);
      } catch (err) {
        if (!(err instanceof RktError)) throw err;
        for (const line of formatError(err, ctx.globals.debug)) ctx.io.stderr.write(line + '\n');
        failed++;
      }
    }
    return failed > 0 ? ExitCode.partial : ExitCode.ok;
  },
};
