// Helpers of the API service tests: the service started by the test (`rkt api-service --listen=127.0.0.1:0`
// with a temporary --dir, its address read from what it prints), and a grpc-js client built from the same
// v1alpha.proto, as any client of rkt's API would be.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO, RKT } from '../../lib/rkt.js';
import { until } from '../../lib/wait.js';

export interface Service {
  readonly child: ChildProcess;
  readonly port: number;
  log(): string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `rkt api-service` with `args` (besides --dir); resolves once it says where it listens. */
export async function startService(dataDir: string, args: readonly string[] = ['--listen=127.0.0.1:0'], env: NodeJS.ProcessEnv = {}): Promise<Service> {
  const child = spawn(process.execPath, [RKT, `--dir=${dataDir}`, 'api-service', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { err += s; });
  child.stdout?.resume();
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => { exited = true; resolve({ code, signal }); }));
  let port = 0;
  await until('the API service says where it listens', 60_000, () => {
    if (exited) throw new Error(`rkt api-service exited: ${err}`);
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
    if (m !== null) port = Number(m[1]);
    return port > 0;
  }, 50);
  return { child, port, log: () => err, exit };
}

/** What the client's calls give back: plain objects with the proto's field names, int64 as strings, enums by name. */
export type Msg = Record<string, unknown> & { readonly [k: string]: any };

export interface Client {
  call(method: string, req?: object): Promise<Msg>;
  /** A server stream: its messages as they come, and its end (status) as a promise. */
  stream(method: string, req?: object): { readonly messages: Msg[]; readonly done: Promise<grpc.StatusObject>; readonly headers: Promise<void>; cancel(): void };
  close(): void;
}

export const PROTO = path.join(REPO, 'src/api/v1alpha.proto');

/** A v1alpha PublicAPI client of the service on 127.0.0.1:`port`. */
export function client(port: number): Client {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { v1alpha: { PublicAPI: grpc.ServiceClientConstructor } };
  const c = new pkg.v1alpha.PublicAPI(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  return {
    call: (method, req = {}) => new Promise((resolve, reject) => {
      (c[method] as (r: object, cb: (e: grpc.ServiceError | null, v: Msg) => void) => void).call(c, req, (e, v) => (e === null ? resolve(v) : reject(e)));
    }),
    stream: (method, req = {}) => {
      const s = (c[method] as (r: object) => grpc.ClientReadableStream<Msg>).call(c, req);
      const messages: Msg[] = [];
      s.on('data', (m: Msg) => messages.push(m));
      const headers = new Promise<void>((resolve) => s.on('metadata', () => resolve()));
      const done = new Promise<grpc.StatusObject>((resolve) => {
        s.on('status', (st: grpc.StatusObject) => resolve(st));
        s.on('error', () => undefined); // the status carries it
      });
      return { messages, done, headers, cancel: () => s.cancel() };
    },
    close: () => c.close(),
  };
}
