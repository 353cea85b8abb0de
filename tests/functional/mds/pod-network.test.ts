// The metadata service for a pod on a network of its own (--net=default): the service and rkt run inside a
// network namespace made for the test (tests/functional/net/harness.ts), which is the pods' host side. Traffic
// only between it and its pod.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, RKT } from '../../lib/rkt.js';
import { until } from '../../lib/wait.js';
import { TestHost, netSkipReason } from '../net/harness.js';

const skip = netSkipReason() ?? (existsSync('/usr/bin/systemd-nspawn') ? undefined : 'needs systemd-nspawn (hack/setup)')
  ?? (existsSync(path.join(REPO, 'build/stage1.aci')) ? undefined : 'needs build/stage1.aci (hack/test builds it)');
const BUSYBOX = path.join(REPO, 'build/busybox.aci');

const SCRIPT = [
  'echo "$AC_METADATA_URL" > /out/url',
  'wget -q -O /out/uuid "$AC_METADATA_URL/acMetadata/v1/pod/uuid" 2>/out/err; echo $? > /out/rc',
  'touch /out/done',
  'while [ ! -e /out/stop ]; do sleep 0.1; done',
].join('\n');

const title = 'rkt run --mds-register --net=default: the pod reaches the service on its network\'s host side, listened on only while the pod runs; its token from another address is 403';

if (skip !== undefined) {
  test.skip(`${title} (skipped: ${skip})`, (t) => { t.pass(); });
} else {
  test.serial(title, async (t) => {
    const h = new TestHost();
    t.teardown(() => h.cleanup((s) => t.log(s)));
    await h.start();
    const socket = path.join(h.dir, 'mds.sock');
    process.env['RKT_METADATA_SOCKET'] = socket;
    const svc = spawn('nsenter', [`--net=${h.netnsPath}`, process.execPath, RKT, 'metadata-service', '--listen-port=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    svc.stderr.setEncoding('utf8').on('data', (d: string) => { log += d; });
    const svcExit = new Promise<number | null>((resolve) => svc.once('exit', (code) => resolve(code)));
    t.teardown(() => { if (svc.exitCode === null) svc.kill('SIGKILL'); });
    let port = 0;
    await until('the service listens', 60_000, () => {
      if (svc.exitCode !== null) throw new Error(`rkt metadata-service exited: ${log}`);
      port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(log)?.[1] ?? '0');
      return port > 0;
    }, 50);

    const vol = path.join(h.dir, 'out');
    mkdirSync(vol);
    const run = h.spawnRkt(['run', '--mds-register', '--net=default', `--volume=out,kind=host,source=${vol}`, BUSYBOX,
      '--mount=volume=out,target=/out', '--exec=/bin/sh', '--', '-c', SCRIPT]);
    let ended = false;
    void run.exit.then(() => { ended = true; });
    await until('the pod has asked the service', 120_000, () => {
      if (ended) throw new Error('rkt run ended before the pod asked');
      return existsSync(path.join(vol, 'done'));
    }, 50);
    const read = (f: string) => readFileSync(path.join(vol, f), 'utf8').trim();
    const url = read('url');
    t.regex(url, new RegExp(`^http://172\\.16\\.28\\.1:${port}/[A-Za-z0-9_-]{32}$`), 'the host side of the default network');
    t.is(read('rc'), '0', read('err'));
    t.regex(read('uuid'), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    t.regex(log, new RegExp(`listening on 172\\.16\\.28\\.1:${port} \\(a pod network's host side\\)`));

    // The pod's token from the host side itself (not one of the pod's addresses): refused.
    const token = url.slice(url.lastIndexOf('/') + 1);
    for (const addr of ['172.16.28.1', '127.0.0.1']) {
      const r = await h.inHost(process.execPath, ['-e', `fetch('http://${addr}:${port}/${token}/acMetadata/v1/pod/uuid').then((r) => console.log(r.status))`]);
      t.is(r.stdout.trim(), '403', `from ${addr}: ${r.stderr}`);
    }

    writeFileSync(path.join(vol, 'stop'), '');
    const res = await run.done;
    t.is(res.exitCode, 0, res.stderr);
    await until('the host-side listener is closed with the last pod on it', 60_000, async () =>
      !(await h.inHost('ss', ['-ltnH'])).stdout.includes(`172.16.28.1:${port}`));
    svc.kill('SIGTERM');
    t.is(await svcExit, 0, log);
  });
}
