import test from 'ava';
import { configOfDir, EMPTY_CONFIG, mergeConfig, parseConfigFile } from '../../../src/common/config.js';

const basic = (domains: string[], user: string) => JSON.stringify({ rktKind: 'auth', rktVersion: 'v1', domains, type: 'basic', credentials: { user, password: `${user}-pw` } });

test('each kind parses from its own directory; unknown extra fields are ignored', (t) => {
  t.deepEqual(parseConfigFile('auth.d', 'a.json', basic(['example.com'], 'u')), {
    kind: 'auth', domains: ['example.com'], credentials: { type: 'basic', user: 'u', password: 'u-pw' },
  });
  t.deepEqual(parseConfigFile('auth.d', 'o.json', JSON.stringify({ rktKind: 'auth', rktVersion: 'v1', domains: ['x.io'], type: 'oauth', credentials: { token: 'tk' } })), {
    kind: 'auth', domains: ['x.io'], credentials: { type: 'oauth', token: 'tk' },
  });
  t.deepEqual(parseConfigFile('auth.d', 'd.json', JSON.stringify({ rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['quay.io'], credentials: { user: 'q', password: 'p' } })), {
    kind: 'dockerAuth', registries: ['quay.io'], credentials: { user: 'q', password: 'p' },
  });
  t.deepEqual(parseConfigFile('paths.d', 'p.json', JSON.stringify({ rktKind: 'paths', rktVersion: 'v1', data: '/srv/rkt', 'stage1-images': '/srv/s1', future: 1 })), {
    kind: 'paths', paths: { data: '/srv/rkt', stage1Images: '/srv/s1' },
  });
  t.deepEqual(parseConfigFile('stage1.d', 's.json', JSON.stringify({ rktKind: 'stage1', rktVersion: 'v1', name: 'example.com/s1', version: '1', location: '/s1.aci' })), {
    kind: 'stage1', stage1: { name: 'example.com/s1', version: '1', location: '/s1.aci' },
  });
});

test('a bad file is ECONFIG naming the file and what is wrong', (t) => {
  const bad = (subdir: 'auth.d' | 'paths.d' | 'stage1.d', text: string) => {
    const err = t.throws(() => parseConfigFile(subdir, '/etc/rkt/x.json', text));
    t.is((err as { code?: string }).code, 'ECONFIG');
    return err?.message ?? '';
  };
  t.regex(bad('auth.d', '{'), /^invalid configuration file \/etc\/rkt\/x\.json: /);
  t.is(bad('auth.d', '[]'), 'invalid configuration file /etc/rkt/x.json: the file: expected an object');
  t.is(bad('auth.d', '{"rktVersion":"v1"}'), 'invalid configuration file /etc/rkt/x.json: rktKind: required field is missing');
  t.is(bad('paths.d', basic(['a'], 'u')), 'invalid configuration file /etc/rkt/x.json: rktKind "auth" does not belong in paths.d (want "paths")');
  t.is(bad('paths.d', '{"rktKind":"paths","rktVersion":"v2"}'), 'invalid configuration file /etc/rkt/x.json: rktVersion "v2" of kind "paths" is not supported (want "v1")');
  t.is(bad('auth.d', '{"rktKind":"auth","rktVersion":"v1","domains":[],"type":"basic"}'), 'invalid configuration file /etc/rkt/x.json: domains: expected a non-empty array of strings');
  t.is(bad('auth.d', '{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"digest"}'), 'invalid configuration file /etc/rkt/x.json: type "digest" is not supported (want "basic" or "oauth")');
  t.is(bad('auth.d', '{"rktKind":"auth","rktVersion":"v1","domains":["a"],"type":"basic","credentials":{"user":"u"}}'), 'invalid configuration file /etc/rkt/x.json: credentials.password: required field is missing');
  t.is(bad('stage1.d', '{"rktKind":"stage1","rktVersion":"v1","name":"n"}'), 'invalid configuration file /etc/rkt/x.json: "name" and "version" go together: give both or neither');
});

test('a domain, registry or field given twice in one directory is an error naming both files', (t) => {
  const a = parseConfigFile('auth.d', 'a.json', basic(['x.com', 'y.com'], 'a'));
  const b = parseConfigFile('auth.d', 'b.json', basic(['y.com'], 'b'));
  t.throws(() => configOfDir([{ file: 'a.json', config: a }, { file: 'b.json', config: b }]), { message: 'auth domain "y.com" is configured twice in one directory: in a.json and in b.json' });
  const p1 = parseConfigFile('paths.d', 'p1.json', '{"rktKind":"paths","rktVersion":"v1","stage1-images":"/a"}');
  const p2 = parseConfigFile('paths.d', 'p2.json', '{"rktKind":"paths","rktVersion":"v1","stage1-images":"/b","data":"/d"}');
  t.throws(() => configOfDir([{ file: 'p1.json', config: p1 }, { file: 'p2.json', config: p2 }]), { message: 'paths field "stage1-images" is configured twice in one directory: in p1.json and in p2.json' });
});

test('local overrides system per domain, per registry and per field; stage1 name and version together', (t) => {
  const dir = (files: [string, string][]) => configOfDir(files.map(([f, text]) => ({ file: f, config: parseConfigFile(f.split('/')[0] as 'auth.d', f, text) })));
  const system = dir([
    ['auth.d/sys.json', basic(['foo.com', 'bar.com'], 'sys')],
    ['paths.d/p.json', '{"rktKind":"paths","rktVersion":"v1","data":"/sys/data","stage1-images":"/sys/s1"}'],
    ['stage1.d/s.json', '{"rktKind":"stage1","rktVersion":"v1","name":"sys/s1","version":"1","location":"/sys/s1.aci"}'],
  ]);
  const local = dir([
    ['auth.d/loc.json', basic(['foo.com'], 'loc')],
    ['paths.d/p.json', '{"rktKind":"paths","rktVersion":"v1","data":"/loc/data"}'],
    ['stage1.d/s.json', '{"rktKind":"stage1","rktVersion":"v1","location":"/loc/s1.aci"}'],
  ]);
  const m = mergeConfig(system, local);
  t.deepEqual(m.auth.get('foo.com'), { type: 'basic', user: 'loc', password: 'loc-pw' });
  t.deepEqual(m.auth.get('bar.com'), { type: 'basic', user: 'sys', password: 'sys-pw' });
  t.deepEqual(m.paths, { data: '/loc/data', stage1Images: '/sys/s1' });
  t.deepEqual(m.stage1, { name: 'sys/s1', version: '1', location: '/loc/s1.aci' });
  t.deepEqual(mergeConfig(EMPTY_CONFIG, EMPTY_CONFIG), EMPTY_CONFIG);
});
