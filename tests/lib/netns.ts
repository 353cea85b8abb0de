/**
 * Run a command where real names (`https://example.com/app?ac-discovery=1`, port 443) reach a test server:
 * a fresh network, mount and PID namespace (`unshare --net --mount --pid --fork --kill-child --mount-proc`)
 * with only loopback up, a temporary hosts file bind-mounted over /etc/hosts that maps DEFAULT_HOSTS (and
 * `hosts`) to 127.0.0.1, and a server (tests/lib/https-server-main.ts) started inside before the command.
 * Nothing inside can reach the outside network, and when the command ends everything started inside dies
 * with the namespace. Needs root.
 *
 * Server config (JSON; `runInNetns` writes it from `server` and fills in `requestLog` and `ready`):
 *
 *   {
 *     "cert": "/abs/server.crt", "key": "/abs/server.key",   // TLS; required unless "httpsPort" is null
 *     "host": "127.0.0.1",        // address to listen on
 *     "httpsPort": 443,           // null: no https listener
 *     "httpPort": 80,             // null: no plain http listener
 *     "root": "/abs/dir",         // static files: http(s)://HOST/PATH is ROOT/HOST/PATH (HOST without port)
 *     "static": { "etag": true, "cacheControl": "max-age=60", "ranges": true },  // how static files answer
 *     "routes": [ ROUTE, … ],     // tried in order before static files; the first that matches answers
 *     "requestLog": "/abs/requests.jsonl",   // one LoggedRequest per line, in arrival order
 *     "ready": "/abs/ready"       // written once every listener is up
 *   }
 *
 *   ROUTE — what to match:
 *     "path": "/app"                      exact URL path; "/images/*" matches every path under /images/
 *     "host": "example.com"               Host header without port (default: any)
 *     "query": {"ac-discovery": "1"}      each parameter present with this value (others may be present)
 *     "scheme": "https" | "http"          (default: either)
 *     "times": 1                          answer only the first N matching requests, then fall through
 *                                         (202 answers count); lets a test change what a URL serves
 *   ROUTE — how to answer:
 *     "status": 200                       (default 200, 302 with "redirect")
 *     "body": "<html>…</html>"            the body as text (content-type text/html unless "headers" say), or
 *     "file": "app.aci"                   a file, absolute or relative to "root" (application/octet-stream)
 *     "redirect": "https://…"             Location header
 *     "headers": {"x-a": "b"}             extra headers (override the defaults)
 *     "etag": "\"v1\""                    ETag; a request whose If-None-Match has it gets 304 Not Modified
 *     "cacheControl": "max-age=3600"      Cache-Control (also on the 304)
 *     "ranges": true                      honour "Range: bytes=A-B" / "bytes=A-" / "bytes=-N" with 206 (416 when
 *                                         unsatisfiable; If-Range with a stale ETag gets the whole body)
 *     "acceptedTimes": 2                  the first N matching requests get 202 Accepted with an empty body
 *     "delayMs": 500                      wait this long before answering (at most 60000)
 *     "abortAfterBytes": 1000             send the headers (full Content-Length), this many body bytes, then
 *                                         drop the connection
 *
 * Requests nothing matches get 404. HEAD is answered like GET without a body.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { functionalSkipReason, REPO, runCmd, tempDir, type Result } from './rkt.js';

export interface ServerRoute {
  readonly path: string;
  readonly host?: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly scheme?: 'https' | 'http';
  readonly times?: number;
  readonly status?: number;
  readonly body?: string;
  readonly file?: string;
  readonly redirect?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly etag?: string;
  readonly cacheControl?: string;
  readonly ranges?: boolean;
  readonly acceptedTimes?: number;
  readonly delayMs?: number;
  readonly abortAfterBytes?: number;
}

export interface ServerConfig {
  readonly cert?: string;
  readonly key?: string;
  readonly host?: string;
  readonly httpsPort?: number | null;
  readonly httpPort?: number | null;
  readonly root?: string;
  readonly static?: { readonly etag?: boolean; readonly cacheControl?: string; readonly ranges?: boolean };
  readonly routes?: readonly ServerRoute[];
  readonly requestLog?: string;
  readonly ready?: string;
}

/** One line of the request log. */
export interface LoggedRequest {
  readonly scheme: 'https' | 'http';
  readonly method: string;
  /** Host header without port, lowercased. */
  readonly host: string;
  /** Path and query as sent. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** What answered: the index of the route in "routes", "static", or "none" (404). */
  readonly answeredBy: number | 'static' | 'none';
}

/** Names that resolve to 127.0.0.1 inside the namespace. */
export const DEFAULT_HOSTS: readonly string[] = [
  'localhost', 'example.com', 'www.example.com', 'storage.example.com', 'keys.example.com', 'example.org', 'www.example.org',
];

/** The server program run inside the namespace. */
export const SERVER_MAIN = path.join(REPO, 'tests/lib/https-server-main.ts');

export interface NetnsRunOptions {
  /** The command and its arguments, run inside once the server is up. */
  readonly command: readonly string[];
  readonly server: ServerConfig;
  /** More names mapped to 127.0.0.1. */
  readonly hosts?: readonly string[];
  /** The whole environment of the command and the server (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** The command's working directory (default: the repository). */
  readonly cwd?: string;
  /** Kill everything after this long (default 120 s). */
  readonly timeoutMs?: number;
}

export interface NetnsResult extends Result {
  /** What the server was asked, in order. */
  readonly requests: readonly LoggedRequest[];
  /** The server's own stdout and stderr. */
  readonly serverLog: string;
}

/** Why runInNetns cannot work here, or undefined if it can. */
export function netnsSkipReason(): string | undefined {
  const functional = functionalSkipReason();
  if (functional !== undefined) return functional;
  for (const tool of ['/usr/bin/unshare', '/usr/bin/bash']) {
    if (!existsSync(tool)) return `needs ${tool}`;
  }
  return undefined;
}

// Inside the namespace: $1 hosts file, $2 server config, $3 server log, $4 ready file, $5 started marker,
// $6 node, $7 repository, $8 server main, $9 the command's cwd; the rest is the command. The wait for the server
// is bounded (20 s); bash is PID 1 of the namespace, so whatever is left when it exits is killed.
const SCRIPT = `
set -u
hosts=$1 config=$2 log=$3 ready=$4 started=$5 node=$6 repo=$7 main=$8 cwd=$9
shift 9
ip link set lo up || { echo "netns: cannot bring up lo" >&2; exit 125; }
mount --bind "$hosts" /etc/hosts || { echo "netns: cannot bind-mount /etc/hosts" >&2; exit 125; }
(cd "$repo" && exec "$node" --import tsx "$main" "$config") >"$log" 2>&1 &
server=$!
for _ in $(seq 1 400); do
  [ -e "$ready" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.05
done
if [ ! -e "$ready" ]; then echo "netns: the test server did not start" >&2; kill "$server" 2>/dev/null; exit 125; fi
cd "$cwd" || exit 125
: >"$started"
"$@"
rc=$?
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null
exit $rc
`;

/**
 * Run `command` in a fresh network+mount+PID namespace with the test server configured by `server` (see the
 * file comment). Resolves with the command's exit code and output, the server's request log and its own
 * output. Throws if the namespace or the server could not be set up (a setup failure is never a result).
 */
export async function runInNetns(opts: NetnsRunOptions): Promise<NetnsResult> {
  const { dir, cleanup } = tempDir('rkt-netns-');
  try {
    const f = (name: string) => path.join(dir, name);
    const names = [...DEFAULT_HOSTS, ...(opts.hosts ?? [])];
    writeFileSync(f('hosts'), `127.0.0.1 ${names.join(' ')}\n::1 localhost\n`);
    writeFileSync(f('config.json'), JSON.stringify({ ...opts.server, requestLog: f('requests.jsonl'), ready: f('ready') }));
    writeFileSync(f('requests.jsonl'), '');
    const args = [
      '--net', '--mount', '--pid', '--fork', '--kill-child', '--mount-proc', '--', '/usr/bin/bash', '-c', SCRIPT, 'netns',
      f('hosts'), f('config.json'), f('server.log'), f('ready'), f('started'), process.execPath, REPO, SERVER_MAIN,
      opts.cwd ?? REPO, ...opts.command,
    ];
    const res = await runCmd('/usr/bin/unshare', args, { env: opts.env ?? process.env, timeoutMs: opts.timeoutMs ?? 120_000 });
    const serverLog = existsSync(f('server.log')) ? readFileSync(f('server.log'), 'utf8') : '';
    if (!existsSync(f('started'))) {
      throw new Error(`netns setup failed (exit ${res.exitCode}): ${res.stderr}\nserver log:\n${serverLog}`);
    }
    const requests = readFileSync(f('requests.jsonl'), 'utf8').split('\n').filter((l) => l !== '')
      .map((l) => JSON.parse(l) as LoggedRequest);
    return { ...res, requests, serverLog };
  } finally {
    cleanup();
  }
}
