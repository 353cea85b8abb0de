import test from 'ava';
import { RktError } from '../../../src/common/errors.js';
import { appcOsArch, defaultOsArch, isValidOsArch, readLabels, VALID_OS_ARCH } from '../../../src/image/labels.js';
import { Field } from '../../../src/image/names.js';

const at = Field.root('EMANIFEST', 'image manifest').key('labels');
const read = (labels: unknown) => readLabels(labels, at);
const fails = (labels: unknown, message: string) => ({
  labels,
  message: `invalid image manifest: ${message}`,
});

test('a label list keeps its order and values', (t) => {
  const labels = [
    { name: 'version', value: '1.0.0' },
    { name: 'arch', value: 'amd64' },
    { name: 'os', value: 'linux' },
    { name: 'example.com/channel', value: '' },
  ];
  t.deepEqual(read(labels), labels);
  t.deepEqual(read([]), []);
});

test('every os/arch pair in the appc table is accepted', (t) => {
  const pairs = Object.entries(VALID_OS_ARCH).flatMap(([os, arches]) => arches.map((arch) => [os, arch] as const));
  t.is(pairs.length, 15);
  for (const [os, arch] of pairs) {
    t.notThrows(() => read([{ name: 'os', value: os }, { name: 'arch', value: arch }]), `${os}/${arch}`);
    t.true(isValidOsArch(os, arch));
  }
  t.notThrows(() => read([{ name: 'os', value: 'darwin' }]));
  t.true(isValidOsArch('freebsd'));
});

test('isValidOsArch rejects pairs outside the table', (t) => {
  t.false(isValidOsArch('linux', 'x86_64'));
  t.false(isValidOsArch('darwin', 'amd64'));
  t.false(isValidOsArch('windows'));
  t.false(isValidOsArch('toString'));
});

const badLists = [
  fails({ name: 'os', value: 'linux' }, 'labels: expected an array, got an object'),
  fails(['os=linux'], 'labels[0]: expected an object, got "os=linux"'),
  fails([{ value: 'linux' }], 'labels[0].name: required field is missing'),
  fails([{ name: 'os' }], 'labels[0].value: required field is missing'),
  fails([{ name: 'OS', value: 'linux' }], 'labels[0].name: "OS" is not a valid AC Identifier'),
  fails([{ name: 'channel', value: 1 }], 'labels[0].value: expected a string, got 1'),
  fails([{ name: 'name', value: 'x' }], 'labels[0].name: "name" is reserved for the image name and cannot be a label'),
  fails(
    [{ name: 'os', value: 'linux' }, { name: 'os', value: 'linux' }],
    'labels[1].name: duplicate label "os"',
  ),
  fails([{ name: 'os', value: 'windows' }], 'labels[0].value: "windows" is not a supported os (supported: linux, freebsd, darwin)'),
  fails(
    [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'x86_64' }],
    'labels[1].value: "x86_64" is not a valid arch for os "linux" ' +
      '(valid: amd64, i386, aarch64, aarch64_be, armv6l, armv7l, armv7b, ppc64, ppc64le, s390x)',
  ),
  fails(
    [{ name: 'arch', value: 'amd64' }, { name: 'os', value: 'darwin' }],
    'labels[0].value: "amd64" is not a valid arch for os "darwin" (valid: x86_64, i386)',
  ),
  fails([{ name: 'version', value: '1' }, { name: 'arch', value: 'amd64' }], 'labels[1].name: "arch" is given without an "os" label'),
  fails([{ name: 'version', value: '' }], 'labels[0].value: "" is not a valid version (it must not be empty)'),
];
for (const { labels, message } of badLists) {
  test(`bad label list: ${message}`, (t) => {
    t.throws(() => read(labels), { instanceOf: RktError, code: 'EMANIFEST', message });
  });
}

test('node platform/arch in appc spelling', (t) => {
  const le = { endianness: 'LE' } as const;
  const be = { endianness: 'BE' } as const;
  t.deepEqual(appcOsArch('linux', 'x64', le), { os: 'linux', arch: 'amd64' });
  t.deepEqual(appcOsArch('linux', 'ia32', le), { os: 'linux', arch: 'i386' });
  t.deepEqual(appcOsArch('linux', 'arm64', le), { os: 'linux', arch: 'aarch64' });
  t.deepEqual(appcOsArch('linux', 'arm64', be), { os: 'linux', arch: 'aarch64_be' });
  t.deepEqual(appcOsArch('linux', 'arm', { ...le, armVersion: '6' }), { os: 'linux', arch: 'armv6l' });
  t.deepEqual(appcOsArch('linux', 'arm', { ...le, armVersion: '7' }), { os: 'linux', arch: 'armv7l' });
  t.deepEqual(appcOsArch('linux', 'arm', be), { os: 'linux', arch: 'armv7b' });
  t.deepEqual(appcOsArch('linux', 'ppc64', le), { os: 'linux', arch: 'ppc64le' });
  t.deepEqual(appcOsArch('linux', 'ppc64', be), { os: 'linux', arch: 'ppc64' });
  t.deepEqual(appcOsArch('linux', 's390x', be), { os: 'linux', arch: 's390x' });
  t.deepEqual(appcOsArch('freebsd', 'x64', le), { os: 'freebsd', arch: 'amd64' });
  t.deepEqual(appcOsArch('freebsd', 'arm', le), { os: 'freebsd', arch: 'arm' });
  t.deepEqual(appcOsArch('darwin', 'x64', le), { os: 'darwin', arch: 'x86_64' });
  t.deepEqual(appcOsArch('darwin', 'ia32', le), { os: 'darwin', arch: 'i386' });
});

test('platforms outside the appc table have no spelling', (t) => {
  t.is(appcOsArch('darwin', 'arm64', { endianness: 'LE' }), undefined);
  t.is(appcOsArch('linux', 'riscv64', { endianness: 'LE' }), undefined);
  t.is(appcOsArch('win32', 'x64', { endianness: 'LE' }), undefined);
  t.is(appcOsArch('freebsd', 'arm64', { endianness: 'LE' }), undefined);
});

test('this machine has a valid default os/arch', (t) => {
  const expected = appcOsArch(process.platform, process.arch, { endianness: 'LE' });
  if (expected === undefined) {
    t.throws(() => defaultOsArch(), { instanceOf: RktError, code: 'EUNSUPPORTED' });
    return;
  }
  const { os, arch } = defaultOsArch();
  t.true(isValidOsArch(os, arch), `${os}/${arch}`);
  t.is(os, process.platform);
  if (process.platform === 'linux' && process.arch === 'x64') t.is(arch, 'amd64');
});
