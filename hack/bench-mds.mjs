// hack/bench mds's driver: registers PODS pods (already in <data>/pods/run/, locked by hack/bench) with the
// metadata service on SOCKET, then times REQUESTS requests from one client, each on a fresh connection as
// busybox wget makes them, to random pods (GET pod/uuid, GET apps/NAME/annotations, POST pod/hmac/sign), and
// the same number against a bare node:http server in its own process (the floor).
// Usage: node hack/bench-mds.mjs SOCKET DATADIR PORT REQUESTS UUID...
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

const [socket, dataDir, portText, requestsText, ...uuids] = process.argv.slice(2);
const port = Number(portText);
const requests = Number(requestsText);

function ask(request) {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let buf = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${JSON.stringify(request)}\n`));
    c.on('data', (d) => { buf += d; if (buf.includes('\n')) { c.end(); resolve(JSON.parse(buf)); } });
    c.on('error', reject);
  });
}

const imageId = `sha512-${'0'.repeat(128)}`;
const imageManifest = JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/bench', annotations: [{ name: 'a', value: '1' }] });
const tokens = [];
for (const uuid of uuids) {
  const token = randomBytes(24).toString('base64url');
  const manifest = JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [{ name: 'app', image: { name: 'example.com/bench', id: imageId }, annotations: [{ name: 'b', value: '2' }] }] });
  const r = await ask({ op: 'register', pod: { uuid, token, manifest, imageManifests: { app: imageManifest }, dataDir, podDir: `${dataDir}/pods/run/${uuid}`, hostAddress: '127.0.0.1', ownNetwork: false } });
  if (r.ok !== true) throw new Error(`register: ${JSON.stringify(r)}`);
  tokens.push(token);
}

function once(p, path, body) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port: p, path, method: body === undefined ? 'GET' : 'POST', agent: false,
      headers: body === undefined ? {} : { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${path}: HTTP ${res.statusCode}`));
        else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function series(p, pick) {
  const ms = [];
  for (let i = 0; i < requests; i++) {
    const [path, body] = pick(i);
    ms.push(await once(p, path, body));
  }
  ms.sort((a, b) => a - b);
  const at = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  return { median: at(0.5), p99: at(0.99) };
}

const floor = spawn(process.execPath, ['-e', "require('http').createServer((q,r)=>{q.resume();q.on('end',()=>r.end('x'))}).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"], { stdio: ['ignore', 'pipe', 'inherit'] });
const floorPort = await new Promise((resolve) => floor.stdout.once('data', (d) => resolve(Number(String(d).trim()))));

const endpoints = ['pod/uuid', 'pod/uuid', 'apps/app/annotations', 'pod/hmac/sign'];
const pickMds = (i) => {
  const e = endpoints[i % endpoints.length];
  const path = `/${tokens[Math.floor(Math.random() * tokens.length)]}/acMetadata/v1/${e}`;
  return [path, e === 'pod/hmac/sign' ? 'content=bench%20content' : undefined];
};
// Warm both (JIT, first connections), then measure.
await series(port, pickMds);
await series(floorPort, () => ['/x', undefined]);
const mds = await series(port, pickMds);
const bare = await series(floorPort, (i) => ['/x', i % 4 === 3 ? 'content=bench%20content' : undefined]);
floor.kill();
const info = await ask({ op: 'info' });
console.log(`mds: ${info.pods} pods registered; per request (fresh connection each, ${requests} requests): median ${mds.median.toFixed(2)}ms p99 ${mds.p99.toFixed(2)}ms (targets 2 / 10)  bare node:http floor median ${bare.median.toFixed(2)}ms p99 ${bare.p99.toFixed(2)}ms  ratio ${(mds.median / bare.median).toFixed(2)}`);
