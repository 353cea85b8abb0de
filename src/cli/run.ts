import type { CommandContext, CommandSpec } from './command.js';
import { UsageError } from '../common/errors.js';
import { parseInsecureOptions, type GlobalOptions } from '../common/options.js';
import type { PodPlan, RunOptions, Stage0Env } from '../stage0/pod-run.js';
import { parseRunArgs, type RunArgs } from './run-args.js';
import { PREPARE_FLAGS, RUN_FLAGS } from './run-flags.js';

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function list(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
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

/**
 * `--net` values, checked (src/net/flags.ts: `host`, `none`, `default`, `default-restricted`, `all`, net.d
 * names with `:K=V;…` arguments). Without the flag: `default`, a private network per pod, as rkt since 0.9.
 */
async function netFlag(values: readonly string[]): Promise<string[]> {
  if (values.length === 0) return ['default'];
  const { parseNetFlags } = await import('../net/flags.js');
  parseNetFlags(values);
  return [...values];
}

/** `--dns`, `--dns-search`, `--dns-opt`, `--dns-domain`, `--hosts-entry`, checked (src/net/flags.ts). */
async function dnsFlags(pod: RunArgs['pod']): Promise<PodPlan['dns']> {
  const v = {
    dns: list(pod['dns']), dnsSearch: list(pod['dns-search']), dnsOpt: list(pod['dns-opt']),
    ...(str(pod['dns-domain']) !== undefined ? { dnsDomain: str(pod['dns-domain']) as string } : {}), hostsEntry: list(pod['hosts-entry']),
  };
  if (v.dns.length + v.dnsSearch.length + v.dnsOpt.length + v.hostsEntry.length === 0 && v.dnsDomain === undefined) return v;
  const { parseDnsFlags, parseHostsEntryFlags } = await import('../net/flags.js');
  if (parseDnsFlags(v).mode === 'default' && (v.dnsSearch.length > 0 || v.dnsOpt.length > 0 || v.dnsDomain !== undefined)) {
    // They would amend the CNI results' DNS, which is not written into the apps yet: refuse, never ignore.
    throw new UsageError('--dns-search, --dns-opt and --dns-domain need --dns=IP (the DNS of CNI results is not supported yet)');
  }
  parseHostsEntryFlags(v.hostsEntry);
  return v;
}

/** The words of `rkt run`/`rkt prepare` as a plan for stage0 (pure but for loading the pure parsers). */
async function toPlan(parsed: RunArgs): Promise<PodPlan> {
  const { parseAssignment, parseVolume, parseMount, parseIsolationFlags } = await import('../stage0/run-path.js');
  const pod = parsed.pod;
  const pullPolicy = str(pod['pull-policy']) ?? 'new';
  if (pullPolicy !== 'new' && pullPolicy !== 'update' && pullPolicy !== 'never') throw new UsageError(`bad --pull-policy "${pullPolicy}": want new, update or never`);
  const stage1 = (flag: string, key: string) => (str(pod[flag]) !== undefined ? { [key]: str(pod[flag]) as string } : {});
  return {
    apps: parsed.apps.map((a) => ({
      image: a.image, environment: a.environment.map((e) => parseAssignment('--environment', e)), mounts: a.mounts.map(parseMount), args: a.args,
      ...(a.exec !== undefined ? { exec: a.exec } : {}), ...(a.name !== undefined ? { name: a.name } : {}),
      ...(a.user !== undefined ? { user: a.user } : {}), ...(a.group !== undefined ? { group: a.group } : {}),
      ...(a.workingDir !== undefined ? { workingDir: a.workingDir } : {}),
      ...(a.isolation !== undefined ? { isolation: parseIsolationFlags(a.isolation) } : {}),
    })),
    volumes: list(pod['volume']).map(parseVolume),
    podMounts: parsed.podMounts.map(parseMount),
    setEnv: list(pod['set-env']).map((e) => parseAssignment('--set-env', e)),
    setEnvFiles: list(pod['set-env-file']),
    inheritEnv: pod['inherit-env'] === true,
    ...(str(pod['hostname']) !== undefined ? { hostname: str(pod['hostname']) as string } : {}),
    net: await netFlag(list(pod['net'])),
    netDefaulted: list(pod['net']).length === 0,
    ports: list(pod['port']),
    dns: await dnsFlags(pod),
    interactive: pod['interactive'] === true,
    noOverlay: pod['no-overlay'] === true,
    privateUsers: pod['private-users'] === true,
    pullPolicy,
    stage1: { ...stage1('stage1-path', 'path'), ...stage1('stage1-url', 'url'), ...stage1('stage1-name', 'name'), ...stage1('stage1-hash', 'hash'), ...stage1('stage1-from-dir', 'fromDir') },
    ...(str(pod['pod-manifest']) !== undefined ? { podManifestFile: str(pod['pod-manifest']) as string } : {}),
    ...(str(pod['uuid-file-save']) !== undefined ? { uuidFileSave: str(pod['uuid-file-save']) as string } : {}),
    mdsRegister: pod['mds-register'] === true,
  };
}

/** What the entry point gives a pod's launch: the stop request (SIGTERM, SIGINT) and the flush before an exec. */
export function entryHooks(ctx: CommandContext): Pick<RunOptions, 'onStopRequest' | 'beforeExec'> {
  return { ...(ctx.onStop !== undefined ? { onStopRequest: ctx.onStop } : {}), ...(ctx.io.flush !== undefined ? { beforeExec: ctx.io.flush } : {}) };
}

/** How `rkt run` places the pod: `--slice`, `--memory`, `--cpu`. */
function runOptions(pod: RunArgs['pod'], ctx: CommandContext): RunOptions {
  const slice = str(pod['slice']);
  if (slice !== undefined && !/^[A-Za-z0-9:_.\\-]+\.slice$/.test(slice)) throw new UsageError(`bad --slice "${slice}": want a slice unit name such as machine.slice`);
  const scopeProperties = [
    ...(str(pod['memory']) !== undefined ? [memoryMax(str(pod['memory']) as string)] : []),
    ...(str(pod['cpu']) !== undefined ? [cpuQuota(str(pod['cpu']) as string)] : []),
  ];
  return { ...(slice !== undefined ? { slice } : {}), scopeProperties, ...entryHooks(ctx) };
}

/** Where stage0 reports: warnings always, progress on a terminal or with --debug (never with prepare --quiet). */
export function stage0Env(globals: GlobalOptions, ctx: CommandContext, quiet = false): Stage0Env {
  return {
    globals,
    warn: (m) => ctx.io.stderr.write(`${m}\n`),
    progress: (m) => { if (!quiet && (globals.debug || ctx.io.stderr.isTTY === true)) ctx.io.stderr.write(`${m}\n`); },
  };
}

export const run: CommandSpec = {
  path: ['run'],
  operands: '[image..]',
  summary: 'Run image(s) in a pod',
  description: 'rkt run [pod flags] IMAGE [app flags] [-- ARGS] [--- IMAGE [app flags] [-- ARGS] ...]. '
    + "Exits with the first failing app's status, 0 if every app succeeded.",
  needsRoot: true,
  rawArgs: true,
  flags: RUN_FLAGS,
  run: async (_args, ctx) => {
    const parsed = parseRunArgs(ctx.rest, RUN_FLAGS);
    const globals = mergeGlobals(ctx.globals, parsed.pod);
    const plan = await toPlan(parsed);
    const options = runOptions(parsed.pod, ctx);
    const stage0 = await import('../stage0/run-path.js');
    if (parsed.pod['detach'] === true) {
      ctx.io.stdout.write(`${await stage0.runDetached(plan, options, stage0Env(globals, ctx))}\n`);
      return 0;
    }
    return stage0.run(plan, options, stage0Env(globals, ctx));
  },
};

export const prepare: CommandSpec = {
  path: ['prepare'],
  operands: '[image..]',
  summary: 'Prepare a pod to run later with "rkt run-prepared"; prints its UUID',
  needsRoot: true,
  rawArgs: true,
  flags: PREPARE_FLAGS,
  run: async (_args, ctx) => {
    const parsed = parseRunArgs(ctx.rest, PREPARE_FLAGS);
    const globals = mergeGlobals(ctx.globals, parsed.pod);
    const plan = await toPlan(parsed);
    const { prepare: preparePod } = await import('../stage0/run-path.js');
    ctx.io.stdout.write(`${await preparePod(plan, stage0Env(globals, ctx, parsed.pod['quiet'] === true))}\n`);
    return 0;
  },
};
