import { promises as fs } from 'node:fs';
import type { Argv } from 'yargs';
import type { CommandContext, CommandSpec } from './command.js';
import { RktError, UsageError } from '../common/errors.js';
import { parseInsecureOptions, type GlobalOptions } from '../common/options.js';
import { parseRunArgs, type RunArgs } from './run-args.js';

/** The flags `rkt run --help` documents (parsed by run-args.ts). */
function documentFlags(y: Argv): Argv {
  return y
    .option('set-env', { type: 'string', describe: 'NAME=VALUE for every app (repeatable)' })
    .option('set-env-file', { type: 'string', describe: 'file of NAME=VALUE lines for every app' })
    .option('inherit-env', { type: 'boolean', describe: "pass rkt's own environment to the apps (lowest precedence)" })
    .option('volume', { type: 'string', describe: 'NAME,kind=host,source=/abs[,readOnly=true] or NAME,kind=empty[,mode=0755,uid=0,gid=0]' })
    .option('mount', { type: 'string', describe: 'volume=NAME,target=/path: before the first image for all apps, after an image for that app' })
    .option('hostname', { type: 'string', describe: 'the pod hostname (default rkt-<uuid>)' })
    .option('net', { type: 'string', describe: 'host (share the host network; the default until pod networking lands) or none' })
    .option('interactive', { type: 'boolean', describe: 'one app: pass stdin and the terminal through' })
    .option('no-overlay', { type: 'boolean', describe: 'copy the image trees instead of overlay-mounting them' })
    .option('pull-policy', { type: 'string', describe: 'new (default: use the store if it has the image), update, never' })
    .option('uuid-file-save', { type: 'string', describe: "write the pod's UUID to this file" })
    .option('pod-manifest', { type: 'string', describe: 'run this pod manifest (JSON) instead of images given here' })
    .option('detach', { type: 'boolean', describe: 'with systemd as PID 1: run the pod as the service rkt-<uuid>.service, print its UUID and return at once' })
    .option('slice', { type: 'string', describe: 'with systemd as PID 1, run from a shell: the slice of the pod\'s scope (default machine.slice)' })
    .option('memory', { type: 'string', describe: "with systemd as PID 1, run from a shell: the scope's MemoryMax= (e.g. 512M)" })
    .option('cpu', { type: 'string', describe: "with systemd as PID 1, run from a shell: the scope's CPU quota (500m = half a CPU, 2 = two CPUs)" })
    .option('stage1-path', { type: 'string', describe: 'stage1 image file' })
    .option('stage1-url', { type: 'string', describe: 'stage1 image URL' })
    .option('stage1-name', { type: 'string', describe: 'stage1 image name' })
    .option('stage1-hash', { type: 'string', describe: 'stage1 image ID in the store' })
    .option('stage1-from-dir', { type: 'string', describe: 'directory holding stage1.aci' })
    .epilogue('App flags, after an image: --exec=PATH --name=NAME --user=USER --group=GROUP --working-dir=DIR '
      + '--environment=NAME=VALUE --mount=volume=NAME,target=/path; then -- ARGS for the app; --- starts the next image.');
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function list(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

/** Global flags may also stand among run's own words; they override the ones before the command. */
function mergeGlobals(g: GlobalOptions, pod: RunArgs['pod']): GlobalOptions {
  const insecure = list(pod['insecure-options']);
  return {
    ...g,
    ...(str(pod['dir']) !== undefined ? { dir: str(pod['dir']) as string } : {}),
    ...(str(pod['system-config']) !== undefined ? { systemConfig: str(pod['system-config']) as string } : {}),
    ...(str(pod['local-config']) !== undefined ? { localConfig: str(pod['local-config']) as string } : {}),
    ...(insecure.length > 0 ? { insecure: new Set([...g.insecure, ...parseInsecureOptions(insecure)]) } : {}),
    ...(pod['debug'] === true ? { debug: true } : {}),
  };
}

/** A YAML pod manifest as the JSON value it denotes (YAML is a superset of JSON). */
async function yamlToJson(file: string, text: string): Promise<unknown> {
  const { load } = await import('js-yaml');
  try {
    return load(text, { filename: file });
  } catch (err) {
    throw new RktError('EPODMANIFEST', `invalid pod manifest ${file}: ${(err as Error).message.split('\n')[0] ?? ''}`, { cause: err });
  }
}

/** `--cpu` as CPUQuota=: millicores (`500m`), CPUs (`2`, `0.5`) or a percentage (`50%`). */
export function cpuQuota(v: string): string {
  const m = /^(\d+(?:\.\d+)?)(m|%)?$/.exec(v.trim());
  if (m === null) throw new UsageError(`bad --cpu "${v}": want millicores (500m), CPUs (2) or a percentage (50%)`);
  const n = Number(m[1]);
  const percent = m[2] === 'm' ? n / 10 : m[2] === '%' ? n : n * 100;
  return `CPUQuota=${Math.round(percent)}%`;
}

/** `--memory` as MemoryMax=: bytes with an optional K/M/G/T suffix (Ki/Mi/Gi accepted). */
export function memoryMax(v: string): string {
  const m = /^(\d+)([KMGT])?i?$/i.exec(v.trim());
  if (m === null) throw new UsageError(`bad --memory "${v}": want bytes with an optional K, M, G or T suffix (512M)`);
  return `MemoryMax=${m[1]}${(m[2] ?? '').toUpperCase()}`;
}

/** Where the pod goes: the systemd context of this process, and the scope settings for the shell case. */
async function launchMode(pod: RunArgs['pod'], note?: (m: string) => void): Promise<import('../stage1/launch.js').LaunchMode> {
  const properties = ['Delegate=yes'];
  if (str(pod['memory']) !== undefined) properties.push(memoryMax(str(pod['memory']) as string));
  if (str(pod['cpu']) !== undefined) properties.push(cpuQuota(str(pod['cpu']) as string));
  const slice = str(pod['slice']);
  if (slice !== undefined && !/^[A-Za-z0-9:_.\\-]+\.slice$/.test(slice)) throw new UsageError(`bad --slice "${slice}": want a slice unit name such as machine.slice`);
  const scoped = properties.length > 1 || slice !== undefined;
  const { systemdContext } = await import('../stage0/run-path.js');
  const ctx = await systemdContext();
  if (ctx.kind !== 'shell' && scoped) {
    note?.(`rkt: --slice, --memory and --cpu apply to a pod rkt places in a scope (systemd as PID 1, rkt run from a shell); ${ctx.kind === 'none' ? 'systemd is not PID 1 here' : `here the pod lives in ${ctx.unit}: set them on that unit`}, ignoring them`);
  }
  if (ctx.kind === 'none') return { kind: 'raw' };
  if (ctx.kind === 'service') return { kind: 'in-unit' };
  return { kind: 'scope', slice: slice ?? 'machine.slice', properties };
}

/** Parse and prepare a pod from run/prepare words. Returns the prepared pod, still locked (lockFd). */
async function preparePod(ctx: CommandContext, words: readonly string[]) {
  const parsed = parseRunArgs(words);
  const globals = mergeGlobals(ctx.globals, parsed.pod);
  const { parseAssignment, parseEnvFile, parseVolume, parseMount } = await import('../stage0/run-path.js');
  const pod = parsed.pod;
  const net = str(pod['net']) ?? 'host';
  if (net !== 'host' && net !== 'none') throw new UsageError(`bad --net "${net}": want host or none (pod networks are not built yet)`);
  const pullPolicy = str(pod['pull-policy']) ?? 'new';
  if (pullPolicy !== 'new' && pullPolicy !== 'update' && pullPolicy !== 'never') throw new UsageError(`bad --pull-policy "${pullPolicy}": want new, update or never`);
  const setEnvFile: [string, string][] = [];
  for (const f of list(pod['set-env-file'])) {
    let text: string;
    try {
      text = await fs.readFile(f, 'utf8');
    } catch (err) {
      throw new RktError('ENOENT', `cannot read --set-env-file ${f}: ${(err as Error).message}`, { cause: err });
    }
    setEnvFile.push(...parseEnvFile(f, text));
  }
  let podManifest;
  const pmFile = str(pod['pod-manifest']);
  if (pmFile !== undefined) {
    if (parsed.apps.length > 0) throw new UsageError('--pod-manifest and images on the command line cannot be combined');
    const { parsePodManifest } = await import('../image/pod-manifest.js');
    let text: string;
    try {
      text = await fs.readFile(pmFile, 'utf8');
    } catch (err) {
      throw new RktError('ENOENT', `cannot read --pod-manifest ${pmFile}: ${(err as Error).message}`, { cause: err });
    }
    podManifest = parsePodManifest(/\.ya?ml$/i.test(pmFile) ? JSON.stringify(await yamlToJson(pmFile, text)) : text);
  } else if (parsed.apps.length === 0) {
    throw new UsageError('no image given');
  }
  const interactive = pod['interactive'] === true;
  if (interactive && parsed.apps.length > 1) throw new UsageError('--interactive takes exactly one app');
  const req = {
    apps: parsed.apps.map((a) => ({
      image: a.image, environment: a.environment.map((e) => parseAssignment('--environment', e)), mounts: a.mounts.map(parseMount), args: a.args,
      ...(a.exec !== undefined ? { exec: a.exec } : {}), ...(a.name !== undefined ? { name: a.name } : {}),
      ...(a.user !== undefined ? { user: a.user } : {}), ...(a.group !== undefined ? { group: a.group } : {}),
      ...(a.workingDir !== undefined ? { workingDir: a.workingDir } : {}),
    })),
    volumes: podManifest?.volumes ?? list(pod['volume']).map(parseVolume),
    podMounts: parsed.podMounts.map(parseMount),
    setEnv: list(pod['set-env']).map((e) => parseAssignment('--set-env', e)),
    setEnvFile,
    inheritEnv: pod['inherit-env'] === true,
    ...(str(pod['hostname']) !== undefined ? { hostname: str(pod['hostname']) as string } : {}),
    net: net as 'host' | 'none',
    interactive,
    noOverlay: pod['no-overlay'] === true,
    journal: (await (await import('../stage0/run-path.js')).systemdContext()).kind !== 'none',
    pullPolicy: pullPolicy as 'new' | 'update' | 'never',
    stage1: {
      ...(str(pod['stage1-path']) !== undefined ? { path: str(pod['stage1-path']) } : {}),
      ...(str(pod['stage1-url']) !== undefined ? { url: str(pod['stage1-url']) } : {}),
      ...(str(pod['stage1-name']) !== undefined ? { name: str(pod['stage1-name']) } : {}),
      ...(str(pod['stage1-hash']) !== undefined ? { hash: str(pod['stage1-hash']) } : {}),
      ...(str(pod['stage1-from-dir']) !== undefined ? { fromDir: str(pod['stage1-from-dir']) } : {}),
    },
    ...(podManifest !== undefined ? { podManifest } : {}),
  };
  const { Store, buildPodManifest, layOutPod, pods, trace } = await import('../stage0/run-path.js');
  const store = new Store(globals.dir);
  const note = (m: string) => { if (globals.debug || ctx.io.stderr.isTTY === true) ctx.io.stderr.write(`${m}\n`); };
  trace('modules loaded');
  const manifest = await buildPodManifest(store, globals, req, note);
  trace('images resolved, pod manifest built');
  const embryo = await pods.createEmbryo(globals.dir);
  trace('pod created');
  try {
    const dir = await pods.toPrepare(globals.dir, embryo.uuid, embryo.lockFd);
    const { options } = await layOutPod(store, globals, dir, embryo.uuid, manifest, req, (m) => ctx.io.stderr.write(`${m}\n`));
    trace('pod tree laid out');
    const saveTo = str(pod['uuid-file-save']);
    if (saveTo !== undefined) await pods.writeUuidFile(saveTo, embryo.uuid);
    return { globals, store, manifest, options, uuid: embryo.uuid, dir, lockFd: embryo.lockFd, quiet: pod['quiet'] === true, pod };
  } catch (err) {
    // The pod stays in prepare/ unlocked once we close: gc collects an aborted prepare.
    const { closePodDir } = await import('../stage0/run-path.js');
    closePodDir(embryo.lockFd);
    throw err;
  }
}

export const run: CommandSpec = {
  path: ['run'],
  operands: '[image..]',
  summary: 'Run image(s) in a pod',
  description: 'rkt run [pod flags] IMAGE [app flags] [-- ARGS] [--- IMAGE [app flags] [-- ARGS] ...]. '
    + "Exits with the first failing app's status, 0 if every app succeeded.",
  needsRoot: true,
  rawArgs: true,
  flags: documentFlags,
  run: async (_args, ctx) => {
    const early = parseRunArgs(ctx.rest).pod;
    if (early['detach'] === true) {
      // Beyond rkt: systemd runs the prepared pod as rkt-<uuid>.service (`rkt run-prepared`); we return at once.
      const detach = await import('../stage0/detach.js');
      await detach.checkDetachPossible();
      const slice = str(early['slice']);
      if (slice !== undefined && !/^[A-Za-z0-9:_.\\-]+\.slice$/.test(slice)) throw new UsageError(`bad --slice "${slice}": want a slice unit name such as machine.slice`);
      const p = await preparePod(ctx, ctx.rest);
      const { pods, closePodDir } = await import('../stage0/run-path.js');
      try {
        await pods.toPrepared(p.globals.dir, p.uuid, p.lockFd);
      } finally {
        closePodDir(p.lockFd);
      }
      if (str(p.pod['memory']) !== undefined || str(p.pod['cpu']) !== undefined) {
        ctx.io.stderr.write('rkt: --memory and --cpu apply to a pod rkt places in a scope; a detached pod lives in rkt-<uuid>.service: set them there (systemctl set-property), ignoring them\n');
      }
      await detach.startDetached(p.uuid, p.globals, slice);
      ctx.io.stdout.write(`${p.uuid}\n`);
      return 0;
    }
    const p = await preparePod(ctx, ctx.rest);
    const { pods, launchPod } = await import('../stage0/run-path.js');
    const mode = await launchMode(p.pod, (m) => ctx.io.stderr.write(`${m}\n`));
    const dir = await pods.toRun(p.globals.dir, p.uuid, p.lockFd);
    return launchPod({
      store: p.store, pod: dir, uuid: p.uuid, manifest: p.manifest, options: p.options, lockFd: p.lockFd,
      debug: p.globals.debug, mode, stdin: p.options.interactive ? 'inherit' : 'ignore',
      ...(ctx.onStop !== undefined ? { onStopRequest: ctx.onStop } : {}),
    });
  },
};

/** The launch mode for run-prepared (no scope flags there: the defaults). */
export function launchModeFor(): Promise<import('../stage1/launch.js').LaunchMode> {
  return launchMode({});
}

export const prepare: CommandSpec = {
  path: ['prepare'],
  operands: '[image..]',
  summary: 'Prepare a pod to run later with "rkt run-prepared"; prints its UUID',
  needsRoot: true,
  rawArgs: true,
  flags: (y) => documentFlags(y).option('quiet', { type: 'boolean', describe: 'print only the UUID' }),
  run: async (_args, ctx) => {
    const p = await preparePod(ctx, ctx.rest);
    const { pods, closePodDir } = await import('../stage0/run-path.js');
    await pods.toPrepared(p.globals.dir, p.uuid, p.lockFd);
    closePodDir(p.lockFd);
    ctx.io.stdout.write(`${p.uuid}\n`);
    return 0;
  },
};
