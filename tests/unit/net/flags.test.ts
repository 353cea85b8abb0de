import test from 'ava';
import { UsageError } from '../../../src/common/errors.js';
import { cniArgsString, parseDnsFlags, parseHostsEntryFlags, parseNetFlags, parsePortFlag } from '../../../src/net/flags.js';

test('--net: default when not given; names, lists and repeated flags in order', (t) => {
  t.deepEqual(parseNetFlags([]), { kind: 'cni', all: false, networks: [{ name: 'default', args: [] }] });
  t.deepEqual(parseNetFlags(['host']), { kind: 'host' });
  t.deepEqual(parseNetFlags(['none']), { kind: 'none' });
  t.deepEqual(parseNetFlags(['all']), { kind: 'cni', all: true, networks: [] });
  t.deepEqual(parseNetFlags(['default-restricted']), { kind: 'cni', all: false, networks: [{ name: 'default-restricted', args: [] }] });
  t.deepEqual(parseNetFlags(['a,b', 'c']), {
    kind: 'cni', all: false, networks: [{ name: 'a', args: [] }, { name: 'b', args: [] }, { name: 'c', args: [] }],
  });
});

test('--net: per-network arguments become CNI_ARGS with IgnoreUnknown=1', (t) => {
  const sel = parseNetFlags(['default:IP=172.16.28.42;K=V', 'other']);
  t.deepEqual(sel, {
    kind: 'cni', all: false,
    networks: [{ name: 'default', args: [['IP', '172.16.28.42'], ['K', 'V']] }, { name: 'other', args: [] }],
  });
  t.is(cniArgsString([['IP', '172.16.28.42'], ['K', 'V']]), 'IgnoreUnknown=1;IP=172.16.28.42;K=V');
  t.is(cniArgsString([['IgnoreUnknown', 'true'], ['K', 'V']]), 'IgnoreUnknown=true;K=V');
  t.is(cniArgsString([]), '');
});

test('--net: bad values are usage errors naming the value', (t) => {
  const cases: [string[], RegExp][] = [
    [['host,default'], /bad --net value "host,default": "host" cannot be combined/],
    [['none', 'default'], /"none" cannot be combined/],
    [['all,foo'], /"all" cannot be combined/],
    [['all:IP=1.2.3.4'], /"all" takes no arguments/],
    [['host:K=V'], /--net=host takes no arguments/],
    [['a,,b'], /bad --net value "a,,b": empty network name/],
    [['-x'], /bad --net value "-x": "-x" is not a network name/],
    [['a,a'], /network "a" is given twice/],
    [['a:nokey'], /bad --net value "a:nokey": "nokey" is not an argument of the form KEY=VALUE/],
    [['a:'], /no arguments after ":"/],
    [['default:IP=300.1.1.1'], /"300.1.1.1" is not an IP address/],
  ];
  for (const [v, re] of cases) {
    const err = t.throws(() => parseNetFlags(v), { instanceOf: UsageError }, v.join(' '));
    t.regex(err?.message ?? '', re);
    t.is(err?.exitCode, 2);
  }
});

test('--port: NAME:HOSTPORT and NAME:HOSTIP:HOSTPORT', (t) => {
  t.deepEqual(parsePortFlag('http:8080'), { name: 'http', hostPort: 8080 });
  t.deepEqual(parsePortFlag('http-alt:127.0.0.1:80'), { name: 'http-alt', hostIP: '127.0.0.1', hostPort: 80 });
  for (const [v, re] of [
    ['http', /want NAME:\[HOSTIP:\]HOSTPORT/], ['http:0', /"0" is not a port number/], ['http:65536', /"65536"/],
    ['http:x', /"x" is not a port number/], ['HTTP:80', /"HTTP" is not a port name/], ['http:::80', /want NAME/],
    ['http:1.2.3:80', /"1.2.3" is not an IPv4 address/],
  ] as const) {
    const err = t.throws(() => parsePortFlag(v), { instanceOf: UsageError });
    t.regex(err?.message ?? '', re);
    t.true(err?.message.includes(`"${v}"`));
  }
});

test('--dns and friends', (t) => {
  t.deepEqual(parseDnsFlags({}), { mode: 'default' });
  t.deepEqual(parseDnsFlags({ dns: ['8.8.8.8', '1.1.1.1,::1'] }), { mode: 'servers', servers: ['8.8.8.8', '1.1.1.1', '::1'] });
  t.deepEqual(parseDnsFlags({ dns: ['host'] }), { mode: 'host' });
  t.deepEqual(parseDnsFlags({ dns: ['none'] }), { mode: 'none' });
  t.deepEqual(parseDnsFlags({ dns: ['10.0.0.1'], dnsSearch: ['a.example', 'b.example'], dnsOpt: ['ndots:2', 'rotate'], dnsDomain: 'pod.example' }), {
    mode: 'servers', servers: ['10.0.0.1'], search: ['a.example', 'b.example'], options: ['ndots:2', 'rotate'], domain: 'pod.example',
  });
  t.deepEqual(parseDnsFlags({ dnsSearch: ['x.example'] }), { mode: 'default', search: ['x.example'] });
  for (const [v, re] of [
    [{ dns: ['host', '8.8.8.8'] }, /"host" cannot be combined/],
    [{ dns: ['none'], dnsSearch: ['a.example'] }, /--dns=none cannot be combined with --dns-search/],
    [{ dns: ['example.com'] }, /bad --dns value "example.com"/],
    [{ dnsSearch: ['bad domain'] }, /bad --dns-search value "bad domain"/],
    [{ dnsOpt: ['ndots 2'] }, /bad --dns-opt value "ndots 2"/],
    [{ dnsDomain: '-bad' }, /bad --dns-domain value "-bad"/],
  ] as const) {
    t.regex(t.throws(() => parseDnsFlags(v), { instanceOf: UsageError })?.message ?? '', re);
  }
});

test('--hosts-entry', (t) => {
  t.deepEqual(parseHostsEntryFlags([]), { host: false, entries: [] });
  t.deepEqual(parseHostsEntryFlags(['host', '10.0.0.5=db.example', '::1=six']), {
    host: true, entries: [{ ip: '10.0.0.5', hostname: 'db.example' }, { ip: '::1', hostname: 'six' }],
  });
  for (const [v, re] of [['db', /want IP=HOSTNAME or "host"/], ['1.2.3=db', /"1.2.3" is not an IP address/], ['1.2.3.4=bad_name', /"bad_name" is not a host name/]] as const) {
    t.regex(t.throws(() => parseHostsEntryFlags([v]), { instanceOf: UsageError })?.message ?? '', re);
  }
});
