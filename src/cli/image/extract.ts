import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { CommandSpec, Args, CommandContext, FlagSpec } from '../command.js';
import { refuseExisting } from '../flags.js';

/** `extract` copies the image's own layer (dependencies ignored); `render` copies the rendered tree. */
async function copyOut(args: Args, ctx: CommandContext, rendered: boolean): Promise<number> {
  const dir = String(args['target']);
  const { Store } = await import('../../store/store.js');
  const { resolveImage } = await import('../../store/resolve.js');
  const { copyTree } = await import('../../common/fs-tree.js');
  const store = new Store(ctx.globals.dir);
  const rec = await resolveImage(store.layout, String(args['image']));
  await refuseExisting(dir, args['overwrite']);
  await fs.rm(dir, { recursive: true, force: true });
  const copy = (base: string) => copyTree(args['rootfs-only'] === true ? path.join(base, 'rootfs') : base, dir);
  // An OCI image's tree is its layers (an image of its own: extract and render are the same), rendered for the copy.
  if (rec.oci !== undefined) {
    const { withOciTree } = await import('../../store/oci.js');
    await withOciTree(store.layout, { ...rec, oci: rec.oci }, copy);
    return 0;
  }
  await copy(!rendered && rec.dependencies.length > 0 ? store.layout.layer(rec.id) : store.layout.tree(rec.id));
  return 0;
}

const flags: readonly FlagSpec[] = [
  { name: 'rootfs-only', kind: 'boolean', default: false, describe: 'copy only rootfs/, not the manifest' },
  { name: 'overwrite', kind: 'boolean', default: false, describe: 'replace DIR if it exists' },
];

export const extract: CommandSpec = {
  path: ['image', 'extract'],
  operands: '<image> <target>',
  summary: "Extract a stored image's own files to a directory (dependencies not included)",
  needsRoot: false,
  flags,
  run: (args, ctx) => copyOut(args, ctx, false),
};

export const render: CommandSpec = {
  path: ['image', 'render'],
  operands: '<image> <target>',
  summary: 'Render a stored image with its dependencies to a directory',
  needsRoot: false,
  flags,
  run: (args, ctx) => copyOut(args, ctx, true),
};
