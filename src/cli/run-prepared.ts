import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CommandSpec } from './command.js';
import { podWords, uuidFileFlag } from './pod-arg.js';

export const command: CommandSpec = {
  path: ['run-prepared'],
  operands: '[uuid]',
  summary: 'Run a prepared pod',
  description: "Exits with the first failing app's status, 0 if every app succeeded.",
  needsRoot: true,
  flags: (y) => uuidFileFlag(y),
  run: async (args, ctx) => {
    const [word] = await podWords(args, 'uuid', false);
    const pods = await import('../pod/pods.js');
    const { openPodDir, closePodDir } = await import('../pod/lock.js');
    const { Store } = await import('../store/store.js');
    const { launchPod, readPodOptions } = await import('../stage0/run.js');
    const { parsePodManifest } = await import('../image/pod-manifest.js');
    const { POD_MANIFEST } = await import('../pod/layout.js');
    const pod = await pods.getPod(ctx.globals.dir, word ?? '');
    const fd = openPodDir(pod.dir);
    let dir: string;
    try {
      dir = await pods.toRun(ctx.globals.dir, pod.uuid, fd);
    } catch (err) {
      closePodDir(fd);
      throw err;
    }
    const options = await readPodOptions(dir);
    const manifest = parsePodManifest(await fs.readFile(path.join(dir, POD_MANIFEST)));
    const { launchModeFor } = await import('./run.js');
    const mode = await launchModeFor();
    return launchPod({
      store: new Store(ctx.globals.dir), pod: dir, uuid: pod.uuid, manifest, options, lockFd: fd,
      debug: ctx.globals.debug, mode, stdin: options.interactive ? 'inherit' : 'ignore',
      ...(ctx.onStop !== undefined ? { onStopRequest: ctx.onStop } : {}),
    });
  },
};
