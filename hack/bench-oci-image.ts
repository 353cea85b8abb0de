// Builds the OCI layout hack/bench oci fetches: image "a" of 5 layers of real files (~160 MB uncompressed, gzip),
// image "b" sharing its first 4 layers and one of its own. Usage: npx tsx hack/bench-oci-image.ts DIR
import { execFileSync } from 'node:child_process';
import { writeImage, writeLayout } from '../tests/lib/oci.js';
const out = process.argv[2] ?? "/var/tmp/rkt-bench/oci-layout";
// Real files of mixed sizes and compressibility, ~40 MB of each directory, as whole tar entries.
const part = (d: string, bytes: number) => execFileSync('bash', ['-c',
  `cd / && find ${d} -type f -printf '%s %p\\n' 2>/dev/null | awk -v max=${bytes} '{s+=$1; if (s>max) exit; print substr($0, index($0," ")+1)}' | tar -cf - --no-recursion -T -`], { maxBuffer: 1 << 30 });
const dirs = ['usr/lib/x86_64-linux-gnu', 'usr/share/locale', 'usr/lib/python3.11', 'usr/share/doc', 'usr/bin'];
const layers = dirs.map((d) => ({ tar: part(d, 40_000_000) }));
const extra = { tar: part('usr/share/man', 20_000_000) };
const a = writeImage(out, { layers, config: { Cmd: ['/bin/true'] } });
const b = writeImage(out, { layers: [...layers.slice(0, 4), extra], config: { Cmd: ['/bin/true'] } });
writeLayout(out, { a, b });
console.log(layers.map((l) => l.tar.length), extra.tar.length);
