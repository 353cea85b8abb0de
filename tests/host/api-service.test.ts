// rkt api-service under a real systemd: GetLogs reads a pod's journal from the host's
// /var/log/journal/<machine-id> (app, lines, follow; still there after the pod ended), a running pod's cgroup
// is machined's and pod_sub_cgroups finds the pod from one of its apps' cgroups, and the shipped
// rkt-api.socket starts rkt-api.service (its sandbox as shipped) at the first client, which systemctl stop ends
// cleanly. The client is grpc-js inside the test host (its network is private), built from v1alpha.proto.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { podHostSuite, repoRoot, until } from '../lib/testhost.js';

const DIR = '/var/tmp/rkt-api-test';
// The test host's /var is volatile and starts without /var/log/journal: make it, as a host with a
// persistent journal has it, so that nspawn links the pod's journal there.
const { suite, rkt: RKT, sh, host } = podHostSuite(DIR, 'mkdir -p /var/log/journal');
const CLI = `node ${path.join(repoRoot, 'dist/bin/rkt.js')}`;

/** A node script (CommonJS, run inside the test host) calling `method` of the service on `port`; prints JSON. */
function clientScript(port: number, method: string, req: object, stream: { until?: string } | undefined): string {
  const mod = (m: string) => JSON.stringify(path.join(repoRoot, 'node_modules', m));
  return [
    `const g=require(${mod('@grpc/grpc-js')});const l=require(${mod('@grpc/proto-loader')});`,
    `const d=l.loadSync(${JSON.stringify(path.join(repoRoot, 'src/api/v1alpha.proto'))},{keepCase:true,longs:String,enums:String,defaults:true,oneofs:true});`,
    `const c=new (g.loadPackageDefinition(d).v1alpha.PublicAPI)('127.0.0.1:${port}',g.credentials.createInsecure());`,
    stream === undefined
      ? `c.${method}(${JSON.stringify(req)},(e,v)=>{console.log(JSON.stringify(e?{code:e.code,details:e.details}:v));c.close();});`
      : `const s=c.${method}(${JSON.stringify(req)});const m=[];s.on('data',(x)=>{m.push(x);${stream.until !== undefined ? `if(JSON.stringify(m).includes(${JSON.stringify(stream.until)})){console.log(JSON.stringify({messages:m,cancelled:true}));s.cancel();}` : ''}});`
        + `s.on('error',()=>{});s.on('status',(st)=>{if(st.code!==1)console.log(JSON.stringify({messages:m,code:st.code,details:st.details}));c.close();});`
        // a bound for a hung stream, not a measure: the test fails with what came so far
        + `setTimeout(()=>{console.log(JSON.stringify({messages:m,timedOut:true}));process.exit(3);},120000).unref();`,
  ].join('');
}

async function call(port: number, method: string, req: object = {}, stream?: { until?: string }): Promise<Record<string, any>> {
  const r = await host().exec([process.execPath, '-e', clientScript(port, method, req, stream)]);
  if (r.exitCode !== 0) throw new Error(`${method}: exit ${r.exitCode}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}

const PORT = 15442;

suite.test('GetLogs: a pod\'s app lines from the host journal, by app, the last N, following; still there after the pod exited; the cgroup filters', async (t) => {
  const start = await sh(`systemd-run --unit=rkt-api-pod -p KillMode=mixed --service-type=exec ${RKT} run example.com/busybox --exec /bin/sh -- -c 'echo api-line-1; echo api-line-2; sleep 86400'`);
  t.is(start.exitCode, 0, start.stderr);
  let uuid = '';
  await until('the pod is registered with machined', 60_000, async () => {
    uuid = ((await sh(`machinectl list --no-legend | awk '$1 ~ /^rkt-/ {print $1}'`)).stdout.trim().split('\n')[0] ?? '').replace(/^rkt-/, '');
    return uuid !== '';
  });
  const svc = await sh(`systemd-run --unit=rkt-api-t --service-type=exec ${CLI} --dir=${DIR} api-service --listen=127.0.0.1:${PORT}`);
  t.is(svc.exitCode, 0, svc.stderr);
  await until('the service answers', 60_000, async () => (await sh(`journalctl -u rkt-api-t --no-pager -o cat`)).stdout.includes('listening on 127.0.0.1'));

  let logs: Record<string, any> = {};
  await until('both lines are in the journal the service reads', 60_000, async () => {
    logs = await call(PORT, 'GetLogs', { pod_id: uuid, app_name: 'busybox' }, {});
    return JSON.stringify(logs).includes('api-line-2');
  });
  t.is(logs['code'], 0, logs['details']);
  const lines = (logs['messages'] as { lines: string[] }[]).flatMap((m) => m.lines);
  t.deepEqual(lines.map((l) => l.replace(/^\S+ /, '')).filter((l) => l.startsWith('api-line')), ['api-line-1', 'api-line-2']);
  for (const l of lines) t.regex(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /, 'each line has its time');
  const last = await call(PORT, 'GetLogs', { pod_id: uuid, app_name: 'busybox', lines: 1 }, {});
  t.deepEqual((last['messages'] as { lines: string[] }[]).flatMap((m) => m.lines).map((l) => l.replace(/^\S+ /, '')), ['api-line-2']);
  const none = await call(PORT, 'GetLogs', { pod_id: uuid, app_name: 'no-such-app' }, {});
  t.deepEqual([none['code'], none['messages']], [0, []]);
  const follow = await call(PORT, 'GetLogs', { pod_id: uuid, app_name: 'busybox', follow: true }, { until: 'api-line-2' });
  t.true(follow['cancelled'], 'a follow stays open until the client cancels');

  const { pods } = await call(PORT, 'ListPods', {});
  const pod = (pods as Record<string, any>[]).find((p) => p['id'] === uuid) ?? {};
  t.is(pod['state'], 'POD_STATE_RUNNING');
  t.regex(pod['cgroup'], /^\/machine\.slice\/|\/rkt-api-pod\.service/, `the pod's cgroup: ${pod['cgroup']}`);
  const sub = await call(PORT, 'ListPods', { filters: [{ pod_sub_cgroups: [`${pod['cgroup']}/system.slice/busybox.service`] }] });
  t.deepEqual((sub['pods'] as { id: string }[]).map((p) => p.id), [uuid]);

  t.is((await sh('systemctl stop rkt-api-pod')).exitCode, 0);
  const after = await call(PORT, 'GetLogs', { pod_id: uuid, app_name: 'busybox' }, {});
  t.true(JSON.stringify(after['messages']).includes('api-line-1'), 'the journal outlives the pod');
  t.is((await sh('systemctl stop rkt-api-t')).exitCode, 0);
  t.regex((await sh('journalctl -u rkt-api-t --no-pager -o cat')).stdout, /api-service: stopped/);
});

suite.test('rkt-api.socket starts rkt-api.service (as shipped, sandbox and all) at the first client; systemctl stop ends it cleanly', async (t) => {
  // The shipped units as runtime units; the service runs this checkout's build with the test's --dir (no
  // /usr/bin/rkt here: hack/install is tested in units.test.ts).
  const unit = readFileSync(path.join(repoRoot, 'units/rkt-api.service'), 'utf8');
  const socket = readFileSync(path.join(repoRoot, 'units/rkt-api.socket'), 'utf8');
  const dropIn = `[Service]\nExecStart=\nExecStart=${CLI} --dir=${DIR} api-service\n`;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const setup = await sh([
    'mkdir -p /run/systemd/system/rkt-api.service.d',
    `echo ${b64(unit)} | base64 -d > /run/systemd/system/rkt-api.service`,
    `echo ${b64(socket)} | base64 -d > /run/systemd/system/rkt-api.socket`,
    `echo ${b64(dropIn)} | base64 -d > /run/systemd/system/rkt-api.service.d/test.conf`,
    'systemctl daemon-reload',
    'systemctl start rkt-api.socket',
  ].join(' && '));
  t.is(setup.exitCode, 0, setup.stderr);
  t.is((await sh('systemctl show -p ActiveState --value rkt-api.service')).stdout.trim(), 'inactive', 'nothing runs until a client comes');
  const { info } = await call(15441, 'GetInfo');
  t.is(info.global_flags.dir, DIR);
  t.is((await sh('systemctl show -p ActiveState --value rkt-api.service')).stdout.trim(), 'active');
  const { images } = await call(15441, 'ListImages', { filters: [{ base_names: ['busybox'] }] });
  t.deepEqual((images as { name: string }[]).map((i) => i.name), ['example.com/busybox'], 'it reads the store from inside its sandbox');
  const { pods } = await call(15441, 'ListPods', {});
  t.true((pods as unknown[]).length > 0, 'and the pods (locks tested by a shared flock, from inside its sandbox)');
  t.regex((await sh('journalctl -u rkt-api.service --no-pager -o cat')).stdout, /listening on 127\.0\.0\.1:15441 \(sockets passed by systemd\)/);
  t.notRegex((await sh('journalctl -u rkt-api.service --no-pager -o cat')).stdout, /warning/);
  t.is((await sh('systemctl stop rkt-api.service rkt-api.socket')).exitCode, 0);
  t.is((await sh('systemctl show -p Result --value rkt-api.service')).stdout.trim(), 'success', 'SIGTERM: a clean exit');
  t.is((await sh('systemctl show -p ExecMainStatus --value rkt-api.service')).stdout.trim(), '0');
  await sh('rm -rf /run/systemd/system/rkt-api.service /run/systemd/system/rkt-api.socket /run/systemd/system/rkt-api.service.d; systemctl daemon-reload');
});
