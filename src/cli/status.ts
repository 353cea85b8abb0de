import type { CommandSpec } from './command.js';
import { RktError } from '../common/errors.js';
import { parseDuration } from '../common/options.js';
import { FORMAT_FLAG, outputFormat, renderJson } from './flags.js';
import { podWords, UUID_FILE_FLAG } from './pod-arg.js';
import type { PodInfo } from '../pod/pods.js';

/** The `key=value` lines rkt status prints (rkt's order and names). */
export function statusLines(p: PodInfo): string[] {
  const lines = [`state=${p.state}`];
  if (p.created !== undefined) lines.push(`created=${p.created.toISOString()}`);
  if (p.started !== undefined) lines.push(`started=${p.started.toISOString()}`);
  if (p.pid !== undefined && p.state === 'running') lines.push(`pid=${p.pid}`);
  const exited = p.state === 'exited' || p.state === 'exited-garbage';
  lines.push(`exited=${exited}`);
  if (exited && p.exited !== undefined) lines.push(`exited-at=${p.exited.toISOString()}`);
  for (const [app, code] of [...p.appStatuses].sort()) lines.push(`app-${app}=${code}`);
  return lines;
}

/** The JSON form of a pod's status. */
export function statusJson(p: PodInfo): Record<string, unknown> {
  return {
    name: p.uuid, state: p.state,
    ...(p.created !== undefined ? { created_at: p.created.toISOString() } : {}),
    ...(p.started !== undefined ? { started_at: p.started.toISOString() } : {}),
    ...(p.exited !== undefined ? { exited_at: p.exited.toISOString() } : {}),
    ...(p.pid !== undefined && p.state === 'running' ? { pid: p.pid } : {}),
    app_statuses: Object.fromEntries(p.appStatuses),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const command: CommandSpec = {
  path: ['status'],
  operands: '[uuid]',
  summary: 'Check the status of a pod',
  needsRoot: false,
  flags: [
    FORMAT_FLAG, UUID_FILE_FLAG,
    { name: 'wait', kind: 'string', optionalValue: true, describe: 'wait for the pod to exit: --wait (forever) or --wait=DURATION (then exit 254)' },
    { name: 'wait-ready', kind: 'string', optionalValue: true, describe: 'wait for the pod to be running with its apps started: --wait-ready or --wait-ready=DURATION' },
  ],
  run: async (args, ctx) => {
    const format = outputFormat(args['format']);
    const [word] = await podWords(args, 'uuid', false);
    const { getPod } = await import('../pod/pods.js');
    const limit = (flag: string): number | undefined => {
      const v = args[flag];
      if (v === undefined) return undefined;
      return v === '' || v === 'forever' ? Infinity : parseDuration(`--${flag}`, String(v));
    };
    const waitExit = limit('wait');
    const waitReady = limit('wait-ready');
    const start = Date.now();
    let pod = await getPod(ctx.globals.dir, word ?? '');
    const done = (p: PodInfo) => (waitExit !== undefined ? ['exited', 'exited-garbage', 'garbage'].includes(p.state)
      : waitReady !== undefined ? p.state === 'running' && p.pid !== undefined && p.started !== undefined || ['exited', 'exited-garbage'].includes(p.state) : true);
    const max = waitExit ?? waitReady;
    while (!done(pod)) {
      if (max !== undefined && Date.now() - start > max) {
        throw new RktError('ETIMEOUT', `pod ${pod.uuid} is still ${pod.state} after ${args['wait'] ?? args['wait-ready']}`);
      }
      await sleep(50);
      pod = await getPod(ctx.globals.dir, pod.uuid);
    }
    // Under systemd, what machined knows about the pod (D-Bus is loaded only there).
    const { systemdBooted } = await import('../systemd/detect.js');
    const m = (await systemdBooted()) ? await import('../systemd/machined.js') : undefined;
    const report = m === undefined ? undefined : await m.queryPod(pod.uuid, pod.state);
    // The pod's networks (src/net's net-info.json; none for --net=host|none).
    const net = await import('../net/net-info.js');
    const info = await net.readNetInfo(pod.dir);
    const networks = net.networksText(info);
    const lines = [...statusLines(pod), ...(networks !== '' ? [`networks=${networks}`] : []), ...(m !== undefined && report !== undefined ? m.reportLines(report) : [])];
    const json = { ...statusJson(pod), networks: net.networksJson(info), ...(m !== undefined && report !== undefined ? m.reportJson(report) : {}) };
    ctx.io.stdout.write(format === 'tabbed' ? lines.join('\n') + '\n' : renderJson(json, format));
    return 0;
  },
};
