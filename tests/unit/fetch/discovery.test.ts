import test from 'ava';
import { parseDiscoveryMeta, prefixMatches, renderTemplate, selectEndpoints } from '../../../src/fetch/discovery.js';

const TEMPLATE = 'https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}';

test('parseDiscoveryMeta reads ac-discovery and ac-discovery-pubkeys tags whose prefix matches', (t) => {
  const html = `<!DOCTYPE html><html><head>
    <meta charset="utf-8">
    <meta name="ac-discovery" content="example.com ${TEMPLATE}">
    <meta name="ac-discovery-pubkeys" content="example.com https://example.com/pubkeys.gpg">
    <meta name="ac-discovery" content="other.org https://other.org/{name}.{ext}">
    <meta name="description" content="example.com not-a-template">
  </head><body>hello</body></html>`;
  t.deepEqual(parseDiscoveryMeta(html, 'example.com/app'), {
    templates: [{ prefix: 'example.com', template: TEMPLATE }],
    pubkeys: [{ prefix: 'example.com', url: 'https://example.com/pubkeys.gpg' }],
  });
});

test('parseDiscoveryMeta is robust to attribute order, quoting, whitespace and case', (t) => {
  const variants = [
    `<meta content="example.com ${TEMPLATE}" name="ac-discovery">`,
    `<meta name='ac-discovery' content='example.com ${TEMPLATE}'>`,
    `<meta name=ac-discovery content="example.com ${TEMPLATE}"/>`,
    `<META NAME="ac-discovery" CONTENT="example.com ${TEMPLATE}" />`,
    `<Meta\n\tname = "ac-discovery"\n\tcontent = "  example.com \n\t ${TEMPLATE}  ">`,
    `<meta/name="AC-Discovery"/content="example.com ${TEMPLATE}">`,
    `<meta http-equiv="x" name="ac-discovery" data-x='a>b' content="example.com ${TEMPLATE}">`,
  ];
  for (const html of variants) {
    t.deepEqual(parseDiscoveryMeta(html, 'example.com/app').templates, [{ prefix: 'example.com', template: TEMPLATE }], html);
  }
});

test('parseDiscoveryMeta decodes entities in attribute values', (t) => {
  const html = '<meta name="ac-discovery" content="example.com https://example.com/get?n={name}&amp;v={version}&#38;e={ext}">';
  t.is(parseDiscoveryMeta(html, 'example.com/app').templates[0]?.template, 'https://example.com/get?n={name}&v={version}&e={ext}');
});

test('parseDiscoveryMeta ignores comments, scripts, styles, malformed content and other tags', (t) => {
  const html = `
    <!-- <meta name="ac-discovery" content="example.com https://commented.example.com/{name}.{ext}"> -->
    <script>var s = '<meta name="ac-discovery" content="example.com https://script.example.com/{name}.{ext}">';</script>
    <style>/* <meta name="ac-discovery" content="example.com https://style.example.com/{name}.{ext}"> */</style>
    <meta name="ac-discovery" content="example.com">
    <meta name="ac-discovery" content="example.com https://a.example.com/{name}.{ext} extra">
    <meta name="ac-discovery">
    <link name="ac-discovery" content="example.com https://link.example.com/{name}.{ext}">
    <p>1 < 2 and <b>bold</b></p>
    <meta name="ac-discovery" content="example.com https://good.example.com/{name}.{ext}">`;
  t.deepEqual(parseDiscoveryMeta(html, 'example.com/app').templates, [{ prefix: 'example.com', template: 'https://good.example.com/{name}.{ext}' }]);
});

test('parseDiscoveryMeta: a tag with the same attribute twice keeps the first', (t) => {
  const html = '<meta name="ac-discovery" content="example.com https://first/{name}.{ext}" content="example.com https://second/{name}.{ext}">';
  t.is(parseDiscoveryMeta(html, 'example.com/app').templates[0]?.template, 'https://first/{name}.{ext}');
});

test('parseDiscoveryMeta stops at an unterminated tag or quote without hanging, and is linear on hostile input', (t) => {
  const good = `<meta name="ac-discovery" content="example.com ${TEMPLATE}">`;
  t.is(parseDiscoveryMeta(`${good}<meta name="ac-discovery" content="example.com x`, 'example.com/a').templates.length, 1);
  t.is(parseDiscoveryMeta(`${good}<meta name="ac-discovery`, 'example.com/a').templates.length, 1);
  t.is(parseDiscoveryMeta(`${good}<!-- never closed <meta name="ac-discovery" content="example.com ${TEMPLATE}">`, 'example.com/a').templates.length, 1);
  t.is(parseDiscoveryMeta(`${good}<script><meta name="ac-discovery" content="example.com ${TEMPLATE}">`, 'example.com/a').templates.length, 1);
  const hostile = [
    `<meta a="${'<meta b="'.repeat(100_000)}`, '<meta '.repeat(150_000), '<'.repeat(1 << 20), '<!--'.repeat(200_000),
    '<script>'.repeat(100_000), `<meta a=${'x'.repeat(1 << 20)}`, `<meta ${' '.repeat(1 << 20)}`, '<a'.repeat(400_000),
  ];
  const start = performance.now();
  // Several rounds: the parser must stay correct once the JIT has optimized it (see metaTags).
  for (let round = 0; round < 4; round++) {
    for (const html of hostile) t.deepEqual(parseDiscoveryMeta(html, 'example.com/a').templates, []);
  }
  t.true(performance.now() - start < 5000, `hostile pages parse quickly (${Math.round(performance.now() - start)} ms)`);
});

test('prefixMatches respects path boundaries', (t) => {
  t.true(prefixMatches('example.com', 'example.com'));
  t.true(prefixMatches('example.com', 'example.com/app'));
  t.true(prefixMatches('example.com/app', 'example.com/app/sub'));
  t.true(prefixMatches('example.com/', 'example.com/app'));
  t.false(prefixMatches('example.com/app', 'example.com/apple'));
  t.false(prefixMatches('example.co', 'example.com/app'));
  t.false(prefixMatches('example.com/app/sub', 'example.com/app'));
  t.false(prefixMatches('', 'example.com'));
});

test('parseDiscoveryMeta keeps only prefixes matching the name at a path boundary', (t) => {
  const html = `
    <meta name="ac-discovery" content="example.com/apple https://a/{name}.{ext}">
    <meta name="ac-discovery" content="example.com/app https://b/{name}.{ext}">
    <meta name="ac-discovery-pubkeys" content="example.com/app/sub https://c/keys">
    <meta name="ac-discovery-pubkeys" content="example.com https://d/keys">`;
  const meta = parseDiscoveryMeta(html, 'example.com/app');
  t.deepEqual(meta.templates.map((x) => x.template), ['https://b/{name}.{ext}']);
  t.deepEqual(meta.pubkeys.map((x) => x.url), ['https://d/keys']);
});

const LABELS = new Map([['name', 'example.com/app'], ['version', '1.0.0'], ['os', 'linux'], ['arch', 'amd64'], ['ext', 'aci']]);

test('renderTemplate substitutes name, version, os, arch, ext and other labels', (t) => {
  t.is(renderTemplate(TEMPLATE, LABELS), 'https://storage.example.com/linux/amd64/example.com/app-1.0.0.aci');
  const withChannel = new Map([...LABELS, ['channel', 'beta']]);
  t.is(renderTemplate('https://x/{channel}/{name}-{name}.{ext}', withChannel), 'https://x/beta/example.com/app-example.com/app.aci');
  t.is(renderTemplate('https://x/static.aci', LABELS), 'https://x/static.aci');
});

test('renderTemplate is undefined when a placeholder is left over', (t) => {
  t.is(renderTemplate('https://x/{name}-{channel}.{ext}', LABELS), undefined);
  t.is(renderTemplate('https://x/{}.{ext}', LABELS), undefined);
  t.is(renderTemplate('https://x/{name}.{ext}', new Map([['name', 'example.com/app']])), undefined);
});

test('renderTemplate escapes label values for a URL but keeps the slashes of the name; one pass only', (t) => {
  const labels = new Map([['name', 'example.com/app'], ['version', '1.0 beta/2?x#y%'], ['ext', 'aci'], ['os', '{ext}']]);
  t.is(renderTemplate('https://x/{name}-{version}.{ext}', labels), 'https://x/example.com/app-1.0%20beta%2F2%3Fx%23y%25.aci');
  t.is(renderTemplate('https://x/{os}.{ext}', labels), 'https://x/%7Bext%7D.aci');
  t.is(renderTemplate('https://x/{version}', new Map([['version', '1.0+git~a:b@c']])), 'https://x/1.0+git~a:b@c');
  t.is(renderTemplate('https://x/{version}', new Map([['version', 'é']])), 'https://x/%C3%A9');
});

test('selectEndpoints renders each best template for aci and aci.asc (the spec example)', (t) => {
  const templates = [
    { prefix: 'example.com', template: 'https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}' },
    { prefix: 'example.com', template: 'https://mirror.storage.example.com/{os}/{arch}/{name}-{version}.{ext}' },
    { prefix: 'example.com', template: 'https://storage.example.com/{os}/{arch}/{name}-latest.{ext}' },
  ];
  const labels = new Map([['name', 'example.com/app'], ['version', '1.0.0'], ['os', 'linux'], ['arch', 'amd64']]);
  t.deepEqual(selectEndpoints(templates, labels, false), [
    { aci: 'https://storage.example.com/linux/amd64/example.com/app-1.0.0.aci', asc: 'https://storage.example.com/linux/amd64/example.com/app-1.0.0.aci.asc' },
    { aci: 'https://mirror.storage.example.com/linux/amd64/example.com/app-1.0.0.aci', asc: 'https://mirror.storage.example.com/linux/amd64/example.com/app-1.0.0.aci.asc' },
  ]);
  const noVersion = new Map([['name', 'example.com/app'], ['os', 'linux'], ['arch', 'amd64']]);
  t.deepEqual(selectEndpoints(templates, noVersion, false).map((e) => e.aci), ['https://storage.example.com/linux/amd64/example.com/app-latest.aci']);
});

test('selectEndpoints leaves out templates without {ext}, with leftovers, or with an unsupported scheme', (t) => {
  const labels = new Map([['name', 'example.com/app'], ['version', '1'], ['os', 'linux'], ['arch', 'amd64']]);
  const notes: string[] = [];
  const templates = [
    { prefix: 'example.com', template: 'https://a/{name}.aci' },
    { prefix: 'example.com', template: 'https://b/{name}-{channel}.{ext}' },
    { prefix: 'example.com', template: 'hdfs://c/{name}-{version}.{ext}' },
    { prefix: 'example.com', template: 'http://d/{name}-{version}.{ext}' },
    { prefix: 'example.com', template: 'https://e/{name}-{version}.{ext}' },
  ];
  t.deepEqual(selectEndpoints(templates, labels, false, (m) => notes.push(m)).map((e) => e.aci), ['https://e/example.com/app-1.aci']);
  t.is(notes.length, 4);
  t.regex(notes.join('\n'), /no \{ext\}/);
  t.regex(notes.join('\n'), /without --insecure-options=http/);
  // With http allowed, https still comes first.
  t.deepEqual(selectEndpoints([...templates].reverse(), labels, true).map((e) => e.aci), ['https://e/example.com/app-1.aci', 'http://d/example.com/app-1.aci']);
  t.deepEqual(selectEndpoints([], labels, true), []);
});
