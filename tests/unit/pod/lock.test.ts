import test from 'ava';
import { devMajorMinor, flocksOn, fsTypesOfDevice, parseProcLocks } from '../../../src/pod/lock.js';
import { POD_DIRS, dirStateOf, stateOf } from '../../../src/pod/layout.js';

const SAMPLE = `1: POSIX  ADVISORY  WRITE 812 00:1a:1043 0 EOF
2: FLOCK  ADVISORY  WRITE 5775 fe:00:2171923 0 EOF
2: -> FLOCK  ADVISORY  WRITE 5790 fe:00:2171923 0 EOF
3: OFDLCK ADVISORY  READ -1 00:06:9 0 EOF
4: FLOCK  ADVISORY  READ 901 103:02:18446744073709551615 0 EOF
5: LEASE  ACTIVE    READ 1200 00:1a:77 0 EOF
6: POSIX  ADVISORY  READ 44 <none> 0 EOF
not a lock line
7: FLOCK  ADVISORY  WRITE 6001 fe:00:12
`;

test('parseProcLocks reads each lock line, waiters included and marked', (t) => {
  const locks = parseProcLocks(SAMPLE);
  t.deepEqual(
    locks.map((l) => [l.type, l.blocked, l.access, l.pid, l.major, l.minor, l.inode]),
    [
      ['POSIX', false, 'WRITE', 812, 0, 0x1a, 1043n],
      ['FLOCK', false, 'WRITE', 5775, 0xfe, 0, 2171923n],
      ['FLOCK', true, 'WRITE', 5790, 0xfe, 0, 2171923n],
      ['OFDLCK', false, 'READ', -1, 0, 6, 9n],
      ['FLOCK', false, 'READ', 901, 0x103, 2, 18446744073709551615n],
      ['LEASE', false, 'READ', 1200, 0, 0x1a, 77n],
      ['FLOCK', false, 'WRITE', 6001, 0xfe, 0, 12n],
    ],
  );
  t.is(locks[1]?.mode, 'ADVISORY');
  t.deepEqual(parseProcLocks(''), []);
});

test('parseProcLocks accepts the deeper indentation of nested waiters', (t) => {
  const [l] = parseProcLocks('9:  -> FLOCK  ADVISORY  WRITE 77 08:01:5 0 EOF\n');
  t.is(l?.blocked, true);
  t.is(l?.inode, 5n);
});

/** The Linux / glibc dev_t encoding, written independently of devMajorMinor to test it. */
function makedev(major: bigint, minor: bigint): bigint {
  return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
}

test('devMajorMinor decodes st_dev as Linux encodes it', (t) => {
  t.deepEqual(devMajorMinor(65024n), { major: 254, minor: 0 }); // 0xfe00: what /proc/locks prints as fe:00
  t.deepEqual(devMajorMinor(2049n), { major: 8, minor: 1 });
  t.deepEqual(devMajorMinor(66305n), { major: 259, minor: 1 });
  t.deepEqual(devMajorMinor(0n), { major: 0, minor: 0 });
  for (const [maj, min] of [[0n, 300n], [4095n, 255n], [4096n, 256n], [0x12345n, 0x54321n], [0xfffffn, 0xfffffn], [0xffffffffn, 0xffffffffn]] as const) {
    t.deepEqual(devMajorMinor(makedev(maj, min)), { major: Number(maj), minor: Number(min) }, `${maj}:${min}`);
  }
});

test('flocksOn matches granted FLOCK entries by device and inode only', (t) => {
  const locks = parseProcLocks(SAMPLE);
  t.deepEqual(flocksOn(locks, { dev: 65024n, ino: 2171923n }).map((l) => l.pid), [5775]);
  t.deepEqual(flocksOn(locks, { dev: makedev(0x103n, 2n), ino: 18446744073709551615n }).map((l) => l.pid), [901]);
  t.deepEqual(flocksOn(locks, { dev: makedev(0n, 0x1an), ino: 1043n }), [], 'POSIX locks are not pod locks');
  t.deepEqual(flocksOn(locks, { dev: 65024n, ino: 2171924n }), []);
  t.deepEqual(flocksOn(locks, { dev: 65025n, ino: 2171923n }), []);
});

test('a pod state is its directory plus whether its lock is held', (t) => {
  t.deepEqual(POD_DIRS.map((d) => [d, stateOf(d, true), stateOf(d, false)]), [
    ['embryo', 'embryo', 'embryo'],
    ['prepare', 'preparing', 'aborted-prepare'],
    ['prepared', 'prepared', 'prepared'],
    ['run', 'running', 'exited'],
    ['exited-garbage', 'exited-garbage', 'exited-garbage'],
    ['garbage', 'garbage', 'garbage'],
  ]);
  for (const d of POD_DIRS) {
    t.is(dirStateOf(stateOf(d, true)), d);
    t.is(dirStateOf(stateOf(d, false)), d);
  }
});

test('fsTypesOfDevice: the types of the mounts whose superblock device (mountinfo field 3, decimal) is major:minor', (t) => {
  const mountinfo = [
    '21 26 0:20 / /proc rw,relatime - proc proc rw',
    '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard',
    '572 26 254:0 /run/netns /run/netns rw,relatime shared:151 - ext4 /dev/vda rw,discard',
    '80 26 0:45 / /var/lib/rkt rw,relatime master:1 - btrfs /dev/vdb rw,subvolid=257',
    '81 26 0:46 / /merged rw - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c',
    'a line without the separator',
  ].join('\n');
  t.deepEqual(fsTypesOfDevice(mountinfo, 254, 0), ['ext4', 'ext4']);
  t.deepEqual(fsTypesOfDevice(mountinfo, 0, 45), ['btrfs']);
  t.deepEqual(fsTypesOfDevice(mountinfo, 0, 46), ['overlay']);
  t.deepEqual(fsTypesOfDevice(mountinfo, 0, 4), [], 'not 0:45 by prefix');
  t.deepEqual(fsTypesOfDevice(mountinfo, 254, 1), []);
});
