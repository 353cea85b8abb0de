/**
 * Image labels: the `[{name, value}]` lists of image manifests, dependencies and pod manifests, with appc's rules
 * for the well-known `os`, `arch` and `version` labels, and this machine's own os/arch in appc's spelling.
 */
import { endianness } from 'node:os';
import { RktError } from '../common/errors.js';
import { ObjectReader, readAcIdentifier, readNamedList, readString, show, type Reader } from './names.js';

export interface Label {
  readonly name: string;
  readonly value: string;
}

/** The os/arch combinations appc accepts (appc's `ValidOSArch`), in appc's spelling. */
export const VALID_OS_ARCH: Readonly<Record<string, readonly string[]>> = {
  linux: ['amd64', 'i386', 'aarch64', 'aarch64_be', 'armv6l', 'armv7l', 'armv7b', 'ppc64', 'ppc64le', 's390x'],
  freebsd: ['amd64', 'i386', 'arm'],
  darwin: ['x86_64', 'i386'],
};

/** True if `os` is in the validity table and, when given, `arch` is one of its architectures. */
export function isValidOsArch(os: string, arch?: string): boolean {
  const arches = Object.hasOwn(VALID_OS_ARCH, os) ? VALID_OS_ARCH[os] : undefined;
  return arches !== undefined && (arch === undefined || arches.includes(arch));
}

const readLabel: Reader<Label> = (value, at) => {
  const o = ObjectReader.of(value, at);
  const name = o.required('name', readAcIdentifier);
  if (name === 'name') at.key('name').fail('"name" is reserved for the image name and cannot be a label');
  return { name, value: o.required('value', readString) };
};

/**
 * Reads a label list: names are unique AC Identifiers other than `name`; `os` is in the validity table, `arch` is
 * valid for that `os` and never given without it; `version` is not empty.
 */
export const readLabels: Reader<readonly Label[]> = (value, at) => {
  const labels = readNamedList(readLabel, 'label')(value, at);
  const find = (name: string) => {
    const index = labels.findIndex((l) => l.name === name);
    const label = labels[index];
    return label === undefined ? undefined : { value: label.value, at: at.index(index) };
  };
  const os = find('os');
  const arch = find('arch');
  const version = find('version');
  if (os !== undefined && !isValidOsArch(os.value)) {
    const supported = Object.keys(VALID_OS_ARCH).join(', ');
    os.at.key('value').fail(`${show(os.value)} is not a supported os (supported: ${supported})`);
  }
  if (arch !== undefined && os === undefined) arch.at.key('name').fail('"arch" is given without an "os" label');
  if (arch !== undefined && os !== undefined && !isValidOsArch(os.value, arch.value)) {
    const valid = (VALID_OS_ARCH[os.value] ?? []).join(', ');
    arch.at.key('value').fail(`${show(arch.value)} is not a valid arch for os ${show(os.value)} (valid: ${valid})`);
  }
  if (version !== undefined && version.value === '') {
    version.at.key('value').fail('"" is not a valid version (it must not be empty)');
  }
  return labels;
};

export interface OsArch {
  readonly os: string;
  readonly arch: string;
}

/** What `appcOsArch` needs to know beyond node's platform and arch names. */
export interface CpuDetails {
  /** `process.config.variables.arm_version` on 32-bit ARM: `'6'` or `'7'`. */
  readonly armVersion?: string | undefined;
  readonly endianness: 'BE' | 'LE';
}

/**
 * Node's platform/arch (`linux`/`x64`) in appc's spelling (`linux`/`amd64`), or undefined when the pair has no
 * entry in the validity table (darwin on arm64, linux on riscv64, …).
 */
export function appcOsArch(platform: string, arch: string, cpu: CpuDetails): OsArch | undefined {
  const bigEndian = cpu.endianness === 'BE';
  let appcArch: string | undefined;
  switch (arch) {
    case 'x64': appcArch = platform === 'darwin' ? 'x86_64' : 'amd64'; break;
    case 'ia32': appcArch = 'i386'; break;
    case 'arm64': appcArch = bigEndian ? 'aarch64_be' : 'aarch64'; break;
    case 'arm':
      if (platform !== 'linux') appcArch = 'arm';
      else if (bigEndian) appcArch = 'armv7b';
      else appcArch = cpu.armVersion === '6' ? 'armv6l' : 'armv7l';
      break;
    case 'ppc64': appcArch = bigEndian ? 'ppc64' : 'ppc64le'; break;
    case 's390x': appcArch = 's390x'; break;
    default: appcArch = undefined;
  }
  return appcArch !== undefined && isValidOsArch(platform, appcArch) ? { os: platform, arch: appcArch } : undefined;
}

/** This machine's os/arch in appc's spelling (the default `os` and `arch` labels); throws EUNSUPPORTED if none. */
export function defaultOsArch(): OsArch {
  const variables: Readonly<Record<string, unknown>> = process.config.variables;
  const armVersion = variables['arm_version'];
  const found = appcOsArch(process.platform, process.arch, {
    armVersion: typeof armVersion === 'string' ? armVersion : undefined,
    endianness: endianness(),
  });
  if (found === undefined) {
    const machine = `${process.platform}/${process.arch}`;
    throw new RktError('EUNSUPPORTED', `this machine (${machine}) has no os/arch pair in appc's validity table`);
  }
  return found;
}
