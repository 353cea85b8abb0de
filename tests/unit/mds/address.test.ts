import test from 'ava';
import { UsageError } from '../../../src/common/errors.js';
import { firstHost, metadataAddress, metadataUrl } from '../../../src/mds/address.js';
import type { NetworkPlan } from '../../../src/net/networks.js';

const cni = (ipam: Record<string, unknown>): NetworkPlan => ({
  kind: 'cni',
  networks: [{ name: 'n', netConf: '(built-in)', conf: { cniVersion: '0.4.0', name: 'n', plugins: [{ type: 'ptp', ipam }] }, args: '', ifName: 'eth0', portMappings: [] }],
});

test('host-network pods reach the service on loopback; pods on a network of their own on its host side', (t) => {
  t.is(metadataAddress({ kind: 'host' }), '127.0.0.1');
  t.is(metadataAddress(cni({ type: 'host-local', ranges: [[{ subnet: '172.16.28.0/24' }]] })), '172.16.28.1');
  t.is(metadataAddress(cni({ type: 'host-local', ranges: [[{ subnet: '10.1.0.0/16', gateway: '10.1.0.254' }]] })), '10.1.0.254');
  t.is(metadataAddress(cni({ type: 'host-local', subnet: '172.31.0.0/16' })), '172.31.0.1', 'the old single-subnet form');
});

test('--net=none, or a network whose host side cannot be told, is a usage error', (t) => {
  t.throws(() => metadataAddress({ kind: 'none' }), { instanceOf: UsageError, message: /--net=none/ });
  t.throws(() => metadataAddress(cni({ type: 'dhcp' })), { instanceOf: UsageError, message: /cannot tell the host side of network n/ });
});

test('firstHost and the URL', (t) => {
  t.is(firstHost('192.168.7.130/25'), '192.168.7.129');
  t.is(firstHost('10.0.0.0/8'), '10.0.0.1');
  t.is(firstHost('10.0.0.0/31'), undefined);
  t.is(firstHost('300.0.0.0/8'), undefined);
  t.is(metadataUrl('127.0.0.1', 18112, 'tok'), 'http://127.0.0.1:18112/tok');
  t.is(metadataUrl('fd00::1', 18112, 'tok'), 'http://[fd00::1]:18112/tok');
});
