#!/usr/bin/env node
// The only place that touches process.argv, process.exit and signal handlers.
import { main } from '../cli/index.js';

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
process.exitCode = code;
