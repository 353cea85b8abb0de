import type { CommandSpec } from './command.js';
import { UsageError } from '../common/errors.js';

/** The sockets systemd passed (sd_listen_fds): fds 3… when LISTEN_PID is this process. */
function listenFds(env: NodeJS.ProcessEnv, pid: number): number[] {
  const n = Number(env['LISTEN_FDS'] ?? '0');
  if (env['LISTEN_PID'] !== String(pid) || !Number.isInteger(n) || n <= 0) return [];
  return Array.from({ length: n }, (_, i) => 3 + i);
}

export const command: CommandSpec = {
  path: ['metadata-service'],
  summary: 'Run the metadata service (appc identity and metadata endpoints for pods run with --mds-register)',
  description: 'Runs in the foreground until SIGTERM or SIGINT. Under systemd it takes its sockets from rkt-metadata.socket '
    + '(socket activation); otherwise it listens on 127.0.0.1:PORT and takes registrations on /run/rkt/metadata-svc.sock '
    + '(RKT_METADATA_SOCKET names another). See Documentation/metadata-service.md.',
  needsRoot: true,
  flags: [
    { name: 'listen-port', kind: 'string', default: '18112', describe: 'the TCP port the pods reach the service on (0: any free port; not used with socket activation)' },
  ],
  run: async (args, ctx) => {
    const portText = String(args['listen-port']);
    const port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`bad --listen-port "${portText}": want a port number 0-65535`);
    const { startMetadataService } = await import('../mds/server.js');
    const { metadataSocket } = await import('../mds/client.js');
    const fds = listenFds(process.env, process.pid);
    delete process.env['LISTEN_FDS'];
    delete process.env['LISTEN_PID'];
    delete process.env['LISTEN_FDNAMES'];
    let stopRequested: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => { stopRequested = resolve; });
    ctx.onStop?.(() => stopRequested());
    const service = await startMetadataService({
      port, socketPath: metadataSocket(), listenFds: fds, log: (line) => ctx.io.stderr.write(`${line}\n`),
    });
    await stopped;
    await service.close();
    ctx.io.stderr.write('metadata-service: stopped\n');
    return 0;
  },
};
