// A store set up for a group (as tmpfiles.d/rkt.conf makes /var/lib/rkt: setgid, group rkt): any member can
// fetch into it and list it, as rkt allowed; what needs root still needs it. The "group" here is a bare gid
// given with setpriv, so the test changes nothing in /etc/group.
import test from 'ava';
import { chmodSync, chownSync, copyFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO, RKT, functionalSkipReason, runCmd, tempDir } from '../lib/rkt.js';

const GID = 48123;
const skip = functionalSkipReason();
const t0 = skip === undefined ? test : test.skip;
const title = (s: string) => (skip === undefined ? s : `${s} (skipped: ${skip})`);

function asMember(args: readonly string[]) {
  return runCmd('setpriv', ['--reuid=nobody', '--regid=nogroup', `--groups=${GID}`, process.execPath, RKT, ...args]);
}

t0(title('a member of the store\'s group fetches and lists; new store dirs are group-writable; run still needs root'), async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  chmodSync(dir, 0o755);
  const data = path.join(dir, 'rkt');
  mkdirSync(data);
  chownSync(data, 0, GID);
  chmodSync(data, 0o2775);
  const aci = path.join(dir, 'busybox.aci');
  copyFileSync(path.join(REPO, 'build/busybox.aci'), aci);
  chmodSync(aci, 0o644);
  const fetch = await asMember([`--dir=${data}`, '--insecure-options=image', 'fetch', aci]);
  t.is(fetch.exitCode, 0, fetch.stderr);
  for (const d of ['cas', 'cas/blobs', 'cas/images', 'cas/trees', 'cas/tmp']) {
    const st = statSync(path.join(data, d));
    t.is(st.mode & 0o7777, 0o2775, `${d} is setgid and group-writable`);
    t.is(st.gid, GID, `${d} belongs to the store's group`);
  }
  const list = await asMember([`--dir=${data}`, 'image', 'list', '--no-legend', '--fields=name']);
  t.is(list.stdout, 'example.com/busybox:1.35.0\n');
  const run = await asMember([`--dir=${data}`, '--insecure-options=image', 'run', 'example.com/busybox', '--exec', '/bin/true']);
  t.is(run.exitCode, 254);
  t.regex(run.stderr, /^rkt: cannot run "rkt run": it needs root$/m);
  const asRoot = await runCmd(process.execPath, [RKT, `--dir=${data}`, '--insecure-options=image', 'run', 'example.com/busybox', '--exec', '/bin/true']);
  t.is(asRoot.exitCode, 0, asRoot.stderr);
});
