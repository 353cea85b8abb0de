// rkt run --pod-manifest=FILE with the apps' images named by name and labels (beyond rkt 1.x, which wanted an
// Image ID): resolved from the store as `rkt run NAME` would, never fetched; YAML and JSON errors name the file
// and line. What the declared pods of pods.d (NAME.pod.yaml) run.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { INSECURE, podEnv, podTest, sharedImage, title } from '../../lib/pods.js';

const busybox = sharedImage();

const manifest = (labels: string) => `acVersion: 0.8.11
acKind: PodManifest
apps:
  - name: greeter
    image:
      name: example.com/busybox
      labels: ${labels}
    app:
      exec: [/bin/sh, -c, 'echo "hello $WHO"; exit 7']
      user: "0"
      group: "0"
      environment:
        - name: WHO
          value: from-yaml
`;

podTest(title('--pod-manifest (YAML): an image named by name and labels runs what the store holds under them'), async (t) => {
  const env = await podEnv(t);
  const fetched = await env.r([INSECURE, 'fetch', await busybox()]);
  t.is(fetched.exitCode, 0, fetched.stderr);
  const file = env.file('pod.yaml');
  writeFileSync(file, manifest('[{name: os, value: linux}, {name: arch, value: amd64}]'));
  const res = await env.run([`--pod-manifest=${file}`]);
  t.is(res.exitCode, 7, res.stderr);
  t.is(res.stdout, 'hello from-yaml\n');

  const pods = () => readdirSync(path.join(env.data, 'pods/run')).length;
  const before = pods();
  writeFileSync(file, manifest('[{name: version, value: "9.9"}]'));
  const missing = await env.run([`--pod-manifest=${file}`]);
  t.is(missing.exitCode, 254);
  t.is(missing.stderr, `rkt: pod manifest ${file}: app greeter: no image example.com/busybox:9.9 in the store\nrkt: fetch it first: rkt fetch example.com/busybox:9.9\n`);
  t.is(pods(), before, 'no pod ran');
});

podTest(title('--pod-manifest: a YAML or JSON syntax error names the file and line; a schema error the field (254, no pod)'), async (t) => {
  const env = await podEnv(t);
  const yaml = env.file('bad.yaml');
  writeFileSync(yaml, 'acVersion: 0.8.11\nacKind: PodManifest\napps:\n  - name: a\n   image: {}\n');
  const y = await env.run([`--pod-manifest=${yaml}`]);
  t.is(y.exitCode, 254);
  t.is(y.stderr, `rkt: invalid pod manifest ${yaml}:5: bad indentation of a sequence entry\n`);
  const json = env.file('bad.json');
  writeFileSync(json, '{\n  "acVersion": "0.8.11",\n  "apps": [,]\n}\n');
  const j = await env.run([`--pod-manifest=${json}`]);
  t.is(j.exitCode, 254);
  t.is(j.stderr, `rkt: invalid pod manifest ${json}:3: not valid JSON: Unexpected token ','\n`);
  const schema = env.file('schema.json');
  writeFileSync(schema, JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [{ name: 'a', image: { labels: [] } }] }));
  const s = await env.run([`--pod-manifest=${schema}`]);
  t.is(s.exitCode, 254);
  t.regex(s.stderr, /^rkt: invalid pod manifest: apps\[0\]\.image: neither "id" nor "name" given/);
  t.false(existsSync(path.join(env.data, 'pods/run')), 'no pod ran');
});

podTest(title("--pod-manifest: the manifest's ports are forwarded as --port's would be (so they need a pod network: with --net=host an error naming the port)"), async (t) => {
  const env = await podEnv(t);
  t.is((await env.r([INSECURE, 'fetch', await busybox()])).exitCode, 0);
  const file = env.file('pod.yaml');
  writeFileSync(file, `${manifest('[{name: os, value: linux}]')}ports:\n  - name: http\n    hostPort: 18081\n`);
  const onHost = await env.r(['run', INSECURE, '--net=host', `--pod-manifest=${file}`]);
  t.is(onHost.exitCode, 2, onHost.stderr);
  t.regex(onHost.stderr, /--port/);
  t.regex(onHost.stderr, /http/);
});
