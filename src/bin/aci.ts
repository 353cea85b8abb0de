#!/usr/bin/env node
// The entry point of hack/aci (src/tools/aci.ts): like rkt.ts, the only place it touches process.argv and exit.
import { main } from '../tools/aci.js';

void main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then((code) => {
  process.exitCode = code;
});
