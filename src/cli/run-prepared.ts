import type { CommandSpec } from './command.js';
import { podWords, UUID_FILE_FLAG } from './pod-arg.js';
import { entryHooks, stage0Env } from './run.js';
import { UsageError } from '../common/errors.js';

/** A flag given zero, one or several times, as a list of strings. */
function stringList(v: unknown): string[] {
  return v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String);
}

export const command: CommandSpec = {
  path: ['run-prepared'],
  operands: '[uuid]',
  summary: 'Run a prepared pod',
  description: "Exits with the first failing app's status, 0 if every app succeeded.",
  needsRoot: true,
  flags: [
    UUID_FILE_FLAG,
    { name: 'net', kind: 'list', describe: 'run the pod on these networks instead of those it was prepared with (as rkt run --net)' },
    { name: 'port', kind: 'list', describe: "with --net: NAME:[HOSTIP:]HOSTPORT, forward the image's port NAME from the host (as rkt run --port)" },
    { name: 'mds-register', kind: 'boolean', describe: 'register the pod with the metadata service; default: as it was prepared (rkt prepare --mds-register); =false: not this time' },
    { name: 'private-users', kind: 'boolean', describe: 'run the pod in a user namespace of its own (as rkt run --private-users); default: as it was prepared; =false: not this time' },
  ],
  run: async (args, ctx) => {
    const [word] = await podWords(args, 'uuid', false);
    const { runPrepared } = await import('../stage0/run-path.js');
    const mds = typeof args['mds-register'] === 'boolean' ? { mdsRegister: args['mds-register'] } : {};
    const users = typeof args['private-users'] === 'boolean' ? { privateUsers: args['private-users'] } : {};
    const net = stringList(args['net']);
    const ports = stringList(args['port']);
    if (ports.length > 0 && net.length === 0) throw new UsageError('--port on run-prepared needs --net: the ports of a prepared pod are those it was prepared with');
    if (net.length > 0) (await import('../net/flags.js')).parseNetFlags(net);
    return runPrepared(word ?? '', {
      ...entryHooks(ctx), ...mds, ...users, ...(net.length > 0 ? { net, ports } : {}),
    }, stage0Env(ctx.globals, ctx));
  },
};
