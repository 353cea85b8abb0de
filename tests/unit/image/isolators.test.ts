import test from 'ava';
import { RktError } from '../../../src/common/errors.js';
import {
  findIsolator,
  isKnownIsolator,
  isolatorToJson,
  KNOWN_ISOLATOR_NAMES,
  LINUX_CAPABILITIES,
  parseQuantity,
  readIsolators,
  type Isolator,
} from '../../../src/image/isolators.js';
import { Field } from '../../../src/image/names.js';

const at = Field.root('EMANIFEST', 'image manifest').key('app').key('isolators');
const read = (isolators: unknown) => readIsolators(isolators, at);

/** One good value (from the appc spec where it has one) for every isolator appc defines. */
const GOOD: Isolator[] = [
  { name: 'resource/cpu', value: { request: '250m', limit: '500m' } },
  { name: 'resource/memory', value: { request: '1G', limit: '2G' } },
  { name: 'resource/block-bandwidth', value: { default: true, limit: '2M' } },
  { name: 'resource/block-iops', value: { default: true, limit: 1000 } },
  { name: 'resource/network-bandwidth', value: { default: true, limit: '1G' } },
  { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE'] } },
  { name: 'os/linux/no-new-privileges', value: true },
  { name: 'os/linux/seccomp-remove-set', value: { set: ['@docker/default-blacklist', 'reboot'], errno: 'ENOTSUP' } },
  { name: 'os/linux/oom-score-adj', value: -1000 },
  { name: 'os/linux/cpu-shares', value: 262144 },
];

test('every isolator appc defines reads back as given', (t) => {
  t.deepEqual(read(GOOD), GOOD);
  const others: Isolator[] = [
    { name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_SYS_CHROOT', 'CAP_MKNOD'] } },
    { name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } },
    { name: 'resource/memory', value: { limit: '512Mi' } },
    { name: 'resource/cpu', value: { request: 1 } },
    { name: 'os/linux/oom-score-adj', value: 1000 },
  ];
  for (const isolator of others) t.deepEqual(read([isolator]), [isolator]);
  t.is(KNOWN_ISOLATOR_NAMES.length, 12);
});

test('unknown isolators with AC Identifier names are kept with their value', (t) => {
  const unknown = [{ name: 'example.com/gpu', value: { count: 2, kinds: ['a', null] } }, { name: 'resource/pids', value: 64 }];
  const read1 = read(unknown);
  t.deepEqual(read1, unknown);
  t.false(isKnownIsolator(read1[0]!));
  t.true(isKnownIsolator(read(GOOD)[0]!));
});

test('findIsolator gives the typed value of a known isolator', (t) => {
  const isolators = read(GOOD);
  t.deepEqual(findIsolator(isolators, 'resource/memory'), { request: '1G', limit: '2G' });
  t.is(findIsolator(isolators, 'os/linux/oom-score-adj'), -1000);
  t.is(findIsolator(isolators, 'os/linux/capabilities-remove-set'), undefined);
});

test('the capability list is the kernel list', (t) => {
  t.is(LINUX_CAPABILITIES.length, 41);
  t.is(LINUX_CAPABILITIES[0], 'CAP_CHOWN');
  t.is(LINUX_CAPABILITIES[21], 'CAP_SYS_ADMIN');
  t.is(LINUX_CAPABILITIES[40], 'CAP_CHECKPOINT_RESTORE');
});

test('quantities in base units', (t) => {
  t.is(parseQuantity('500m'), 0.5);
  t.is(parseQuantity('100M'), 100e6);
  t.is(parseQuantity('1G'), 1e9);
  t.is(parseQuantity('1.5G'), 1.5e9);
  t.is(parseQuantity('125952Ki'), 128974848);
  t.is(parseQuantity('123Mi'), 128974848);
  t.is(parseQuantity('128974848'), 128974848);
  t.is(parseQuantity('1e3'), 1000);
  t.is(parseQuantity('.3'), 0.3);
  t.is(parseQuantity(1000), 1000);
  for (const bad of ['', '12X', '-1', '1 G', 'G', '1gi', '0x10']) t.is(parseQuantity(bad), undefined, bad);
  t.is(parseQuantity(-1), undefined);
  t.is(parseQuantity(Number.POSITIVE_INFINITY), undefined);
});

const bad: [string, unknown, string][] = [
  ['not a list', { name: 'resource/cpu' }, 'app.isolators: expected an array, got an object'],
  ['no name', [{ value: 1 }], 'app.isolators[0].name: required field is missing'],
  ['bad name', [{ name: 'Example.com/GPU', value: 1 }], 'app.isolators[0].name: "Example.com/GPU" is not a valid AC Identifier'],
  ['no value', [{ name: 'example.com/gpu' }], 'app.isolators[0].value: required field is missing'],
  ['cpu without request or limit', [{ name: 'resource/cpu', value: {} }], 'app.isolators[0].value: expected a "request" or a "limit", found neither'],
  [
    'memory limit not a quantity',
    [{ name: 'resource/memory', value: { limit: '12X' } }],
    'app.isolators[0].value.limit: "12X" is not a valid quantity (such as 500m, 100M or 1Gi)',
  ],
  [
    'negative request',
    [{ name: 'resource/memory', value: { request: -1 } }],
    'app.isolators[0].value.request: -1 is not a valid quantity (such as 500m, 100M or 1Gi)',
  ],
  ['quantity of the wrong type', [{ name: 'resource/cpu', value: { limit: true } }], 'app.isolators[0].value.limit: expected a quantity, got true'],
  ['resource value not an object', [{ name: 'resource/cpu', value: '1' }], 'app.isolators[0].value: expected an object, got "1"'],
  [
    'block bandwidth for some devices only',
    [{ name: 'resource/block-bandwidth', value: { default: false, limit: '1M' } }],
    'app.isolators[0].value.default: false is not supported (the limit must apply to all devices by default)',
  ],
  [
    'block iops without default',
    [{ name: 'resource/block-iops', value: { limit: 10 } }],
    'app.isolators[0].value.default: required field is missing',
  ],
  [
    'network bandwidth without limit',
    [{ name: 'resource/network-bandwidth', value: { default: true } }],
    'app.isolators[0].value.limit: required field is missing',
  ],
  [
    'network bandwidth with a request',
    [{ name: 'resource/network-bandwidth', value: { default: true, request: '1M', limit: '1G' } }],
    'app.isolators[0].value.request: this resource takes only a "limit"',
  ],
  [
    'unknown capability',
    [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE', 'CAP_FLY'] } }],
    'app.isolators[0].value.set[1]: "CAP_FLY" is not a Linux capability',
  ],
  [
    'capability in lowercase',
    [{ name: 'os/linux/capabilities-remove-set', value: { set: ['cap_chown'] } }],
    'app.isolators[0].value.set[0]: "cap_chown" is not a Linux capability',
  ],
  [
    'empty capability set',
    [{ name: 'os/linux/capabilities-retain-set', value: { set: [] } }],
    'app.isolators[0].value.set: an empty set is not allowed',
  ],
  [
    'capability set missing',
    [{ name: 'os/linux/capabilities-remove-set', value: {} }],
    'app.isolators[0].value.set: required field is missing',
  ],
  [
    'no-new-privileges not a boolean',
    [{ name: 'os/linux/no-new-privileges', value: 'true' }],
    'app.isolators[0].value: expected a boolean, got "true"',
  ],
  ['oom-score-adj too high', [{ name: 'os/linux/oom-score-adj', value: 1001 }], 'app.isolators[0].value: 1001 is not between -1000 and 1000'],
  ['oom-score-adj too low', [{ name: 'os/linux/oom-score-adj', value: -1001 }], 'app.isolators[0].value: -1001 is not between -1000 and 1000'],
  ['oom-score-adj not an integer', [{ name: 'os/linux/oom-score-adj', value: 1.5 }], 'app.isolators[0].value: expected an integer, got 1.5'],
  ['cpu-shares below 2', [{ name: 'os/linux/cpu-shares', value: 1 }], 'app.isolators[0].value: 1 is not between 2 and 262144'],
  [
    'seccomp errno not an errno',
    [{ name: 'os/linux/seccomp-remove-set', value: { set: ['reboot'], errno: 'eperm' } }],
    'app.isolators[0].value.errno: "eperm" is not an errno name such as "EPERM"',
  ],
  [
    'seccomp entry not a syscall',
    [{ name: 'os/linux/seccomp-retain-set', value: { set: ['read', 'Write Me'] } }],
    'app.isolators[0].value.set[1]: "Write Me" is not a syscall name or an @group',
  ],
  [
    'empty seccomp set',
    [{ name: 'os/linux/seccomp-retain-set', value: { set: [] } }],
    'app.isolators[0].value.set: an empty set is not allowed',
  ],
  [
    'duplicate known isolator',
    [{ name: 'resource/memory', value: { limit: '1G' } }, { name: 'resource/memory', value: { limit: '2G' } }],
    'app.isolators[1].name: duplicate isolator "resource/memory"',
  ],
  [
    'capability retain and remove sets together',
    [
      { name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_MKNOD'] } },
      { name: 'os/linux/no-new-privileges', value: true },
      { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_CHOWN'] } },
    ],
    'app.isolators[2].name: "os/linux/capabilities-retain-set" cannot be combined with "os/linux/capabilities-remove-set"',
  ],
  [
    'seccomp retain and remove sets together',
    [
      { name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } },
      { name: 'os/linux/seccomp-remove-set', value: { set: ['reboot'] } },
    ],
    'app.isolators[1].name: "os/linux/seccomp-remove-set" cannot be combined with "os/linux/seccomp-retain-set"',
  ],
];
for (const [title, isolators, message] of bad) {
  test(`bad isolators: ${title}`, (t) => {
    t.throws(() => read(isolators), { instanceOf: RktError, code: 'EMANIFEST', message: `invalid image manifest: ${message}` });
  });
}

test('unknown isolators may repeat: appc leaves their meaning to whoever knows them', (t) => {
  const twice = [{ name: 'example.com/x', value: 1 }, { name: 'example.com/x', value: 2 }];
  t.deepEqual(read(twice), twice);
});

test('isolatorToJson writes known values with keys in spec order', (t) => {
  const built: Isolator = { name: 'resource/memory', value: { limit: '2G', request: '1G' } };
  t.is(JSON.stringify(isolatorToJson(built)), '{"name":"resource/memory","value":{"request":"1G","limit":"2G"}}');
  const seccomp: Isolator = { name: 'os/linux/seccomp-remove-set', value: { errno: 'EPERM', set: ['reboot'] } };
  t.is(JSON.stringify(isolatorToJson(seccomp)), '{"name":"os/linux/seccomp-remove-set","value":{"set":["reboot"],"errno":"EPERM"}}');
  t.deepEqual(GOOD.map(isolatorToJson), GOOD);
});
