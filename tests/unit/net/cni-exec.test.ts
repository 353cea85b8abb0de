import test from 'ava';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RktError } from '../../../src/common/errors.js';
import { addNetwork, delNetwork, execPlugin, findPlugin, pluginInput, type CniRuntime } from '../../../src/net/cni-exec.js';
import type { NetConfList } from '../../../src/net/networks.js';

// Fake plugins: shell scripts that report what they were given (no root, no namespaces).
function bin(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rkt-cni-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string) => {
    writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(dir, name), 0o755);
  };
  // echo: its result is its environment and its stdin; it appends each call to calls.log.
  script('echo', `in=$(cat); echo "$CNI_COMMAND $0" >> ${dir}/calls.log
printf '{"cniVersion":"1.0.0","env":"%s %s %s %s %s %s","stdin":%s}' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "$in"`);
  script('echo2', `in=$(cat); echo "$CNI_COMMAND $0" >> ${dir}/calls.log; printf '{"cniVersion":"1.0.0","second":true,"stdin":%s}' "$in"`);
  script('fail', `cat >/dev/null; echo "$CNI_COMMAND $0" >> ${dir}/calls.log; echo '{"cniVersion":"1.0.0","code":7,"msg":"no such network","details":"bridge br9"}'; exit 1`);
  script('crash', 'cat >/dev/null; echo "panic: runtime error" >&2; exit 2');
  script('garbage', 'cat >/dev/null; echo not-json');
  return dir;
}

const rt = (dir: string): CniRuntime => ({ containerId: 'pod-1', netns: '/p/netns', ifName: 'eth0', args: 'IgnoreUnknown=1;IP=10.0.0.9', cniPath: [path.join(dir, 'nothing'), dir] });
const list = (...types: string[]): NetConfList => ({ cniVersion: '1.0.0', name: 'n1', plugins: types.map((type) => ({ type, extra: 1 })) });

test('a plugin gets CNI_* in its environment and its configuration on stdin', async (t) => {
  const dir = bin(t);
  const r = await execPlugin('ADD', list('echo'), { type: 'echo', extra: 1 }, rt(dir)) as { env: string; stdin: object };
  t.is(r.env, `ADD pod-1 /p/netns eth0 IgnoreUnknown=1;IP=10.0.0.9 ${path.join(dir, 'nothing')}:${dir}`);
  t.deepEqual(r.stdin, { type: 'echo', extra: 1, cniVersion: '1.0.0', name: 'n1' });
});

test('a list runs ADD in order with prevResult, DEL in reverse with the ADD result', async (t) => {
  const dir = bin(t);
  const res = await addNetwork(list('echo', 'echo2'), rt(dir)) as { second: boolean; stdin: { prevResult: { env: string } } };
  t.true(res.second);
  t.regex(res.stdin.prevResult.env, /^ADD pod-1/);
  await delNetwork(list('echo', 'echo2'), rt(dir), res);
  t.deepEqual(readFileSync(path.join(dir, 'calls.log'), 'utf8').trim().split('\n').map((l) => l.replace(`${dir}/`, '')),
    ['ADD echo', 'ADD echo2', 'DEL echo2', 'DEL echo']);
});

test('runtimeConfig only for the capabilities a plugin declares', (t) => {
  const l = list('ptp');
  const caps = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] };
  t.deepEqual(pluginInput(l, { type: 'ptp' }, undefined, caps), { type: 'ptp', cniVersion: '1.0.0', name: 'n1' });
  t.deepEqual(pluginInput(l, { type: 'portmap', capabilities: { portMappings: true } }, { ips: [] }, caps), {
    type: 'portmap', capabilities: { portMappings: true }, cniVersion: '1.0.0', name: 'n1', runtimeConfig: caps, prevResult: { ips: [] },
  });
});

test("a plugin's error reaches the message; DEL tries every plugin", async (t) => {
  const dir = bin(t);
  const err = await t.throwsAsync(addNetwork(list('echo', 'fail'), rt(dir)), { instanceOf: RktError });
  t.is(err?.code, 'ECNI');
  t.is(err?.message, 'network "n1": CNI plugin fail ADD (eth0) failed: no such network: bridge br9 (CNI error 7)');
  await t.throwsAsync(execPlugin('ADD', list('crash'), { type: 'crash' }, rt(dir)), { message: 'network "n1": CNI plugin crash ADD (eth0) failed: panic: runtime error' });
  await t.throwsAsync(execPlugin('ADD', list('garbage'), { type: 'garbage' }, rt(dir)), { message: /printed no JSON result: not-json/ });
  await t.throwsAsync(delNetwork(list('echo', 'fail'), rt(dir)), { message: /CNI plugin fail DEL/ });
  t.regex(readFileSync(path.join(dir, 'calls.log'), 'utf8'), /^DEL .*\/fail\nDEL .*\/echo$/m, 'DEL went on past the failing plugin');
});

test('a missing plugin names CNI_PATH and the Debian package', async (t) => {
  const err = await t.throwsAsync(findPlugin('ptp', ['/nonexistent/a', '/nonexistent/b']), { instanceOf: RktError });
  t.is(err?.code, 'ECNIPLUGIN');
  t.is(err?.message, 'CNI plugin "ptp" not found in CNI_PATH /nonexistent/a:/nonexistent/b');
  t.regex(err?.hint ?? '', /Debian package containernetworking-plugins/);
});
