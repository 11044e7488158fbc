/** Runs the real `tirflow` command (bin/tirflow.js) as a user would. */
import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';

export const tirflowBin = fileURLToPath(new URL('../../bin/tirflow.js', import.meta.url));

export function runTirflow(args: string[], options: Options = {}) {
  return execa(process.execPath, [tirflowBin, ...args], { reject: false, ...options });
}
