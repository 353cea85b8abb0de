// rkt run --interactive: the app gets rkt's terminal (stdin and output) and its exit status comes back.
// A pseudo-terminal comes from script(1); each line is typed once the terminal shows the shell ready for it.
import test from 'ava';
import path from 'node:path';
import { REPO, RKT, functionalSkipReason, runCmd, tempDir } from '../../lib/rkt.js';

const skip = functionalSkipReason();
const t0 = skip === undefined ? test : test.skip;

t0(skip === undefined ? 'rkt run --interactive: the shell reads what is typed, prints to the terminal, exits with its status'
  : `rkt run --interactive (skipped: ${skip})`, async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const rkt = `${process.execPath} ${RKT} --dir=${dir} --insecure-options=image run --interactive ${path.join(REPO, 'build/busybox.aci')} --exec /bin/sh`;
  // The terminal's output is copied to a file the typist watches: it types a line once the shell's prompt
  // (then the answer) is there, and keeps its end open until rkt has exited (script(1) would send EOF at once).
  const screen = path.join(dir, 'screen');
  const waitFor = (what: string) => `until grep -q '${what}' ${screen} 2>/dev/null; do sleep 0.1; done`;
  const typed = `(${waitFor('# ')}; printf 'echo typed-$((6*7))\\n'; ${waitFor('^typed-42')}; printf 'exit 3\\n'; while [ ! -e ${screen}.done ]; do sleep 0.1; done)`;
  const r = await runCmd('bash', ['-c', `set -o pipefail; ${typed} | { script -qec '${rkt}' /dev/null; s=$?; touch ${screen}.done; exit $s; } | tee ${screen}`], { timeoutMs: 100_000 });
  t.is(r.exitCode, 3, r.stdout + r.stderr);
  t.regex(r.stdout.replace(/\r/g, ''), /^typed-42$/m);
});

t0(skip === undefined ? 'rkt run --interactive with two apps is a usage error' : `--interactive with two apps (skipped: ${skip})`, async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const img = path.join(REPO, 'build/busybox.aci');
  const r = await runCmd(process.execPath, [RKT, `--dir=${dir}`, '--insecure-options=image', 'run', '--interactive', img, '---', img, '--name=two']);
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /^rkt: --interactive takes exactly one app$/m);
});
