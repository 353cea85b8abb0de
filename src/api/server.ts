/**
 * The gRPC server of `rkt api-service`: rkt's v1alpha PublicAPI (v1alpha.proto) over plain TCP (rkt 1.x had
 * no TLS either). The listening sockets are ours (net.Server: an address, or the descriptors systemd passed),
 * each connection handed to grpc-js through its connection injector, so that socket activation works and a
 * listen error is ours to word. Loads @grpc/grpc-js and @grpc/proto-loader: only `rkt api-service` imports this.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { describe, RktError } from '../common/errors.js';
import { packageDir } from '../common/package-dir.js';
import type { GlobalOptions } from '../common/options.js';
import { APPC_VERSION, RKT_VERSION } from '../common/version.js';
import { EventWatcher } from './events.js';
import { hasHostJournal, journalRoot, podJournalDir, readJournal } from './logs.js';
import {
  API_VERSION, eventMatches, imageMatchesAny, insecureFlagsText, int64, podMatchesAny,
  type EventFilter, type ImageFilter, type PodFilter, type V1Event,
} from './mapping.js';
import { readV1ImageById, readV1Images, readV1PodById, readV1Pods, type Warn } from './state.js';

/**
 * v1alpha.proto, found from this module (tsc output in dist/api/, or a chunk of the bundle in
 * dist/bin/chunks/) by walking up to rkt's package.json: the .proto ships in the package's src/api/.
 */
export function protoPath(): string {
  const dir = packageDir(path.dirname(fileURLToPath(import.meta.url)));
  if (dir === undefined) throw new RktError('ENOFILE', `cannot find rkt's package directory (package.json) above ${fileURLToPath(import.meta.url)}: v1alpha.proto is in its src/api/`);
  return path.join(dir, 'src', 'api', 'v1alpha.proto');
}

/** How proto-loader maps the protocol to JS: proto field names, int64 as strings, enums by name. */
export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** The PublicAPI service definition from v1alpha.proto. */
export function publicApiDefinition(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(protoPath(), LOADER_OPTIONS);
  const svc = def['v1alpha.PublicAPI'];
  if (svc === undefined || !('GetInfo' in svc)) throw new Error('bug: v1alpha.proto has no service v1alpha.PublicAPI');
  return svc as unknown as grpc.ServiceDefinition;
}

export interface ApiServiceOptions {
  readonly globals: GlobalOptions;
  /** Where to listen: host and port, or the descriptors systemd passed (LISTEN_FDS). */
  readonly listen: { readonly host: string; readonly port: number } | { readonly fds: readonly number[] };
  readonly log: (line: string) => void;
}

export interface ApiService {
  /** Where it listens (`host:port` of each socket). */
  readonly addresses: readonly string[];
  /** Stop listening, end every call (a follow or an event stream), close every connection. */
  close(): Promise<void>;
}

/** An RktError (or other failure) as the gRPC status a client sees. */
function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof RktError) {
    const code = err.code === 'ENOPOD' || err.code === 'ENOIMAGE' ? grpc.status.NOT_FOUND
      : err.code === 'EUSAGE' || err.code === 'EAMBIGUOUS' ? grpc.status.INVALID_ARGUMENT
        : grpc.status.INTERNAL;
    return { code, details: err.message };
  }
  return { code: grpc.status.INTERNAL, details: `internal error: ${err instanceof Error ? err.message : String(err)}` };
}

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => void;

/** A unary handler from an async function: its value or its error as a status. */
function unary<Req, Res>(f: (req: Req) => Promise<Res>): Unary<Req, Res> {
  return (call, cb) => {
    f(call.request).then((res) => cb(null, res), (err: unknown) => cb(toStatus(err) as grpc.ServiceError));
  };
}

function listenOn(server: net.Server, how: net.ListenOptions | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => { server.off('error', onError); resolve(); };
    if ('fd' in how) server.listen({ fd: how.fd } as unknown as net.ListenOptions, done);
    else server.listen(how, done);
  });
}

/** Start the service; resolves once it listens, fails with EAPILISTEN if it cannot. */
export async function startApiService(o: ApiServiceOptions): Promise<ApiService> {
  const dir = o.globals.dir;
  const warn: Warn = (m) => o.log(`api-service: warning: ${m}`);
  const watcher = new EventWatcher(dir, warn);
  const stoppers = new Set<() => void>();

  const impl: grpc.UntypedServiceImplementation = {
    GetInfo: unary(async () => ({
      info: {
        rkt_version: RKT_VERSION, appc_version: APPC_VERSION, api_version: API_VERSION,
        global_flags: {
          dir, system_config_dir: o.globals.systemConfig, local_config_dir: o.globals.localConfig,
          user_config_dir: o.globals.userConfig ?? '', insecure_flags: insecureFlagsText(o.globals.insecure),
          trust_keys_from_https: o.globals.trustKeysFromHttps,
        },
      },
    })),
    ListPods: unary(async (req: { filters?: PodFilter[]; detail?: boolean }) => {
      const pods = (await readV1Pods(dir, warn)).filter((p) => podMatchesAny(p, req.filters));
      return { pods: req.detail === true ? pods : pods.map((p) => ({ ...p, manifest: Buffer.alloc(0) })) };
    }),
    InspectPod: unary(async (req: { id?: string }) => {
      if ((req.id ?? '') === '') throw new RktError('EUSAGE', 'InspectPod needs the id of a pod');
      return { pod: await readV1PodById(dir, req.id ?? '', warn) };
    }),
    ListImages: unary(async (req: { filters?: ImageFilter[]; detail?: boolean }) => {
      const images = (await readV1Images(dir, warn)).filter((i) => imageMatchesAny(i, req.filters));
      return { images: req.detail === true ? images : images.map((i) => ({ ...i, manifest: Buffer.alloc(0) })) };
    }),
    InspectImage: unary(async (req: { id?: string }) => ({ image: await readV1ImageById(dir, req.id ?? '', warn) })),

    ListenEvents: (call: grpc.ServerWritableStream<{ filter?: EventFilter }, { events: V1Event[] }>) => {
      const filter = call.request.filter ?? undefined;
      const until = int64(filter?.until_time);
      let unsubscribe: (() => void) | undefined;
      let untilTimer: NodeJS.Timeout | undefined;
      const end = () => {
        unsubscribe?.();
        unsubscribe = undefined;
        if (untilTimer !== undefined) clearTimeout(untilTimer);
        stoppers.delete(end);
        if (!call.cancelled && call.writable) call.end();
      };
      stoppers.add(end);
      call.on('cancelled', end);
      call.on('error', end);
      if (until > 0) untilTimer = setTimeout(end, Math.max(0, until * 1000 - Date.now()));
      watcher.subscribe((events) => {
        const mine = events.filter((e) => eventMatches(e, filter));
        if (mine.length > 0 && !call.cancelled) call.write({ events: mine });
      }).then((u) => {
        if (!stoppers.has(end)) { u(); return; } // ended while subscribing
        unsubscribe = u;
        // Headers now: a client knows the stream is open (and watching) before the first event.
        call.sendMetadata(new grpc.Metadata());
      }, (err: unknown) => {
        stoppers.delete(end);
        call.emit('error', Object.assign(new Error(toStatus(err).details ?? 'error'), toStatus(err)));
      });
    },

    GetLogs: (call: grpc.ServerWritableStream<{ pod_id?: string; app_name?: string; lines?: number; follow?: boolean; since_time?: string; until_time?: string }, { lines: string[] }>) => {
      const req = call.request;
      // An error status on a server stream is an 'error' the call itself turns into the status it ends with.
      const fail = (code: grpc.status, details: string) => call.emit('error', Object.assign(new Error(details), { code, details }));
      void (async () => {
        if ((req.pod_id ?? '') === '') { fail(grpc.status.INVALID_ARGUMENT, 'GetLogs needs the pod_id of a pod'); return; }
        let uuid: string;
        try {
          uuid = (await readV1PodById(dir, req.pod_id ?? '', warn)).id;
        } catch (err) {
          const s = toStatus(err);
          fail(s.code ?? grpc.status.INTERNAL, s.details ?? 'error');
          return;
        }
        const root = journalRoot();
        if (!hasHostJournal(uuid, root)) {
          fail(grpc.status.FAILED_PRECONDITION, `pod ${uuid} has no journal on this host (${podJournalDir(uuid, root)} does not exist): `
            + 'a pod keeps its journal on the host only where systemd is PID 1 (nspawn --link-journal=try-host); elsewhere it stays in the pod and goes with it');
          return;
        }
        const j = readJournal(podJournalDir(uuid, root), {
          ...(req.app_name !== undefined ? { app: req.app_name } : {}), lines: req.lines ?? 0, since: int64(req.since_time), until: int64(req.until_time), follow: req.follow === true,
        }, (lines) => { if (!call.cancelled) call.write({ lines }); });
        let stopped = false;
        const stop = () => { stopped = true; j.stop(); };
        stoppers.add(stop);
        call.on('cancelled', stop);
        const { code, stderr } = await j.done;
        stoppers.delete(stop);
        if (call.cancelled) return;
        if (code !== 0 && !stopped) { fail(grpc.status.INTERNAL, `journalctl failed on ${podJournalDir(uuid, root)}: ${stderr.trim() || `exit status ${code}`}`); return; }
        call.end();
      })();
    },
  };

  const server = new grpc.Server();
  server.addService(publicApiDefinition(), impl);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  const listeners: net.Server[] = [];
  const accept = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    injector.injectConnection(s);
  };
  const addresses: string[] = [];
  try {
    if ('fds' in o.listen) {
      for (const fd of o.listen.fds) {
        const l = net.createServer(accept);
        listeners.push(l);
        await listenOn(l, { fd });
      }
    } else {
      const l = net.createServer(accept);
      listeners.push(l);
      await listenOn(l, { host: o.listen.host, port: o.listen.port, exclusive: true });
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
    server.forceShutdown();
    watcher.stop();
    const where = 'fds' in o.listen ? `the sockets systemd passed (fds ${o.listen.fds.join(', ')})` : `${o.listen.host.includes(':') ? `[${o.listen.host}]` : o.listen.host}:${o.listen.port}`;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? 'the address is already in use (another rkt api-service, or another program, listens there)'
      : e.code === 'EADDRNOTAVAIL' ? 'it is not an address of this machine'
        : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? 'the host name does not resolve'
          : describe(err);
    throw new RktError('EAPILISTEN', `rkt api-service cannot listen on ${where}: ${why}`, {
      cause: err, hint: e.code === 'EADDRINUSE' ? 'stop the other service, or give another --listen=HOST:PORT' : 'give --listen=HOST:PORT with an address of this machine',
    });
  }
  for (const l of listeners) {
    const a = l.address();
    if (a !== null && typeof a === 'object') addresses.push(`${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
    l.on('error', (err) => o.log(`api-service: listener: ${describe(err)}`));
  }
  return {
    addresses,
    close: async () => {
      for (const s of [...stoppers]) s();
      watcher.stop();
      await Promise.all(listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
      await new Promise<void>((resolve) => {
        // Calls still open after a grace period (a client that keeps a stream) are cut.
        const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
        server.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
      for (const s of sockets) s.destroy();
    },
  };
}
