import type { CommandSpec } from './command.js';
import { RktError, UsageError } from '../common/errors.js';

/** Where rkt 1.x's API service listened by default. */
export const DEFAULT_LISTEN = 'localhost:15441';

/**
 * `--listen` as host and port (pure): `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` (every address). `localhost` is
 * 127.0.0.1, as it was for rkt (Go listens on the first address of a name). Anything else is a usage error.
 */
export function parseListen(value: string): { host: string; port: number } {
  const bad = (why: string) => new UsageError(`bad --listen "${value}": ${why}; want HOST:PORT, e.g. ${DEFAULT_LISTEN}, 0.0.0.0:15441 or [::1]:15441`);
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]*)):(\d+)$/.exec(value);
  if (m === null) throw bad(value.includes(':') ? 'not a host and a port' : 'no port');
  const port = Number(m[3]);
  if (port > 65535) throw bad(`port ${m[3]} is out of range (0-65535)`);
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && !m[1].includes(':')) throw bad('only an IPv6 address goes in brackets');
  return { host: host === '' ? '::' : host === 'localhost' ? '127.0.0.1' : host, port };
}

/** The sockets systemd passed (sd_listen_fds): fds 3… when LISTEN_PID is this process. */
function listenFds(env: NodeJS.ProcessEnv, pid: number): number[] {
  const n = Number(env['LISTEN_FDS'] ?? '0');
  if (env['LISTEN_PID'] !== String(pid) || !Number.isInteger(n) || n <= 0) return [];
  return Array.from({ length: n }, (_, i) => 3 + i);
}

export const command: CommandSpec = {
  path: ['api-service'],
  summary: "Run the read-only API service (rkt's v1alpha gRPC API: pods, images, events, logs)",
  description: `Runs in the foreground until SIGTERM or SIGINT, serving rkt's v1alpha PublicAPI over gRPC (plain TCP) on --listen `
    + `(default ${DEFAULT_LISTEN}; 0.0.0.0:PORT for every interface). Started by systemd with sockets (LISTEN_FDS, e.g. from a `
    + '.socket unit) it serves those instead, and --listen is refused. It only reads: pods and images as rkt list, rkt status '
    + 'and rkt image list see them. See Documentation/api-service.md.',
  needsRoot: false,
  flags: [
    { name: 'listen', kind: 'string', describe: `address to listen on for API clients, HOST:PORT (default ${DEFAULT_LISTEN})` },
  ],
  run: async (args, ctx) => {
    const given = typeof args['listen'] === 'string' ? args['listen'] : undefined;
    const fds = listenFds(process.env, process.pid);
    if (fds.length > 0 && given !== undefined) {
      throw new UsageError('--listen is given, but systemd passed sockets to listen on (LISTEN_FDS): drop one of them');
    }
    const address = fds.length > 0 ? undefined : parseListen(given ?? DEFAULT_LISTEN);
    delete process.env['LISTEN_FDS'];
    delete process.env['LISTEN_PID'];
    delete process.env['LISTEN_FDNAMES'];
    // grpc-js and the proto loader take ~100 ms to load: only this command pays for them.
    let startApiService: typeof import('../api/server.js').startApiService;
    try {
      ({ startApiService } = await import('../api/server.js'));
    } catch (err) {
      // (MODULE_NOT_FOUND from the bundle, which loads it with require(); ERR_MODULE_NOT_FOUND from tsc's ES modules.)
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') throw err;
      throw new RktError('ENOFILE', `rkt api-service needs @grpc/grpc-js and @grpc/proto-loader: ${(err as Error).message}`, { hint: 'install rkt\'s dependencies (npm ci in its package directory)', cause: err });
    }
    let stopRequested: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => { stopRequested = resolve; });
    ctx.onStop?.(() => stopRequested());
    const service = await startApiService({
      globals: ctx.globals,
      listen: address ?? { fds },
      log: (line) => ctx.io.stderr.write(`${line}\n`),
    });
    ctx.io.stderr.write(`api-service: listening on ${service.addresses.join(', ')}${fds.length > 0 ? ' (sockets passed by systemd)' : ''}\n`);
    await stopped;
    await service.close();
    ctx.io.stderr.write('api-service: stopped\n');
    return 0;
  },
};
