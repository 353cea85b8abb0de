/**
 * The metadata service process: the HTTP endpoints for the pods (routes.ts), the registration socket for rkt
 * (registry.ts), the HMAC key (generated at start, held in this process's memory only), and the sweep that
 * drops pods which are no longer running. The only effects of src/mds.
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { describe, isErrno, RktError } from '../common/errors.js';
import { listPods } from '../pod/pods.js';
import { newHmacKey } from './hmac.js';
import { parseRegistryRequest, Registry, toRegisteredPod, type RegisteredPod } from './registry.js';
import { FORBIDDEN_SOURCE, NOT_FOUND, parsePath, respond, UNAUTHORIZED, type Response } from './routes.js';

/** The largest form body the identity endpoints read. */
const MAX_BODY = 1 << 20;
/** How often registrations of pods that have ended are dropped. */
const SWEEP_MS = 2000;
/** How long to keep trying to listen on a pod network's host side that does not exist yet. */
const HOST_SIDE_WAIT_MS = 30_000;

export { DEFAULT_PORT, DEFAULT_SOCKET } from './registry.js';

export interface ServiceOptions {
  /** The TCP port (0: any free one). Ignored for sockets handed over by systemd. */
  readonly port: number;
  readonly socketPath: string;
  /** Listening sockets from systemd (LISTEN_FDS): the unix socket and the TCP ones, told apart by their address. */
  readonly listenFds: readonly number[];
  /** A line for the service's log (stderr, the journal under systemd). */
  readonly log: (line: string) => void;
}

export interface RunningService {
  /** The TCP port the pods reach the service on. */
  readonly port: number;
  /** Stop listening, close every connection, remove the socket file we made. */
  close(): Promise<void>;
}

const isLoopback = (a: string): boolean => a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
const plainAddress = (a: string | undefined): string => (a ?? '').replace(/^::ffff:/, '');

function listen(server: net.Server, how: net.ListenOptions | { readonly fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => { server.off('error', onError); resolve(); };
    // A descriptor handed over by systemd is a handle to listen on, the other overload of listen().
    if ('fd' in how) server.listen({ fd: how.fd } as unknown as net.ListenOptions, done);
    else server.listen(how, done);
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Make the registration socket at `file`: root-only (0600), refusing to replace a live service's. */
async function listenUnix(server: net.Server, file: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  try {
    await fs.lstat(file);
    const live = await new Promise<boolean>((resolve) => {
      const c = net.connect(file).once('connect', () => { c.destroy(); resolve(true); }).once('error', () => resolve(false));
    });
    if (live) {
      throw new RktError('EMDS', `a metadata service is already listening on ${file}`, { hint: 'stop it first (systemctl stop rkt-metadata.socket rkt-metadata.service)' });
    }
    await fs.unlink(file);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  const old = process.umask(0o177);
  try {
    await listen(server, { path: file });
  } finally {
    process.umask(old);
  }
  await fs.chmod(file, 0o600);
}

/** Start the service. Resolves once it listens; fails (EMDS) if it cannot. */
export async function startMetadataService(o: ServiceOptions): Promise<RunningService> {
  const key = newHmacKey();
  const registry = new Registry();
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); };
  /** Addresses of pods with their own network, read from net-info.json once its ADDs have completed. */
  const podAddresses = new Map<string, ReadonlySet<string>>();

  async function addressesOf(pod: RegisteredPod): Promise<ReadonlySet<string>> {
    const have = podAddresses.get(pod.reg.uuid);
    if (have !== undefined) return have;
    const { parseNetInfo, NET_INFO_FILE } = await import('../net/net-info.js');
    const file = path.join(pod.reg.podDir, NET_INFO_FILE);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return new Set();
      throw err;
    }
    const info = parseNetInfo(file, text);
    const ips = new Set((info?.networks ?? []).map((n) => n.ip).filter((ip) => ip !== ''));
    if (info?.complete === true) podAddresses.set(pod.reg.uuid, ips);
    return ips;
  }

  async function answer(req: http.IncomingMessage): Promise<Response> {
    const parsed = parsePath(req.url ?? '/');
    const pod = parsed === undefined ? undefined : registry.byTokenOf(parsed.token);
    if (parsed === undefined || pod === undefined) return UNAUTHORIZED;
    if (pod.reg.ownNetwork && !(await addressesOf(pod)).has(plainAddress(req.socket.remoteAddress))) return FORBIDDEN_SOURCE;
    if (parsed.route === undefined) return NOT_FOUND;
    let form: URLSearchParams | undefined;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > MAX_BODY) return { status: 413, headers: { 'Content-Type': 'text/plain; charset=us-ascii' }, body: 'form too large\n' };
        chunks.push(c);
      }
      form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    }
    return respond(pod, parsed.route, req.method ?? 'GET', form, key);
  }

  const httpServer = http.createServer((req, res) => {
    answer(req).then((r) => {
      res.writeHead(r.status, { ...r.headers, 'Content-Length': Buffer.byteLength(r.body) });
      res.end(req.method === 'HEAD' ? undefined : r.body);
    }, (err: unknown) => {
      o.log(`metadata-service: ${req.method ?? '?'} request failed: ${describe(err)}`);
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=us-ascii' });
      res.end('internal error\n');
    });
  });
  httpServer.on('connection', track);

  // Listeners on the host side of pod networks: made when the first pod on that address registers, closed
  // with the last one. The address appears when the pod's network is set up, around the registration.
  const hostSide = new Map<string, { refs: number; server?: net.Server }>();
  let port = o.port;
  let closing = false;

  function hostSideListen(address: string, since = Date.now()): void {
    const entry = hostSide.get(address);
    if (entry === undefined || entry.refs === 0 || closing) return;
    const server = net.createServer((s) => httpServer.emit('connection', s));
    server.on('error', (err) => o.log(`metadata-service: listener on ${address}:${port}: ${describe(err)}`));
    listen(server, { host: address, port }).then(() => {
      const now = hostSide.get(address);
      if (now === undefined || now.refs === 0 || closing) { void closeServer(server); return; }
      now.server = server;
      o.log(`metadata-service: listening on ${address}:${port} (a pod network's host side)`);
    }, (err: unknown) => {
      if (isErrno(err, 'EADDRNOTAVAIL') && Date.now() - since < HOST_SIDE_WAIT_MS) {
        setTimeout(() => hostSideListen(address, since), 100).unref();
        return;
      }
      o.log(`metadata-service: cannot listen on ${address}:${port}: ${describe(err)}; pods on that network cannot reach the service`);
    });
  }

  function retain(address: string): void {
    if (isLoopback(address)) return;
    const e = hostSide.get(address) ?? { refs: 0 };
    e.refs++;
    hostSide.set(address, e);
    if (e.refs === 1) hostSideListen(address);
  }

  function release(address: string): void {
    const e = hostSide.get(address);
    if (e === undefined) return;
    e.refs--;
    if (e.refs > 0) return;
    hostSide.delete(address);
    if (e.server !== undefined) void closeServer(e.server);
  }

  function drop(uuid: string, why: string): boolean {
    const pod = registry.remove(uuid);
    if (pod === undefined) return false;
    podAddresses.delete(uuid);
    release(pod.reg.hostAddress);
    o.log(`metadata-service: pod ${uuid} unregistered (${why})`);
    return true;
  }

  function handleLine(line: string): object {
    let r;
    try {
      r = parseRegistryRequest(line);
    } catch (err) {
      return { ok: false, error: describe(err) };
    }
    switch (r.op) {
      case 'info':
        return { ok: true, port, pods: registry.size };
      case 'list':
        return { ok: true, pods: registry.all().map((p) => ({ uuid: p.reg.uuid, apps: [...p.apps.keys()], hostAddress: p.reg.hostAddress })) };
      case 'register': {
        let pod: RegisteredPod;
        try {
          pod = toRegisteredPod(r.pod);
          const before = registry.all().find((p) => p.reg.uuid === r.pod.uuid);
          registry.add(pod);
          if (before !== undefined) release(before.reg.hostAddress);
        } catch (err) {
          return { ok: false, error: `cannot register pod ${r.pod.uuid}: ${describe(err)}` };
        }
        retain(pod.reg.hostAddress);
        o.log(`metadata-service: pod ${pod.reg.uuid} registered (apps ${[...pod.apps.keys()].join(', ')})`);
        return { ok: true };
      }
      case 'unregister':
        return { ok: true, found: drop(r.uuid, 'by rkt') };
    }
  }

  const unixServer = net.createServer((s) => {
    track(s);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 16 << 20) { s.destroy(); return; }
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== '') s.write(`${JSON.stringify(handleLine(line))}\n`);
      }
    });
    s.on('error', (err) => o.log(`metadata-service: registration connection: ${describe(err)}`));
  });

  // The listeners: systemd's sockets, or our own.
  const listeners: net.Server[] = [];
  let madeSocket = false;
  try {
    if (o.listenFds.length > 0) {
      let sawUnix = false;
      for (const fd of o.listenFds) {
        const s = net.createServer();
        await listen(s, { fd });
        const addr = s.address();
        if (typeof addr === 'string' || addr === null) {
          s.on('connection', (c) => unixServer.emit('connection', c));
          sawUnix = true;
        } else {
          s.on('connection', (c) => httpServer.emit('connection', c));
          port = addr.port;
        }
        listeners.push(s);
      }
      if (!sawUnix) throw new RktError('EMDS', 'systemd handed the metadata service no unix socket for registrations', { hint: 'see units/rkt-metadata.socket' });
    } else {
      await listenUnix(unixServer, o.socketPath);
      madeSocket = true;
      listeners.push(unixServer);
      const tcp = net.createServer((c) => httpServer.emit('connection', c));
      await listen(tcp, { host: '127.0.0.1', port: o.port });
      const addr = tcp.address();
      if (addr !== null && typeof addr !== 'string') port = addr.port;
      listeners.push(tcp);
    }
  } catch (err) {
    await Promise.all(listeners.map(closeServer));
    if (err instanceof RktError) throw err;
    throw new RktError('EMDS', `the metadata service cannot listen: ${describe(err)}`, { cause: err });
  }
  o.log(`metadata-service: listening on ${o.listenFds.length > 0 ? `the sockets systemd passed (TCP port ${port})` : `127.0.0.1:${port}, registrations on ${o.socketPath}`}`);

  let sweeping = false;
  const sweep = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void (async () => {
      // One listing per data directory, not one lookup per pod.
      const byDir = new Map<string, RegisteredPod[]>();
      for (const p of registry.all()) byDir.set(p.reg.dataDir, [...(byDir.get(p.reg.dataDir) ?? []), p]);
      for (const [dataDir, registered] of byDir) {
        let states: Map<string, string>;
        try {
          states = new Map((await listPods(dataDir)).map((i) => [i.uuid, i.state]));
        } catch (err) {
          o.log(`metadata-service: cannot list the pods in ${dataDir}: ${describe(err)}, keeping their registrations`);
          continue;
        }
        for (const p of registered) {
          const state = states.get(p.reg.uuid);
          if (state !== 'running') drop(p.reg.uuid, state === undefined ? 'the pod is gone' : `the pod is ${state}`);
        }
      }
    })().finally(() => { sweeping = false; });
  }, SWEEP_MS);

  return {
    port,
    close: async () => {
      closing = true;
      clearInterval(sweep);
      const all = [...listeners, ...[...hostSide.values()].flatMap((e) => (e.server !== undefined ? [e.server] : []))];
      const closed = Promise.all(all.map(closeServer));
      for (const s of sockets) s.destroy();
      httpServer.closeAllConnections();
      await closed;
      if (madeSocket) {
        await fs.unlink(o.socketPath).catch((err: unknown) => { if (!isErrno(err, 'ENOENT')) throw err; });
      }
    },
  };
}
