import type { CommandSpec } from './command.js';
import { RktError, UsageError } from '../common/errors.js';

const UUID_RE = /^[0-9a-f]{8}(-?[0-9a-f]{0,4}){0,4}[0-9a-f]*$/;

export const command: CommandSpec = {
  path: ['generate'],
  operands: '<kind> [pod]',
  summary: 'Print the systemd unit of a pod file or a prepared pod',
  description: [
    'rkt generate systemd NAME.pod (or NAME.pod.yaml, NAME.pod.json: a pod manifest) prints the NAME.service the',
    'pod generator (rkt-pod-generator) writes for that declared pod, read with the files of its NAME beside it;',
    'rkt generate systemd UUID prints a service running the prepared pod UUID (rkt run-prepared).',
    'rkt generate systemd --output-dir=DIR writes the unit of every pod file in /etc/rkt/pods.d, /run/rkt/pods.d',
    'and /usr/lib/rkt/pods.d into DIR, with its [Install] links: what the generator runs. A bad pod file is',
    'reported with its line on stderr and gets no unit; the others are written (exit 1 if any was bad).',
    'See Documentation/systemd-units.md.',
  ].join('\n'),
  needsRoot: false,
  flags: [
    { name: 'output-dir', kind: 'string', describe: "write every pod file's unit and links into this directory (the generator's mode)" },
    { name: 'rkt', kind: 'string', default: '/usr/bin/rkt', describe: 'the rkt executable the units run' },
  ],
  run: async (args, ctx) => {
    const kind = args['kind'] === undefined ? undefined : String(args['kind']);
    const pod = args['pod'] === undefined ? undefined : String(args['pod']);
    if (kind !== 'systemd') throw new UsageError(`rkt generate: unknown kind "${kind ?? ''}" (want: systemd)`);
    const rkt = String(args['rkt']);
    if (!rkt.startsWith('/')) throw new UsageError(`--rkt must be an absolute path, got "${rkt}"`);
    const outDir = args['output-dir'] === undefined ? undefined : String(args['output-dir']);
    const gen = await import('../generate/generator.js');
    if (outDir !== undefined) {
      if (pod !== undefined) throw new UsageError('rkt generate systemd: give --output-dir or a pod, not both');
      const res = await gen.runGenerator(gen.podDirs(ctx.globals.localConfig, ctx.globals.systemConfig), outDir, { rkt });
      for (const e of res.errors) ctx.io.stderr.write(`rkt-pod-generator: ${e}; no unit written for it\n`);
      for (const u of res.written) ctx.io.stdout.write(`${u}\n`);
      return res.errors.length > 0 ? 1 : 0;
    }
    if (pod === undefined) throw new UsageError('rkt generate systemd: give NAME.pod, NAME.pod.yaml, NAME.pod.json, a pod UUID, or --output-dir=DIR');
    const unit = await import('../generate/unit.js');
    const named = gen.classifyPodFileName(pod);
    if (named?.kind === 'misnamed') throw new UsageError(gen.misnamedMessage(pod));
    if (named !== undefined) {
      // the pod as the generator reads it: with the other files of its NAME in the same directory
      const found = await gen.findPodOf(pod);
      const loaded = found === undefined ? undefined : await gen.loadPod(found);
      if (loaded === undefined || !loaded.ok) throw new RktError('EPODFILE', loaded?.message ?? `${pod}: not a pod file`);
      ctx.io.stdout.write(unit.renderPodService(loaded.name, loaded.pod, { rkt, sourcePath: loaded.file, ...(loaded.alsoFrom !== undefined ? { alsoFrom: loaded.alsoFrom } : {}) }));
      return 0;
    }
    if (pod.includes('/') || !UUID_RE.test(pod)) {
      throw new UsageError(`rkt generate systemd: "${pod}" is neither a pod file (NAME.pod, NAME.pod.yaml, NAME.pod.json) nor a pod UUID`);
    }
    const { getPod } = await import('../pod/pods.js');
    const { readPodManifest } = await import('../stage0/pod-ops.js');
    const info = await getPod(ctx.globals.dir, pod);
    if (info.state !== 'prepared') {
      throw new RktError('EPODSTATE', `pod ${info.uuid} is ${info.state}: only a prepared pod can be run by a unit`, { hint: 'prepare one with rkt prepare' });
    }
    const manifest = await readPodManifest(info);
    ctx.io.stdout.write(unit.renderPreparedPodService(info.uuid, manifest.apps.map((a) => a.name), { rkt }));
    return 0;
  },
};
