/**
 * Running CNI plugins, as the CNI spec says: the plugin binary found in `CNI_PATH`, `CNI_*` in its
 * environment, its configuration as JSON on stdin, its result (or error `{code, msg, details}`) as JSON on
 * stdout. The only code that executes plugins. Plugins act on the caller's network namespace as the host side.
 */
import { spawn } from 'node:child_process';
import { promises as fs, constants as fsc } from 'node:fs';
import path from 'node:path';
import { RktError, isErrno } from '../common/errors.js';
import type { NetConfList, PluginConf } from './networks.js';

/** Where Debian's containernetworking-plugins live. */
export const DEFAULT_CNI_PATH: readonly string[] = ['/usr/lib/cni'];

/** What one plugin invocation is about (the `CNI_*` variables but the command). */
export interface CniRuntime {
  readonly containerId: string;
  /** The pod's network namespace (a path). */
  readonly netns: string;
  readonly ifName: string;
  /** `CNI_ARGS`. */
  readonly args: string;
  /** Directories searched for plugins, in order (`CNI_PATH`). */
  readonly cniPath: readonly string[];
  /** Values for the plugins' declared capabilities, e.g. `{ portMappings: [...] }`. */
  readonly capabilities?: Readonly<Record<string, unknown>>;
}

/**
 * The path of plugin `type` in `cniPath`. A missing plugin is an `ECNIPLUGIN` RktError naming the directories
 * and the Debian package.
 */
export async function findPlugin(type: string, cniPath: readonly string[]): Promise<string> {
  for (const dir of cniPath) {
    const file = path.join(dir, type);
    try {
      await fs.access(file, fsc.X_OK);
      return file;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'EACCES') || isErrno(err, 'ENOTDIR')) continue;
      throw err;
    }
  }
  throw new RktError('ECNIPLUGIN', `CNI plugin "${type}" not found in CNI_PATH ${cniPath.join(':')}`, {
    hint: 'install the Debian package containernetworking-plugins (it puts the plugins in /usr/lib/cni)',
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The configuration a plugin of a list gets: the list's name and version, prevResult, runtimeConfig. */
export function pluginInput(list: NetConfList, plugin: PluginConf, prevResult: unknown, capabilities: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const input: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const caps = plugin['capabilities'];
  if (isObject(caps) && capabilities !== undefined) {
    const rc: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(capabilities)) if (caps[k] === true) rc[k] = v;
    if (Object.keys(rc).length > 0) input['runtimeConfig'] = rc;
  }
  if (prevResult !== undefined) input['prevResult'] = prevResult;
  return input;
}

interface Ran { readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: string; readonly stderr: string }

function runPlugin(file: string, env: NodeJS.ProcessEnv, input: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    // A plugin that exits before reading its configuration closes the pipe: its exit status tells the story.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => { if (err.code !== 'EPIPE') reject(err); });
    child.stdin.end(input);
  });
}

/**
 * Run one plugin of network `list` with `command`; returns its parsed result (undefined for DEL/CHECK, which
 * print none). A failure is an `ECNI` RktError carrying the plugin's own message.
 */
export async function execPlugin(command: 'ADD' | 'DEL' | 'CHECK', list: NetConfList, plugin: PluginConf, rt: CniRuntime, prevResult?: unknown): Promise<unknown> {
  const file = await findPlugin(plugin.type, rt.cniPath);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CNI_')) env[k] = v;
  env['PATH'] ??= '/usr/sbin:/usr/bin:/sbin:/bin';
  Object.assign(env, {
    CNI_COMMAND: command, CNI_CONTAINERID: rt.containerId, CNI_NETNS: rt.netns, CNI_IFNAME: rt.ifName,
    CNI_ARGS: rt.args, CNI_PATH: rt.cniPath.join(':'),
  });
  const input = JSON.stringify(pluginInput(list, plugin, prevResult, rt.capabilities));
  const ran = await runPlugin(file, env, input);
  const what = `network "${list.name}": CNI plugin ${plugin.type} ${command} (${rt.ifName})`;
  if (ran.code !== 0) {
    let msg: string | undefined;
    try {
      const e: unknown = JSON.parse(ran.stdout);
      if (isObject(e) && typeof e['msg'] === 'string') {
        msg = e['msg'] + (typeof e['details'] === 'string' && e['details'] !== '' ? `: ${e['details']}` : '');
        if (typeof e['code'] === 'number') msg += ` (CNI error ${e['code']})`;
      }
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
    }
    msg ??= (ran.stderr.trim() || ran.stdout.trim() || 'no output').split('\n').slice(-3).join('; ');
    const how = ran.signal !== null ? `killed by ${ran.signal}` : `failed`;
    throw new RktError('ECNI', `${what} ${how}: ${msg}`);
  }
  if (command !== 'ADD') return undefined;
  try {
    return JSON.parse(ran.stdout) as unknown;
  } catch (err) {
    if (err instanceof SyntaxError) throw new RktError('ECNI', `${what} printed no JSON result: ${ran.stdout.slice(0, 200)}`, { cause: err });
    throw err;
  }
}

/** ADD a whole network: each plugin in order, each given the previous one's result; returns the last result. */
export async function addNetwork(list: NetConfList, rt: CniRuntime): Promise<unknown> {
  let prev: unknown;
  for (const plugin of list.plugins) prev = await execPlugin('ADD', list, plugin, rt, prev);
  return prev;
}

/**
 * DEL a whole network: each plugin in reverse order, each given `prevResult` (the ADD's result, if it got
 * that far). Every plugin is tried; the first failure is thrown after the others have run.
 */
export async function delNetwork(list: NetConfList, rt: CniRuntime, prevResult?: unknown): Promise<void> {
  // prevResult on DEL came with CNI 0.4.0; older plugins may choke on it.
  const prev = list.cniVersion === '0.4.0' || list.cniVersion === '1.0.0' ? prevResult : undefined;
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await execPlugin('DEL', list, plugin, rt, prev);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
