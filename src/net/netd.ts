/**
 * Loading CNI network configurations from `<local-config>/net.d` and `<system-config>/net.d`.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RktError, describe, isErrno } from '../common/errors.js';
import { parseNetConf, type LoadedNetworks, type NetworkDef } from './networks.js';

async function readDir(dir: string): Promise<NetworkDef[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw new RktError('ENETCONF', `cannot read ${dir}: ${describe(err)}`, { cause: err });
  }
  const files = names.filter((n) => n.endsWith('.conf') || n.endsWith('.conflist')).sort();
  const defs: NetworkDef[] = [];
  for (const name of files) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      throw new RktError('ENETCONF', `cannot read network configuration ${file}: ${describe(err)}`, { cause: err });
    }
    const def = parseNetConf(file, text);
    const twin = defs.find((d) => d.name === def.name);
    if (twin !== undefined) throw new RktError('ENETCONF', `network "${def.name}" is defined twice: in ${twin.file ?? ''} and in ${file}`);
    defs.push(def);
  }
  return defs;
}

/**
 * The networks of `<localConfig>/net.d` and `<systemConfig>/net.d` (`*.conf`, `*.conflist`): a local network
 * replaces a system one of the same name; the result is in lexical order of file names. A missing directory
 * is empty; a bad file is an `ENETCONF` RktError naming it.
 */
export async function loadNetworks(localConfig: string, systemConfig: string): Promise<LoadedNetworks> {
  const localDir = path.join(localConfig, 'net.d');
  const systemDir = path.join(systemConfig, 'net.d');
  const [local, system] = await Promise.all([readDir(localDir), localDir === systemDir ? Promise.resolve([]) : readDir(systemDir)]);
  const merged = [...local, ...system.filter((s) => !local.some((l) => l.name === s.name))];
  merged.sort((a, b) => {
    const x = path.basename(a.file ?? '');
    const y = path.basename(b.file ?? '');
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return { networks: merged, dirs: localDir === systemDir ? [localDir] : [localDir, systemDir] };
}
