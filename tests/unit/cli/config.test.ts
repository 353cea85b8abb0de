import test from 'ava';
import { configOfDir, parseConfigFile } from '../../../src/common/config.js';
import { renderConfig } from '../../../src/cli/config.js';

const basic = (domains: string[], user: string) => JSON.stringify({ rktKind: 'auth', rktVersion: 'v1', domains, type: 'basic', credentials: { user, password: `${user}-pw` } });

test('rkt config renders one entry per domain and registry, sorted, then paths and stage1 with their defaults', (t) => {
  const c = configOfDir([
    { file: 'a', config: parseConfigFile('auth.d', 'a', basic(['z.com', 'a.com'], 'u')) },
    { file: 'd', config: parseConfigFile('auth.d', 'd', '{"rktKind":"dockerAuth","rktVersion":"v1","registries":["quay.io"],"credentials":{"user":"q","password":"p"}}') },
  ]);
  t.deepEqual(renderConfig(c, { data: '/var/lib/rkt', stage1Location: '/s1.aci' }), {
    stage0: [
      { rktVersion: 'v1', rktKind: 'auth', domains: ['a.com'], type: 'basic', credentials: { user: 'u', password: 'u-pw' } },
      { rktVersion: 'v1', rktKind: 'auth', domains: ['z.com'], type: 'basic', credentials: { user: 'u', password: 'u-pw' } },
      { rktVersion: 'v1', rktKind: 'dockerAuth', registries: ['quay.io'], credentials: { user: 'q', password: 'p' } },
      { rktVersion: 'v1', rktKind: 'paths', data: '/var/lib/rkt' },
      { rktVersion: 'v1', rktKind: 'stage1', location: '/s1.aci' },
    ],
  });
});
