import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CommandSpec } from './command.js';
import { isErrno, RktError } from '../common/errors.js';
import { FORMAT_FLAG, outputFormat, renderJson } from './flags.js';
import { humanAgo, renderTable } from './render.js';
import { UsageError } from '../common/errors.js';

const FIELDS = ['uuid', 'app', 'image', 'state', 'created', 'started', 'networks', 'unit', 'machine'] as const;
type Field = (typeof FIELDS)[number];
const DEFAULT_FIELDS = 'uuid,app,image,state,created,started';

/** `--fields` as a list of known fields. Pure. */
export function parseFields(v: string): Field[] {
  const out: Field[] = [];
  for (const f of v.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    if (!(FIELDS as readonly string[]).includes(f)) throw new UsageError(`unknown field "${f}" in --fields: want some of ${FIELDS.join(', ')}`);
    out.push(f as Field);
  }
  if (out.length === 0) throw new UsageError(`--fields is empty: want some of ${FIELDS.join(', ')}`);
  return out;
}

interface Row {
  uuid: string; state: string; created?: Date; started?: Date; apps: readonly { name: string; image: string; id: string }[]; unit?: string; machine?: string;
  /** From the pod's net-info.json (src/net); undefined for a pod without networks of its own. */
  net?: import('../net/net-info.js').NetInfo;
}

export const command: CommandSpec = {
  path: ['list'],
  summary: 'List pods',
  needsRoot: false,
  flags: [
    FORMAT_FLAG,
    { name: 'full', kind: 'boolean', default: false, describe: 'full UUIDs, image IDs and exact times' },
    { name: 'no-legend', kind: 'boolean', default: false, describe: 'suppress the header line' },
    { name: 'fields', kind: 'string', default: DEFAULT_FIELDS, describe: `columns, of ${FIELDS.join(',')} (unit, machine: from machined, under systemd)` },
  ],
  run: async (args, ctx) => {
    const format = outputFormat(args['format']);
    const fields = parseFields(typeof args['fields'] === 'string' ? args['fields'] : DEFAULT_FIELDS);
    const wantSystemd = fields.includes('unit') || fields.includes('machine');
    // net-info.json is read only when networks are shown: most pods have none, and a thousand misses cost.
    const wantNet = format !== 'tabbed' || fields.includes('networks');
    const { CREATED_FILE, POD_MANIFEST } = await import('../pod/layout.js');
    const { listPods, readPodListing, readTimestamp } = await import('../pod/pods.js');
    // (and its module loaded only then)
    const net = wantNet ? await import('../net/net-info.js') : undefined;
    const rows: Row[] = [];
    for (const p of await listPods(ctx.globals.dir, ['started'])) {
      // What never changes once the pod is prepared (its created time, its apps) is in its list.json. A pod
      // without one (being created, or prepared by an earlier rkt) is read from its created file and manifest.
      let listing;
      try {
        listing = readPodListing(p.dir);
      } catch (err) {
        if (!(err instanceof RktError && err.code === 'EPODCORRUPT')) throw err;
        ctx.io.stderr.write(`rkt: warning: pod ${p.uuid}: ${err.message}: listing it from its pod manifest\n`);
      }
      const created = listing?.created ?? (await readTimestamp(p.dir, CREATED_FILE));
      let apps: Row['apps'] = listing?.apps ?? [];
      const file = `${p.dir}/${POD_MANIFEST}`;
      if (listing === undefined) {
        try {
          const { listedApps } = await import('./list-apps.js');
          apps = listedApps(readFileSync(file));
        } catch (err) {
          // A pod being created or collected has no manifest (yet, or any more): list it without apps. One whose
          // manifest is damaged is listed without apps too, with a warning: one bad pod must not hide the others.
          if (err instanceof RktError && err.code === 'EPODMANIFEST') ctx.io.stderr.write(`rkt: warning: pod ${p.uuid}: ${file}: ${err.message}\n`);
          else if (!isErrno(err, 'ENOENT')) throw err;
        }
      }
      let info: Row['net'];
      if (net !== undefined) {
        const netFile = path.join(p.dir, net.NET_INFO_FILE);
        try {
          // Read synchronously, as the pod's other small files (src/pod/pods.ts's readLine says why).
          info = net.parseNetInfo(netFile, readFileSync(netFile, 'utf8'));
        } catch (err) {
          // Like a damaged manifest: the pod is listed without networks, with a warning.
          if (isErrno(err, 'ENOENT')) info = undefined;
          else if (err instanceof RktError && err.code === 'ENETINFO') ctx.io.stderr.write(`rkt: warning: pod ${p.uuid}: ${err.message}\n`);
          else throw err;
        }
      }
      rows.push({
        uuid: p.uuid, state: p.state, apps, ...(created !== undefined ? { created } : {}), ...(p.started !== undefined ? { started: p.started } : {}),
        ...(info !== undefined ? { net: info } : {}),
      });
    }
    if (wantSystemd) await addMachines(rows, (m) => ctx.io.stderr.write(`rkt: warning: ${m}\n`));
    if (format !== 'tabbed') {
      ctx.io.stdout.write(renderJson(rows.map((r) => ({
        name: r.uuid, state: r.state, app_names: r.apps.map((a) => a.name),
        ...(r.created !== undefined ? { created_at: r.created.toISOString() } : {}),
        ...(r.started !== undefined ? { started_at: r.started.toISOString() } : {}),
        apps: r.apps.map((a) => ({ name: a.name, image_name: a.image, image_id: a.id })),
        networks: net?.networksJson(r.net) ?? [],
        ...(wantSystemd ? { machine: r.machine ?? null, unit: r.unit ?? null } : {}),
      })), format));
      return 0;
    }
    const full = args['full'] === true;
    const now = Date.now();
    const when = (d: Date | undefined) => (d === undefined ? '-' : full ? d.toISOString() : humanAgo(d, now));
    const header: string[] = [];
    for (const f of fields) {
      if (f === 'image') header.push('IMAGE NAME', ...(full ? ['IMAGE ID'] : []));
      else header.push(f.toUpperCase());
    }
    const lines: string[][] = [];
    for (const r of rows) {
      const apps = r.apps.length > 0 ? r.apps : [{ name: '-', image: '-', id: '' }];
      apps.forEach((a, i) => {
        const first = i === 0;
        const line: string[] = [];
        for (const f of fields) {
          if (f === 'uuid') line.push(first ? (full ? r.uuid : r.uuid.slice(0, 8)) : '');
          else if (f === 'app') line.push(a.name);
          else if (f === 'image') line.push(a.image, ...(full ? [a.id] : []));
          else if (f === 'state') line.push(first ? r.state : '');
          else if (f === 'created') line.push(first ? when(r.created) : '');
          else if (f === 'started') line.push(first ? when(r.started) : '');
          else if (f === 'networks') line.push(first ? net?.networksText(r.net) || '-' : '');
          else if (f === 'unit') line.push(first ? r.unit ?? '-' : '');
          else line.push(first ? r.machine ?? '-' : '');
        }
        lines.push(line);
      });
    }
    ctx.io.stdout.write(renderTable(header, lines, args['no-legend'] !== true));
    return 0;
  },
};

/**
 * Fill in each pod's machine and unit from machined (under systemd; otherwise they stay `-`). A running pod
 * machined does not know shows machine `none`; a machine whose pod is not running is warned about.
 */
async function addMachines(rows: Row[], warn: (m: string) => void): Promise<void> {
  const { systemdBooted } = await import('../systemd/detect.js');
  if (!(await systemdBooted())) return;
  const { rktMachines } = await import('../systemd/machined.js');
  let machines;
  try {
    machines = await rktMachines();
  } catch (err) {
    const { describe } = await import('../common/errors.js');
    warn(`cannot ask machined: ${describe(err)}`);
    return;
  }
  const seen = new Set<string>();
  for (const r of rows) {
    const m = machines.get(r.uuid);
    seen.add(r.uuid);
    if (m === undefined) {
      if (r.state === 'running') r.machine = 'none';
      continue;
    }
    r.machine = m.name;
    if (m.unit !== '') r.unit = m.unit;
    if (r.state !== 'running') warn(`machine ${m.name} is registered with machined but pod ${r.uuid} is ${r.state}`);
  }
  for (const [uuid, m] of machines) if (!seen.has(uuid)) warn(`machine ${m.name} is registered with machined but there is no pod ${uuid}`);
}
