// The resident memory of a running pod, for `hack/bench mem`: PSS and RSS (from /proc/PID/smaps_rollup) of each
// process rkt left running for pod UUID — the rkt process RKTPID and its descendants, and every process whose
// cgroup names the pod (a scope machined made) — each with its part: rkt's own waiting process (stage0), the
// pod's processes (nspawn, the pod's systemd, relays, journald …), or the app (a process in one of the APPS'
// units). Prints one line per process, then the sums.
// Usage: node hack/bench-mem.mjs LABEL UUID RKTPID APP...
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const [label = 'mem', uuid = '', rktPid = '', ...apps] = process.argv.slice(2);

function read(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'ESRCH' || err.code === 'EACCES') return undefined; // gone meanwhile
    throw err;
  }
}

/** pid → ppid of every process. */
const parent = new Map();
for (const name of readdirSync('/proc')) {
  if (!/^\d+$/.test(name)) continue;
  const stat = read(`/proc/${name}/stat`);
  if (stat === undefined) continue;
  // The comm field may hold spaces and parentheses: the fields after it start after the last ')'.
  const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  parent.set(Number(name), Number(ppid));
}

const inPod = new Set();
const root = Number(rktPid);
for (const pid of parent.keys()) {
  let p = pid;
  while (p > 1 && p !== root) p = parent.get(p) ?? 0;
  const cgroup = read(`/proc/${pid}/cgroup`) ?? '';
  if (p === root || cgroup.includes(uuid) || cgroup.includes(uuid.replaceAll('-', '\\x2d'))) inPod.add(pid);
}

function kib(rollup, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup);
  return m === null ? 0 : Number(m[1]);
}

const rows = [];
for (const pid of [...inPod].sort((a, b) => a - b)) {
  const rollup = read(`/proc/${pid}/smaps_rollup`);
  if (rollup === undefined) continue;
  const comm = (read(`/proc/${pid}/comm`) ?? '?').trim();
  const cmdline = (read(`/proc/${pid}/cmdline`) ?? '').split('\0');
  const cgroup = read(`/proc/${pid}/cgroup`) ?? '';
  let exe = '';
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
  } catch (err) {
    if (err.code !== 'ENOENT' && err.code !== 'EACCES') throw err; // gone meanwhile, or a kernel thread
  }
  let part = 'pod';
  let what = comm;
  if (pid === root) {
    part = 'rkt';
    what = 'rkt run (stage0, node: waits for the pod)';
  } else if (apps.some((a) => cgroup.split('\n').some((line) => line.endsWith(`/${a}.service`)))) {
    part = 'app';
    what = `app: ${cmdline.filter((w) => w !== '').join(' ').slice(0, 40)}`;
  } else if (cmdline.some((w) => w.endsWith('/systemd-nspawn'))) {
    what = 'systemd-nspawn';
  } else if (comm === 'systemd') {
    what = "the pod's systemd (its PID 1)";
  } else if (comm.startsWith('systemd-journal')) {
    part = 'journald';
    what = "journald (the pod's)";
  } else if (comm === 'cat' || comm === 'socat') {
    what = `relay (${comm})`;
  } else {
    // Anything else the pod runs (log copiers under systemd): its unit, if in one, and its command line.
    const unit = cgroup.split('\n').map((line) => line.slice(line.lastIndexOf('/') + 1)).find((seg) => seg.endsWith('.service'));
    what = `${unit !== undefined ? `${unit}: ` : ''}${cmdline.filter((w) => w !== '').join(' ') || exe || comm}`.slice(0, 44);
  }
  rows.push({ pid, part, what, pss: kib(rollup, 'Pss'), rss: kib(rollup, 'Rss') });
}

const mib = (k) => (k / 1024).toFixed(1);
for (const r of rows) {
  console.log(`${label}: pid ${String(r.pid).padStart(7)}  ${r.what.padEnd(44)} PSS ${mib(r.pss).padStart(6)} MiB  RSS ${mib(r.rss).padStart(6)} MiB`);
}
const sum = (parts) => rows.filter((r) => parts.includes(r.part)).reduce((a, r) => ({ pss: a.pss + r.pss, rss: a.rss + r.rss, n: a.n + 1 }), { pss: 0, rss: 0, n: 0 });
const pod = sum(['pod', 'journald']);
const journald = sum(['journald']);
const rkt = sum(['rkt']);
const app = sum(['app']);
console.log(`${label}: the pod without its app and without rkt's waiting process: ${pod.n} processes, PSS ${mib(pod.pss)} MiB, RSS ${mib(pod.rss)} MiB (target <= 12 MiB PSS on the raw host)`
  + (journald.n > 0 ? `; of which journald ${mib(journald.pss)} MiB PSS` : ''));
console.log(`${label}: rkt run waiting beside it: PSS ${mib(rkt.pss)} MiB, RSS ${mib(rkt.rss)} MiB; all that rkt leaves running: PSS ${mib(pod.pss + rkt.pss)} MiB`);
console.log(`${label}: the app (reported apart): ${app.n} processes, PSS ${mib(app.pss)} MiB, RSS ${mib(app.rss)} MiB`);
