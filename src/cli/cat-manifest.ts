import type { CommandSpec } from './command.js';
import { podWords, UUID_FILE_FLAG } from './pod-arg.js';

export const command: CommandSpec = {
  path: ['cat-manifest'],
  operands: '[uuid]',
  summary: 'Inspect and print the pod manifest',
  needsRoot: false,
  flags: [UUID_FILE_FLAG, { name: 'pretty-print', kind: 'boolean', default: true, describe: 'apply indent and newlines' }],
  run: async (args, ctx) => {
    const [word] = await podWords(args, 'uuid', false);
    const { getPod } = await import('../pod/pods.js');
    const { readPodManifest } = await import('../stage0/pod-ops.js');
    const { serializePodManifest } = await import('../image/pod-manifest.js');
    const m = await readPodManifest(await getPod(ctx.globals.dir, word ?? ''));
    ctx.io.stdout.write(serializePodManifest(m, args['pretty-print'] !== false) + '\n');
    return 0;
  },
};
