import type { CommandSpec } from './command.js';
import { UsageError } from '../common/errors.js';
import { refuseExisting } from './flags.js';
import { UUID_FILE_FLAG } from './pod-arg.js';

export const command: CommandSpec = {
  path: ['export'],
  operands: '<uuid> [file]',
  summary: "Export an exited pod's app, with the files it wrote, as an ACI",
  description: 'rkt export [--app=NAME] UUID FILE.aci, or rkt export --uuid-file=F FILE.aci. Prints the new image\'s ID. The pod must have exited.',
  needsRoot: true,
  flags: [
    UUID_FILE_FLAG,
    { name: 'app', kind: 'string', describe: 'the app to export (needed when the pod has several)' },
    { name: 'overwrite', kind: 'boolean', default: false, describe: 'replace FILE if it exists' },
  ],
  run: async (args, ctx) => {
    const pods = await import('../pod/pods.js');
    const viaFile = typeof args['uuid-file'] === 'string';
    const uuid = viaFile ? await pods.readUuidFile(String(args['uuid-file'])) : String(args['uuid']);
    const out = viaFile ? String(args['uuid']) : args['file'] === undefined ? undefined : String(args['file']);
    if (out === undefined || (viaFile && args['file'] !== undefined)) throw new UsageError('usage: rkt export [--app=NAME] UUID FILE.aci (or --uuid-file=F FILE.aci)');
    await refuseExisting(out, args['overwrite']);
    const { exportPodApp } = await import('../stage0/pod-ops.js');
    const { Store } = await import('../store/store.js');
    const pod = await pods.getPod(ctx.globals.dir, uuid);
    ctx.io.stdout.write(`${await exportPodApp(new Store(ctx.globals.dir), pod, typeof args['app'] === 'string' ? args['app'] : undefined, out)}\n`);
    return 0;
  },
};
