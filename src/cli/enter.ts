import type { CommandSpec } from './command.js';
import { UsageError } from '../common/errors.js';
import { UUID_FILE_FLAG } from './pod-arg.js';

/** `[--app NAME] [--uuid-file F] UUID [CMD...]`: flags stop at the pod UUID; the rest is CMD, untouched. */
export function parseEnterArgs(words: readonly string[]): { app?: string; uuidFile?: string; uuid?: string; cmd: string[] } {
  let app: string | undefined;
  let uuidFile: string | undefined;
  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i] ?? '';
    if (w === '--') { i++; break; }
    if (!w.startsWith('-')) break;
    const m = /^--(app|uuid-file)(?:=(.*))?$/s.exec(w);
    if (m === null) {
      if (/^--(debug|insecure-options|dir)/.test(w)) continue;
      throw new UsageError(`unknown flag "${w.replace(/=.*$/s, '')}"`);
    }
    const value = m[2] ?? words[++i];
    if (value === undefined) throw new UsageError(`flag --${m[1]} needs a value`);
    if (m[1] === 'app') app = value;
    else uuidFile = value;
  }
  const rest = words.slice(i);
  const uuid = uuidFile === undefined ? rest.shift() : undefined;
  return { ...(app !== undefined ? { app } : {}), ...(uuidFile !== undefined ? { uuidFile } : {}), ...(uuid !== undefined ? { uuid } : {}), cmd: rest };
}

export const command: CommandSpec = {
  path: ['enter'],
  operands: '[uuid] [cmd..]',
  summary: "Run a command in a running pod's app, with the app's root and environment",
  description: 'rkt enter [--app NAME] UUID [CMD [ARGS...]]. CMD defaults to /bin/bash if the image has it, else /bin/sh.',
  needsRoot: true,
  rawArgs: true,
  flags: [{ name: 'app', kind: 'string', describe: 'the app to enter (needed when the pod has several)' }, UUID_FILE_FLAG],
  run: async (_args, ctx) => {
    const a = parseEnterArgs(ctx.rest);
    const pods = await import('../pod/pods.js');
    const uuid = a.uuidFile !== undefined ? await pods.readUuidFile(a.uuidFile) : a.uuid;
    if (uuid === undefined) throw new UsageError('missing pod UUID (or --uuid-file)');
    const { enterPod } = await import('../stage0/pod-ops.js');
    const { Store } = await import('../store/store.js');
    const pod = await pods.getPod(ctx.globals.dir, uuid);
    return enterPod(new Store(ctx.globals.dir), pod, a.app, a.cmd);
  },
};
