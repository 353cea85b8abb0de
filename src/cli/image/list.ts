import type { CommandSpec } from '../command.js';
import { UsageError } from '../../common/errors.js';
import { FORMAT_FLAG, outputFormat, renderJson } from '../flags.js';
import { humanAgo, humanSize, renderTable } from '../render.js';
import type { ImageRecord } from '../../store/records.js';

const FIELDS = ['id', 'name', 'importtime', 'lastused', 'size', 'latest'] as const;
type Field = (typeof FIELDS)[number];
const HEADERS: Record<Field, string> = { id: 'ID', name: 'NAME', importtime: 'IMPORT TIME', lastused: 'LAST USED', size: 'SIZE', latest: 'LATEST' };

/** The name as rkt shows it: with the version label, `example.com/app:1.0`. */
function displayName(r: ImageRecord): string {
  const v = r.labels.find((l) => l.name === 'version')?.value;
  return v === undefined ? r.name : `${r.name}:${v}`;
}

/** One cell of the table, for humans; `short` is the short form of an Image ID (store/resolve.ts's shortId). */
export function cell(r: ImageRecord, f: Field, full: boolean, now: number, short: (id: string) => string): string {
  switch (f) {
    case 'id': return full ? r.id : short(r.id);
    case 'name': return displayName(r);
    case 'importtime': return full ? r.importTime : humanAgo(r.importTime, now);
    case 'lastused': return full ? r.lastUsed : humanAgo(r.lastUsed, now);
    case 'size': return full ? String(r.treeSize) : humanSize(r.treeSize);
    case 'latest': return String(r.latest);
  }
}

export const command: CommandSpec = {
  path: ['image', 'list'],
  summary: 'List images in the local store',
  needsRoot: false,
  flags: [
    FORMAT_FLAG,
    { name: 'fields', kind: 'string', default: 'id,name,size,importtime,lastused', describe: `comma-separated fields: ${FIELDS.join(',')}` },
    { name: 'full', kind: 'boolean', default: false, describe: 'full IDs, exact times and sizes in bytes' },
    { name: 'no-legend', kind: 'boolean', default: false, describe: 'suppress the header line' },
  ],
  run: async (args, ctx) => {
    const fields = String(args['fields']).split(',').map((f) => f.trim().toLowerCase()).filter((f) => f !== '');
    for (const f of fields) if (!(FIELDS as readonly string[]).includes(f)) throw new UsageError(`unknown field "${f}" in --fields: want ${FIELDS.join(', ')}`);
    const format = outputFormat(args['format']);
    const { StoreLayout } = await import('../../store/layout.js');
    const { listRecords } = await import('../../store/records.js');
    const { shortId } = await import('../../store/resolve.js');
    const records = await listRecords(new StoreLayout(ctx.globals.dir));
    if (format !== 'tabbed') {
      ctx.io.stdout.write(renderJson(records.map((r) => ({
        id: r.id, name: displayName(r), importtime: r.importTime, lastused: r.lastUsed, size: r.treeSize, latest: r.latest,
      })), format));
      return 0;
    }
    const now = Date.now();
    const fs = fields as Field[];
    ctx.io.stdout.write(renderTable(fs.map((f) => HEADERS[f]), records.map((r) => fs.map((f) => cell(r, f, args['full'] === true, now, shortId))), args['no-legend'] !== true && args['legend'] !== false));
    return 0;
  },
};
