/**
 * Fault injection through the real components, for retry and chaos tests: when the named
 * environment variable holds a path that does not exist yet, the activity creates it and fails
 * once with a retryable error (after doing its work, before publishing its artifact).
 * Unset in production; the marker file makes it fire exactly once across retries and processes.
 */
import { writeFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';

export const faultSwitches = {
  generate: 'TIRFLOW_FAULT_GENERATE_ONCE',
  executeCode: 'TIRFLOW_FAULT_EXECUTE_CODE_ONCE',
} as const;

export async function injectFaultOnce(activity: keyof typeof faultSwitches): Promise<void> {
  const envVar = faultSwitches[activity];
  const marker = process.env[envVar];
  if (!marker) return;
  try {
    await writeFile(marker, `${activity} fault injected at ${new Date().toISOString()}\n`, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return; // already failed once
    throw err;
  }
  throw ApplicationFailure.retryable(`injected ${activity} fault (${envVar}=${marker})`, 'InjectedFault');
}
