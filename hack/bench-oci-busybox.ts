// Builds the OCI layout hack/bench oci runs beside build/busybox.aci: one layer holding exactly that ACI's rootfs,
// tagged "busybox". Usage: npx tsx hack/bench-oci-busybox.ts DIR
import { mkdirSync } from 'node:fs';
import { busyboxLayer, writeImage, writeLayout } from '../tests/lib/oci.js';
const out = process.argv[2] ?? '/var/tmp/rkt-bench/oci-busybox';
mkdirSync(out, { recursive: true });
const img = writeImage(out, { layers: [{ tar: busyboxLayer(out) }], config: { Cmd: ['/bin/true'] } });
writeLayout(out, { busybox: img });
