/**
 * rkt's side of the registration socket: ask the service its port, register a pod, unregister it. One short
 * connection per call. Errors are EMDS RktErrors naming the socket and how to start the service.
 */
import net from 'node:net';
import { describe, isErrno, RktError } from '../common/errors.js';
import { DEFAULT_SOCKET, type Registration } from './registry.js';

/** How long a call may take before rkt gives up on the service. */
const CALL_TIMEOUT_MS = 10_000;

/** The registration socket: RKT_METADATA_SOCKET (for tests and a second service), else /run/rkt/metadata-svc.sock. */
export function metadataSocket(env: NodeJS.ProcessEnv = process.env): string {
  const s = env['RKT_METADATA_SOCKET'];
  return s !== undefined && s !== '' ? s : DEFAULT_SOCKET;
}

const START_HINT = 'start it: systemctl start rkt-metadata.socket (with systemd), or rkt metadata-service (in the foreground); or run without --mds-register';

/** Send one request line to the service at `socket` and read its reply (an object with `ok`). */
export function call(socket: string, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let buf = '';
    const fail = (err: RktError) => { c.destroy(); reject(err); };
    c.setTimeout(CALL_TIMEOUT_MS, () => fail(new RktError('EMDS', `the metadata service on ${socket} did not answer`, { hint: START_HINT })));
    c.on('connect', () => c.write(`${JSON.stringify(request)}\n`));
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      c.end();
      let reply: unknown;
      try {
        reply = JSON.parse(buf.slice(0, nl));
      } catch (err) {
        fail(new RktError('EMDS', `the metadata service on ${socket} answered something that is not JSON`, { cause: err }));
        return;
      }
      const r = reply as Record<string, unknown>;
      if (r['ok'] !== true) fail(new RktError('EMDS', `the metadata service on ${socket} refused: ${String(r['error'])}`));
      else resolve(r);
    });
    c.on('error', (err) => {
      const down = isErrno(err, 'ENOENT') || isErrno(err, 'ECONNREFUSED');
      fail(new RktError('EMDS', down ? `--mds-register: no metadata service is running (nothing listens on ${socket})` : `cannot reach the metadata service on ${socket}: ${describe(err)}`, {
        cause: err, hint: down ? START_HINT : undefined,
      }));
    });
    c.on('end', () => { if (!buf.includes('\n')) fail(new RktError('EMDS', `the metadata service on ${socket} closed the connection without answering`)); });
  });
}

/** The TCP port the service at `socket` serves the pods on. */
export async function servicePort(socket: string): Promise<number> {
  const r = await call(socket, { op: 'info' });
  const port = r['port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0) throw new RktError('EMDS', `the metadata service on ${socket} gave no port`);
  return port;
}

/** Register a pod (replaces an earlier registration of the same UUID). */
export async function register(socket: string, pod: Registration): Promise<void> {
  await call(socket, { op: 'register', pod });
}

/** Unregister pod `uuid`; whether it was registered. */
export async function unregister(socket: string, uuid: string): Promise<boolean> {
  return (await call(socket, { op: 'unregister', uuid }))['found'] === true;
}
