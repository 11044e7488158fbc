#!/usr/bin/env node
// Thin launcher so `npx tirflow` works without a build step: node runs the TypeScript CLI with
// tsx as its loader (one child process, no relay layer, so signals reach the CLI directly).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const child = spawn(
  process.execPath,
  ['--import', tsxLoader, join(root, 'cli', 'main.ts'), ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
// Ctrl-C reaches the whole process group, the CLI included: let it stop in its own time.
process.on('SIGINT', () => {});
// A supervisor's SIGTERM/SIGHUP reaches only this launcher: pass it on.
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
