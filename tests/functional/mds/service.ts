// Helpers of the metadata service tests: the service started by the test (a free port, a temporary socket
// named by RKT_METADATA_SOCKET, which every rkt this test process spawns inherits), its registration socket
// asked directly, and a busybox image with annotations.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO, RKT, tempDir } from '../../lib/rkt.js';
import { until } from '../../lib/wait.js';

const execFileP = promisify(execFile);

export interface Service {
  readonly child: ChildProcess;
  readonly port: number;
  readonly socket: string;
  /** Everything it printed on stderr so far. */
  log(): string;
  /** Resolves with its exit status and signal once it has exited. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `rkt metadata-service --listen-port=0` with its socket in `dir`; resolves once it listens. */
export async function startService(dir: string): Promise<Service> {
  const socket = path.join(dir, 'metadata-svc.sock');
  const child = spawn(process.execPath, [RKT, 'metadata-service', '--listen-port=0'], {
    env: { ...process.env, RKT_METADATA_SOCKET: socket }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { err += s; });
  child.stdout?.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let port = 0;
  let exited = false;
  void exit.then(() => { exited = true; });
  await until('the metadata service says where it listens', 60_000, () => {
    if (exited) throw new Error(`rkt metadata-service exited: ${err}`);
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
    if (m !== null) port = Number(m[1]);
    return port > 0;
  }, 50);
  return { child, port, socket, log: () => err, exit };
}

/** One request on the registration socket, its reply. */
export function ask(socket: string, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let buf = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${JSON.stringify(request)}\n`));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      c.end();
      resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
    });
    c.on('error', reject);
  });
}

/** The UUIDs the service has registered. */
export async function registered(socket: string): Promise<string[]> {
  const r = await ask(socket, { op: 'list' });
  return (r['pods'] as { uuid: string }[]).map((p) => p.uuid);
}

/** A plain HTTP request from the host to the service on loopback: status, headers, body. */
export async function get(port: number, target: string, form?: Record<string, string>): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${target}`, form === undefined ? {} : { method: 'POST', body: new URLSearchParams(form) });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

/**
 * A busybox image (`/bin/busybox` and its applets) named `name` with image annotations; built in a temporary
 * directory kept until the process exits. Returns the .aci path.
 */
export async function annotatedImage(name: string, annotations: readonly { name: string; value: string }[]): Promise<string> {
  const { dir, cleanup } = tempDir('rkt-mds-img-');
  process.once('exit', cleanup);
  const img = path.join(dir, 'img');
  const r = path.join(img, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'usr/bin', 'var']) mkdirSync(path.join(r, d), { recursive: true });
  chmodSync(path.join(r, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', path.join(r, 'bin/busybox'));
  chmodSync(path.join(r, 'bin/busybox'), 0o755);
  for (const a of execFileSync('/bin/busybox', ['--list']).toString().split('\n').map((s) => s.trim())) {
    if (a !== '' && a !== 'busybox') symlinkSync('busybox', path.join(r, 'bin', a));
  }
  writeFileSync(path.join(r, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(path.join(r, 'etc/group'), 'root:x:0:\n');
  writeFileSync(path.join(img, 'manifest'), JSON.stringify({
    acKind: 'ImageManifest', acVersion: '0.8.11', name,
    labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
    app: { exec: ['/bin/sh'], user: '0', group: '0' },
    annotations,
  }));
  const out = path.join(dir, 'image.aci');
  await execFileP(path.join(REPO, 'hack/aci'), ['build', '--compression=none', img, out]);
  return out;
}
