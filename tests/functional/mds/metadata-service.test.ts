// The metadata service with real pods: the service started by the test (free port, temporary socket), pods
// run with --mds-register --net=host reaching it from inside with busybox wget; registrations seen through the
// service's own socket.
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { INSECURE, podEnv, podSkip, podTest, title, until, waitRunning, type PodEnv } from '../../lib/pods.js';
import { rkt, tempDir } from '../../lib/rkt.js';
import { annotatedImage, ask, get, registered, startService, type Service } from './service.js';

const IMAGE_NAME = 'example.com/mds-probe';
const IMAGE_ANNOTATIONS = [{ name: 'color', value: 'red' }, { name: 'size', value: 'L' }];
let service: Service | undefined;
let image: Promise<string> | undefined;
const state = tempDir('rkt-mds-svc-');

test.before(async () => {
  if (podSkip !== undefined) return;
  service = await startService(state.dir);
  // Every rkt this process spawns registers with the test's service.
  process.env['RKT_METADATA_SOCKET'] = service.socket;
  image = annotatedImage(IMAGE_NAME, IMAGE_ANNOTATIONS);
});

test.after.always(async () => {
  if (service !== undefined && service.child.exitCode === null) {
    service.child.kill('SIGKILL');
    await service.exit;
  }
  state.cleanup();
});

/**
 * The probe an app runs: every endpoint fetched with busybox wget into /out/<name> (body), <name>.rc (wget's
 * status) and <name>.err (its message: the HTTP status of a refusal); then /out/done, then it waits for
 * /out/stop. `OTHER_UUID`/`OTHER_SIG` in /out, when present, are another pod's signature of "hello pod".
 */
const PROBE = `
U="$AC_METADATA_URL/acMetadata/v1"
BASE="\${AC_METADATA_URL%/*}"
echo "$AC_METADATA_URL" > /out/url
fetch() { f=$1; shift; wget -q -O /out/$f "$@" 2>/out/$f.err; echo $? > /out/$f.rc; }
fetch uuid "$U/pod/uuid"
fetch pod-annotations "$U/pod/annotations"
fetch pod-manifest "$U/pod/manifest"
fetch app-annotations "$U/apps/$AC_APP_NAME/annotations"
fetch image-id "$U/apps/$AC_APP_NAME/image/id"
fetch image-manifest "$U/apps/$AC_APP_NAME/image/manifest"
fetch no-app "$U/apps/no-such-app/annotations"
fetch sign --post-data 'content=hello%20pod' "$U/pod/hmac/sign"
enc() { sed 's/+/%2B/g; s/\\//%2F/g; s/=/%3D/g' "$1"; }
ID=$(cat /out/uuid)
fetch verify --post-data "content=hello%20pod&uuid=$ID&signature=$(enc /out/sign)" "$U/pod/hmac/verify"
fetch tampered --post-data "content=hello%20pot&uuid=$ID&signature=$(enc /out/sign)" "$U/pod/hmac/verify"
if [ -e /out/OTHER_UUID ]; then
  fetch other-verify --post-data "content=hello%20pod&uuid=$(cat /out/OTHER_UUID)&signature=$(enc /out/OTHER_SIG)" "$U/pod/hmac/verify"
  fetch as-other --post-data "content=hello%20pod&uuid=$(cat /out/OTHER_UUID)&signature=$(enc /out/sign)" "$U/pod/hmac/verify"
fi
fetch no-token "$BASE/acMetadata/v1/pod/uuid"
fetch bad-token "$BASE/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/acMetadata/v1/pod/uuid"
touch /out/done
while [ ! -e /out/stop ]; do sleep 0.1; done
`;

interface Probe {
  readonly vol: string;
  out(name: string): string;
  rc(name: string): number;
  err(name: string): string;
}

function probeDir(env: PodEnv, name: string): Probe {
  const vol = env.file(name);
  mkdirSync(vol);
  writeFileSync(path.join(vol, 'script.sh'), PROBE);
  const read = (f: string) => readFileSync(path.join(vol, f), 'utf8');
  return { vol, out: (n) => read(n), rc: (n) => Number(read(`${n}.rc`).trim()), err: (n) => read(`${n}.err`) };
}

/** Start a probe pod in the background with --mds-register; resolves with its UUID once its probe is done. */
async function startProbe(env: PodEnv, p: Probe, extra: readonly string[] = []) {
  const uuidFile = path.join(p.vol, '..', `${path.basename(p.vol)}.uuid`);
  const bg = env.spawnRun(['--mds-register', '--net=host', `--uuid-file-save=${uuidFile}`, `--volume=out,kind=host,source=${p.vol}`, ...extra,
    await (image as Promise<string>), '--name=probe', '--mount=volume=out,target=/out', '--exec=/bin/sh', '--', '/out/script.sh']);
  const uuid = await waitRunning(env, uuidFile, bg);
  await until('the probe is done', 90_000, () => {
    if (bg.hasExited()) throw new Error('rkt run ended before the probe was done');
    return existsSync(path.join(p.vol, 'done'));
  }, 50);
  return { uuid, bg };
}

podTest(title('every endpoint from inside a pod: uuid, annotations (merged), manifests, image id; sign then verify; tampered 403; no or unknown token 401'), async (t) => {
  const env = await podEnv(t);
  const svc = service as Service;
  const p = probeDir(env, 'out');
  const { uuid, bg } = await startProbe(env, p);
  const url = p.out('url').trim();
  t.regex(url, new RegExp(`^http://127\\.0\\.0\\.1:${svc.port}/[A-Za-z0-9_-]{32}$`), 'AC_METADATA_URL is http://<loopback>:<port>/<token of 192 bits>');
  t.true((await registered(svc.socket)).includes(uuid), 'registered while it runs');
  t.is(p.rc('uuid'), 0, p.err('uuid'));
  t.is(p.out('uuid'), uuid);
  t.deepEqual(JSON.parse(p.out('pod-annotations')), []);
  const pm = JSON.parse(p.out('pod-manifest')) as { acKind: string; apps: { name: string; image: { id: string } }[] };
  t.is(pm.acKind, 'PodManifest');
  t.deepEqual(pm.apps.map((a) => a.name), ['probe']);
  const imageId = pm.apps[0]?.image.id ?? '';
  t.regex(imageId, /^sha512-[0-9a-f]{128}$/);
  t.is(p.out('image-id'), imageId);
  t.deepEqual(JSON.parse(p.out('app-annotations')), IMAGE_ANNOTATIONS);
  const im = JSON.parse(p.out('image-manifest')) as { name: string; annotations: unknown };
  t.is(im.name, IMAGE_NAME);
  t.deepEqual(im.annotations, IMAGE_ANNOTATIONS);
  t.not(p.rc('no-app'), 0);
  t.regex(p.err('no-app'), /404/);
  t.is(p.rc('sign'), 0, p.err('sign'));
  t.regex(p.out('sign'), /^[A-Za-z0-9+/]{86}==$/, 'a base64 HMAC-SHA512');
  t.is(p.rc('verify'), 0, `the pod's own signature verifies: ${p.err('verify')}`);
  t.not(p.rc('tampered'), 0);
  t.regex(p.err('tampered'), /403/);
  t.regex(p.err('no-token'), /401/);
  t.regex(p.err('bad-token'), /401/);

  // The same from the host, for the exact content types and statuses.
  const token = url.slice(url.lastIndexOf('/'));
  const base = `${token}/acMetadata/v1`;
  t.like(await get(svc.port, `${base}/pod/uuid`), { status: 200, type: 'text/plain; charset=us-ascii', body: uuid });
  t.like(await get(svc.port, `${base}/apps/probe/image/id`), { status: 200, type: 'text/plain; charset=us-ascii', body: imageId });
  for (const e of ['pod/annotations', 'pod/manifest', 'apps/probe/annotations', 'apps/probe/image/manifest']) {
    t.like(await get(svc.port, `${base}/${e}`), { status: 200, type: 'application/json' }, e);
  }
  const sig = await get(svc.port, `${base}/pod/hmac/sign`, { content: 'hello pod' });
  t.like(sig, { status: 200, type: 'text/plain; charset=us-ascii', body: p.out('sign') }, 'the same content signs the same');
  t.is((await get(svc.port, `${base}/pod/hmac/verify`, { content: 'hello pod', uuid, signature: sig.body })).status, 200);
  t.is((await get(svc.port, `${base}/pod/hmac/verify`, { content: 'hello pod!', uuid, signature: sig.body })).status, 403);
  t.is((await get(svc.port, `${base}/pod/hmac/sign`)).status, 405, 'sign takes POST only');
  t.is((await get(svc.port, `${base}/pod/hmac/sign`, {})).status, 400, 'sign needs content');
  t.is((await get(svc.port, `${base}/pod/nothing`)).status, 404);

  writeFileSync(path.join(p.vol, 'stop'), '');
  const res = await bg.done;
  t.is(res.exitCode, 0, res.stderr);
  t.false((await registered(svc.socket)).includes(uuid), 'unregistered when the pod ends');
  t.is((await get(svc.port, `${base}/pod/uuid`)).status, 401, "an ended pod's token is refused");
});

podTest(title("a pod cannot sign as another: another pod's signature verifies under its own UUID only"), async (t) => {
  const env = await podEnv(t);
  const a = probeDir(env, 'a');
  const first = await startProbe(env, a);
  const b = probeDir(env, 'b');
  writeFileSync(path.join(b.vol, 'OTHER_UUID'), first.uuid);
  writeFileSync(path.join(b.vol, 'OTHER_SIG'), a.out('sign'));
  const second = await startProbe(env, b);
  const both = await registered((service as Service).socket);
  t.true(both.includes(first.uuid) && both.includes(second.uuid));
  t.not(a.out('url'), b.out('url'), 'each pod has its own token');
  t.not(a.out('sign'), b.out('sign'), 'the same content signed by two pods differs');
  t.is(b.rc('other-verify'), 0, `pod b verifies pod a's signature: ${b.err('other-verify')}`);
  t.not(b.rc('as-other'), 0, "pod b's signature does not pass as pod a's");
  t.regex(b.err('as-other'), /403/);
  for (const p of [a, b]) writeFileSync(path.join(p.vol, 'stop'), '');
  for (const x of [first, second]) t.is((await x.bg.done).exitCode, 0);
  const after = await registered((service as Service).socket);
  t.false(after.includes(first.uuid) || after.includes(second.uuid));
});

podTest(title('pod and app annotations from a pod manifest: the app entry replaces and adds to the image\'s, in order'), async (t) => {
  const env = await podEnv(t);
  const svc = service as Service;
  const fetched = await env.r([INSECURE, 'fetch', '--full', await (image as Promise<string>)]);
  t.is(fetched.exitCode, 0, fetched.stderr);
  const p = probeDir(env, 'out');
  const manifest = env.file('pod.json');
  writeFileSync(manifest, JSON.stringify({
    acVersion: '0.8.11', acKind: 'PodManifest',
    apps: [{
      name: 'probe', image: { name: IMAGE_NAME, id: fetched.stdout.trim() },
      app: { exec: ['/bin/sh', '/out/script.sh'], user: '0', group: '0' },
      mounts: [{ volume: 'out', path: '/out' }],
      annotations: [{ name: 'extra', value: 'x' }, { name: 'color', value: 'blue' }],
    }],
    volumes: [{ name: 'out', kind: 'host', source: p.vol }],
    annotations: [{ name: 'pod-note', value: 'hi' }],
  }));
  const uuidFile = env.file('uuid');
  // No --net here: with no image among the words the helper adds --net=host itself.
  const bg = env.spawnRun(['--mds-register', `--uuid-file-save=${uuidFile}`, `--pod-manifest=${manifest}`]);
  const uuid = await waitRunning(env, uuidFile, bg);
  await until('the probe is done', 90_000, () => existsSync(path.join(p.vol, 'done')), 50);
  t.deepEqual(JSON.parse(p.out('pod-annotations')), [{ name: 'pod-note', value: 'hi' }]);
  t.deepEqual(JSON.parse(p.out('app-annotations')), [{ name: 'color', value: 'blue' }, { name: 'size', value: 'L' }, { name: 'extra', value: 'x' }]);
  writeFileSync(path.join(p.vol, 'stop'), '');
  t.is((await bg.done).exitCode, 0);
  t.false((await registered(svc.socket)).includes(uuid));
});

podTest(title('rkt prepare --mds-register then run-prepared registers the pod; the token file is root-only; the manifest has no AC_METADATA_URL'), async (t) => {
  const env = await podEnv(t);
  const p = probeDir(env, 'out');
  const prep = await env.r([INSECURE, 'prepare', '--quiet', '--mds-register', '--net=host', `--volume=out,kind=host,source=${p.vol}`,
    await (image as Promise<string>), '--name=probe', '--mount=volume=out,target=/out', '--exec=/bin/sh', '--', '/out/script.sh']);
  t.is(prep.exitCode, 0, prep.stderr);
  const uuid = prep.stdout.trim();
  const mdsFile = path.join(env.data, 'pods/prepared', uuid, 'mds.json');
  t.is(statSync(mdsFile).mode & 0o777, 0o600);
  const cat = await env.r(['cat-manifest', uuid]);
  t.false(cat.stdout.includes('AC_METADATA_URL'), 'the token stays out of the pod manifest');
  const run = env.r(['run-prepared', uuid]);
  await until('the probe is done', 90_000, () => existsSync(path.join(p.vol, 'done')), 50);
  t.is(p.out('uuid'), uuid);
  t.true((await registered((service as Service).socket)).includes(uuid));
  writeFileSync(path.join(p.vol, 'stop'), '');
  t.is((await run).exitCode, 0);
  t.false((await registered((service as Service).socket)).includes(uuid));
});

podTest(title('after SIGKILL of rkt run the pod stays registered while it runs, and is dropped once it has ended'), async (t) => {
  const env = await podEnv(t);
  const svc = service as Service;
  const p = probeDir(env, 'out');
  const { uuid, bg } = await startProbe(env, p);
  bg.child.kill('SIGKILL');
  await bg.exit;
  t.true((await registered(svc.socket)).includes(uuid), 'the pod still runs: its registration stays');
  const stop = await env.r(['stop', '--force', uuid]);
  t.is(stop.exitCode, 0, stop.stderr);
  await until('the service drops the ended pod', 60_000, async () => !(await registered(svc.socket)).includes(uuid));
  t.regex(svc.log(), new RegExp(`pod ${uuid} unregistered \\(the pod is (exited|gone)`));
});

podTest(title('--mds-register with no service running: exit 254 naming the socket and how to start the service; no pod left'), async (t) => {
  const env = await podEnv(t);
  const socket = env.file('no-service.sock');
  const res = await env.run(['--mds-register', '--net=host', await (image as Promise<string>), '--exec=/bin/true'], { env: { ...process.env, RKT_METADATA_SOCKET: socket } });
  t.is(res.exitCode, 254);
  t.true(res.stderr.includes(`nothing listens on ${socket}`), res.stderr);
  t.regex(res.stderr, /systemctl start rkt-metadata\.socket/);
  t.regex(res.stderr, /rkt metadata-service/);
  t.false(existsSync(path.join(env.data, 'pods/run')) && (await env.r(['list', '--no-legend'])).stdout.trim() !== '', 'no pod was made');
});

podTest(title('--mds-register --net=none is a usage error (exit 2): the pod could not reach the host'), async (t) => {
  const env = await podEnv(t);
  const res = await env.run(['--mds-register', '--net=none', await (image as Promise<string>), '--exec=/bin/true']);
  t.is(res.exitCode, 2, res.stderr);
  t.regex(res.stderr, /--net=none/);
});

podTest(title('a second service on the same socket is refused (254) and the first keeps serving; a bad --listen-port is a usage error (2)'), async (t) => {
  const svc = service as Service;
  const second = await rkt(['metadata-service', '--listen-port=0'], { env: { ...process.env, RKT_METADATA_SOCKET: svc.socket } });
  t.is(second.exitCode, 254, second.stderr);
  t.true(second.stderr.includes(`a metadata service is already listening on ${svc.socket}`), second.stderr);
  t.is((await ask(svc.socket, { op: 'info' }))['port'], svc.port, 'the first still answers');
  const bad = await rkt(['metadata-service', '--listen-port=http']);
  t.is(bad.exitCode, 2, bad.stderr);
  t.regex(bad.stderr, /bad --listen-port "http"/);
});

test.serial.after(title('SIGTERM stops the service cleanly: exit 0, its socket removed'), async (t) => {
  if (service === undefined) { t.log(`skipped: ${podSkip ?? ''}`); return; }
  service.child.kill('SIGTERM');
  const { code, signal } = await service.exit;
  t.is(code, 0, service.log());
  t.is(signal, null);
  t.false(existsSync(service.socket));
  t.regex(service.log(), /metadata-service: stopped/);
});
