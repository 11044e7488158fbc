/** Runs the real `tirflow` command (bin/tirflow.js) as a user would. */
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const tirflowBin = fileURLToPath(new URL('../../bin/tirflow.js', import.meta.url));

export interface RunTirflowOptions {
  /** Own process group, so a test can deliver Ctrl-C to it as a terminal does. */
  detached?: boolean;
  env?: Record<string, string>;
  input?: string;
  cwd?: string;
}

/** Never rejects: tests assert on exitCode, stdout, stderr and `all` (both interleaved). */
export function runTirflow(args: string[], options: RunTirflowOptions = {}) {
  return execa(process.execPath, [tirflowBin, ...args], {
    reject: false,
    all: true,
    detached: options.detached ?? false,
    env: options.env,
    input: options.input,
    cwd: options.cwd,
  });
}
