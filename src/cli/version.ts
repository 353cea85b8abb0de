import type { CommandSpec } from './command.js';
import { APPC_VERSION, FEATURES, RKT_VERSION } from '../common/version.js';

/** The lines `rkt version` prints; drivers parse `rkt Version: X.Y.Z` and `appc Version: X.Y.Z`. */
export function versionLines(nodeVersion: string): string[] {
  return [
    `rkt Version: ${RKT_VERSION}`,
    `appc Version: ${APPC_VERSION}`,
    `Node Version: ${nodeVersion}`,
    `Features: ${FEATURES.join(' ')}`,
  ];
}

export const command: CommandSpec = {
  path: ['version'],
  summary: 'Print the version and exit',
  needsRoot: false,
  run: async (_args, ctx) => {
    ctx.io.stdout.write(versionLines(process.version).join('\n') + '\n');
    return 0;
  },
};
