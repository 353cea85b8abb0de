import type { CommandSpec } from './command.js';
import type { Config } from '../common/config.js';

/** One entry of `rkt config`'s output: a valid configuration file's content, as rkt 1.x printed them. */
export type ConfigEntry = Readonly<Record<string, unknown>> & { readonly rktVersion: 'v1'; readonly rktKind: string };

/**
 * The document `rkt config` prints: `{"stage0": [...]}` with one `auth` entry per domain and one `dockerAuth`
 * entry per registry (each sorted), then `paths` and `stage1`. `defaults` fill what no file sets: the data
 * directory and the stage1 image rkt uses. Credentials are printed as configured, as rkt 1.x did. Pure.
 */
export function renderConfig(c: Config, defaults: { readonly data: string; readonly stage1Location: string }): { stage0: ConfigEntry[] } {
  const stage0: ConfigEntry[] = [];
  const sorted = <T>(m: ReadonlyMap<string, T>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [domain, cred] of sorted(c.auth)) {
    const credentials = cred.type === 'basic' ? { user: cred.user, password: cred.password } : { token: cred.token };
    stage0.push({ rktVersion: 'v1', rktKind: 'auth', domains: [domain], type: cred.type, credentials });
  }
  for (const [registry, cred] of sorted(c.dockerAuth)) {
    stage0.push({ rktVersion: 'v1', rktKind: 'dockerAuth', registries: [registry], credentials: { user: cred.user, password: cred.password } });
  }
  stage0.push({
    rktVersion: 'v1', rktKind: 'paths', data: c.paths.data ?? defaults.data,
    ...(c.paths.stage1Images !== undefined ? { 'stage1-images': c.paths.stage1Images } : {}),
  });
  stage0.push({
    rktVersion: 'v1', rktKind: 'stage1',
    ...(c.stage1.name !== undefined ? { name: c.stage1.name } : {}),
    ...(c.stage1.version !== undefined ? { version: c.stage1.version } : {}),
    location: c.stage1.location ?? defaults.stage1Location,
  });
  return { stage0 };
}

export const command: CommandSpec = {
  path: ['config'],
  summary: 'Print the configuration of each rkt stage in JSON',
  description: 'Merges the system (--system-config) and local (--local-config) configuration directories, local '
    + 'overriding system: paths.d/*.json, stage1.d/*.json and auth.d/*.json. Credentials are printed as configured.',
  needsRoot: false,
  flags: [],
  run: async (_args, ctx) => {
    const { readConfig } = await import('../common/config.js');
    const { defaultStage1Path } = await import('../stage0/stage1-image.js');
    const config = await readConfig(ctx.globals);
    ctx.io.stdout.write(`${JSON.stringify(renderConfig(config, { data: ctx.globals.dir, stage1Location: defaultStage1Path() }), null, 2)}\n`);
    return 0;
  },
};
