import test from 'ava';
import net from 'node:net';
import { isIP, isIPv4, isIPv6 } from '../../../src/common/ip.js';

const CASES = [
  '', '0.0.0.0', '1.2.3.4', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.', '.1.2.3', '1..2.3', '1.2.3.04',
  '10.0.0.1 ', ' 10.0.0.1', '1.2.3.-1', '1e1.2.3.4', '0x1.2.3.4', '999.0.0.0',
  '::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1::2::3',
  ':::', ':1', '1:', '1:2:3:4:5:6::7:8', 'fe80::1%eth0', 'fe80::1%', 'fe80::1%e/0', '::ffff:1.2.3.4', '::ffff:256.2.3.4', '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4::', '::1.2.3.4:1', 'g::1', '12345::1', 'ABCD:ef01::', '1:2:3:4:5::1.2.3.4', '::1.2.3.4', '1::1.2.3.4',
  '0:0:0:0:0:0:0:0', 'localhost', '1:2:3:4:5:6:7:8%1', '::%x', '%x', '1.2.3.4%x',
];

test('isIP, isIPv4 and isIPv6 judge every case as node:net does', (t) => {
  for (const s of CASES) {
    t.is(isIP(s) as number, net.isIP(s), JSON.stringify(s));
    t.is(isIPv4(s), net.isIPv4(s), JSON.stringify(s));
    t.is(isIPv6(s), net.isIPv6(s), JSON.stringify(s));
  }
});

test('isIP agrees with node:net on 20,000 strings made of address characters', (t) => {
  const alphabet = '0123456789abcdefABCDEFg:.%:::...';
  let seed = 12345;
  const next = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; };
  let disagree = 0;
  for (let i = 0; i < 20000; i++) {
    let s = '';
    const len = 1 + (next() % 24);
    for (let k = 0; k < len; k++) s += alphabet[next() % alphabet.length];
    if (isIP(s) as number !== net.isIP(s)) { disagree++; t.log(JSON.stringify(s), isIP(s), net.isIP(s)); if (disagree > 10) break; }
  }
  t.is(disagree, 0);
});
