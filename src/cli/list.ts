import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CommandSpec } from './command.js';
import { isErrno } from '../common/errors.js';
import { formatFlag, outputFormat, renderJson } from './flags.js';
import { humanAgo, renderTable } from './render.js';

interface Row { uuid: string; state: string; created?: Date; started?: Date; apps: { name: string; image: string; id: string }[] }

export const command: CommandSpec = {
  path: ['list'],
  summary: 'List pods',
  needsRoot: false,
  flags: (y) => formatFlag(y)
    .option('full', { type: 'boolean', default: false, describe: 'full UUIDs, image IDs and exact times' })
    .option('no-legend', { type: 'boolean', default: false, describe: 'suppress the header line' }),
  run: async (args, ctx) => {
    const format = outputFormat(args['format']);
    const { listPods } = await import('../pod/pods.js');
    const { POD_MANIFEST } = await import('../pod/layout.js');
    const rows: Row[] = [];
    for (const p of await listPods(ctx.globals.dir)) {
      let apps: Row['apps'] = [];
      try {
        const m = JSON.parse(await fs.readFile(path.join(p.dir, POD_MANIFEST), 'utf8')) as { apps?: { name: string; image: { name?: string; id: string } }[] };
        apps = (m.apps ?? []).map((a) => ({ name: a.name, image: a.image.name ?? '', id: a.image.id }));
      } catch (err) {
        // A pod being created or collected has no manifest (yet, or any more): list it without apps.
        if (!isErrno(err, 'ENOENT') && !(err instanceof SyntaxError)) throw err;
      }
      rows.push({ uuid: p.uuid, state: p.state, apps, ...(p.created !== undefined ? { created: p.created } : {}), ...(p.started !== undefined ? { started: p.started } : {}) });
    }
    if (format !== 'tabbed') {
      ctx.io.stdout.write(renderJson(rows.map((r) => ({
        name: r.uuid, state: r.state, app_names: r.apps.map((a) => a.name),
        ...(r.created !== undefined ? { created_at: r.created.toISOString() } : {}),
        ...(r.started !== undefined ? { started_at: r.started.toISOString() } : {}),
        apps: r.apps.map((a) => ({ name: a.name, image_name: a.image, image_id: a.id })),
      })), format));
      return 0;
    }
    const full = args['full'] === true;
    const now = Date.now();
    const when = (d: Date | undefined) => (d === undefined ? '-' : full ? d.toISOString() : humanAgo(d.toISOString(), now));
    const lines: string[][] = [];
    for (const r of rows) {
      const apps = r.apps.length > 0 ? r.apps : [{ name: '-', image: '-', id: '' }];
      apps.forEach((a, i) => {
        lines.push([i === 0 ? (full ? r.uuid : r.uuid.slice(0, 8)) : '', a.name, a.image, ...(full ? [a.id] : []),
          i === 0 ? r.state : '', i === 0 ? when(r.created) : '', i === 0 ? when(r.started) : '']);
      });
    }
    const header = ['UUID', 'APP', 'IMAGE NAME', ...(full ? ['IMAGE ID'] : []), 'STATE', 'CREATED', 'STARTED'];
    ctx.io.stdout.write(renderTable(header, lines, args['no-legend'] !== true));
    return 0;
  },
};
