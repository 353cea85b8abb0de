import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { rkt, tempDir } from '../lib/rkt.js';

// rkt config reads only the directories it is given: no root needed, nothing outside the temp dirs.

function write(root: string, rel: string, value: unknown): void {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
}

function dirs(t: { teardown(fn: () => void): void }): { system: string; local: string; data: string; flags: string[] } {
  const { dir, cleanup } = tempDir('rkt-config-');
  t.teardown(cleanup);
  const system = path.join(dir, 'system');
  const local = path.join(dir, 'local');
  const data = path.join(dir, 'data');
  for (const d of [system, local]) mkdirSync(d);
  return { system, local, data, flags: [`--dir=${data}`, `--system-config=${system}`, `--local-config=${local}`] };
}

test('rkt config prints the merged configuration as JSON, local overriding system, credentials as configured', async (t) => {
  const d = dirs(t);
  write(d.system, 'auth.d/basic.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['foo.com', 'bar.com', 'baz.com'], type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } });
  write(d.local, 'auth.d/basic.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['foo.com'], type: 'basic', credentials: { user: 'user', password: 'password' } });
  write(d.local, 'auth.d/token.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['tok.example.com'], type: 'oauth', credentials: { token: 'someToken' } });
  write(d.system, 'auth.d/docker.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['quay.io', 'index.docker.io'], credentials: { user: 'd', password: 'dp' } });
  write(d.local, 'auth.d/quay.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['quay.io'], credentials: { user: 'q', password: 'qp' } });
  write(d.system, 'paths.d/paths.json', { rktKind: 'paths', rktVersion: 'v1', data: '/sys/data', 'stage1-images': '/sys/stage1' });
  write(d.local, 'paths.d/paths.json', { rktKind: 'paths', rktVersion: 'v1', data: '/local/data' });
  write(d.system, 'stage1.d/s1.json', { rktKind: 'stage1', rktVersion: 'v1', name: 'example.com/stage1', version: '1.0', location: '/sys/stage1.aci' });
  write(d.local, 'stage1.d/s1.json', { rktKind: 'stage1', rktVersion: 'v1', location: '/local/stage1.aci' });
  write(d.local, 'auth.d/README', 'not a .json file: ignored');
  const r = await rkt([...d.flags, 'config']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stderr, '');
  t.deepEqual(JSON.parse(r.stdout), {
    stage0: [
      { rktVersion: 'v1', rktKind: 'auth', domains: ['bar.com'], type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } },
      { rktVersion: 'v1', rktKind: 'auth', domains: ['baz.com'], type: 'basic', credentials: { user: 'sysUser', password: 'sysPassword' } },
      { rktVersion: 'v1', rktKind: 'auth', domains: ['foo.com'], type: 'basic', credentials: { user: 'user', password: 'password' } },
      { rktVersion: 'v1', rktKind: 'auth', domains: ['tok.example.com'], type: 'oauth', credentials: { token: 'someToken' } },
      { rktVersion: 'v1', rktKind: 'dockerAuth', registries: ['index.docker.io'], credentials: { user: 'd', password: 'dp' } },
      { rktVersion: 'v1', rktKind: 'dockerAuth', registries: ['quay.io'], credentials: { user: 'q', password: 'qp' } },
      { rktVersion: 'v1', rktKind: 'paths', data: '/local/data', 'stage1-images': '/sys/stage1' },
      { rktVersion: 'v1', rktKind: 'stage1', name: 'example.com/stage1', version: '1.0', location: '/local/stage1.aci' },
    ],
  });
  t.true(r.stdout.endsWith('}\n'));
});

test('rkt config with no configuration files prints the paths and stage1 rkt uses', async (t) => {
  const d = dirs(t);
  const r = await rkt([...d.flags, 'config']);
  t.is(r.exitCode, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { stage0: { rktKind: string; data?: string; location?: string }[] };
  t.deepEqual(out.stage0.map((e) => e.rktKind), ['paths', 'stage1']);
  t.is(out.stage0[0]?.data, d.data);
  t.regex(out.stage0[1]?.location ?? '', /\/stage1\.aci$/);
});

test('a bad configuration file fails rkt config with exit 254, naming the file', async (t) => {
  const d = dirs(t);
  write(d.local, 'paths.d/broken.json', '{"rktKind": "paths", ');
  const broken = await rkt([...d.flags, 'config']);
  t.is(broken.exitCode, 254);
  t.is(broken.stdout, '');
  t.regex(broken.stderr, new RegExp(`^rkt: invalid configuration file ${path.join(d.local, 'paths.d/broken.json').replace(/[.]/g, '\\.')}: `, 'm'));

  const e = dirs(t);
  write(e.system, 'stage1.d/auth.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['a'], type: 'basic', credentials: { user: 'u', password: 'p' } });
  const misplaced = await rkt([...e.flags, 'config']);
  t.is(misplaced.exitCode, 254);
  t.regex(misplaced.stderr, /^rkt: invalid configuration file .*\/stage1\.d\/auth\.json: rktKind "auth" does not belong in stage1\.d \(want "stage1"\)$/m);

  const f = dirs(t);
  write(f.local, 'auth.d/a.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['x.com'], type: 'basic', credentials: { user: 'u', password: 'p' } });
  write(f.local, 'auth.d/b.json', { rktKind: 'auth', rktVersion: 'v1', domains: ['x.com'], type: 'oauth', credentials: { token: 't' } });
  const twice = await rkt([...f.flags, 'config']);
  t.is(twice.exitCode, 254);
  t.regex(twice.stderr, /^rkt: auth domain "x\.com" is configured twice in one directory: in .*\/auth\.d\/a\.json and in .*\/auth\.d\/b\.json$/m);
});

test('a *.json entry that cannot be read is an error, not skipped', async (t) => {
  const d = dirs(t);
  mkdirSync(path.join(d.local, 'auth.d', 'dir.json'), { recursive: true });
  const r = await rkt([...d.flags, 'config']);
  t.is(r.exitCode, 254);
  t.regex(r.stderr, /^rkt: cannot read configuration file .*\/auth\.d\/dir\.json: EISDIR/m);
});
