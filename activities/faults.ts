/**
 * Fault injection through the real components, for retry and chaos tests: when the named
 * environment variable holds a path that does not exist yet, the activity creates it and fails
 * once with a retryable error (after doing its work, before publishing its artifact).
 * Unset in production; the marker file makes it fire exactly once across retries and processes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';

export const faultSwitches = {
  generate: 'TIRFLOW_FAULT_GENERATE_ONCE',
  executeCode: 'TIRFLOW_FAULT_EXECUTE_CODE_ONCE',
} as const;

/**
 * A persistent fault, for blocked-run and operator tests: while the file this variable names
 * exists, `score` fails for the shards it selects, like a grader broken until an operator fixes
 * it; deleting the file is the fix. The file holds JSON `{ "step"?, "shard"?, "retryable"? }`
 * (empty: every shard, non-retryable, so the shard's retries are exhausted at once).
 */
export const scoreFaultSwitch = 'TIRFLOW_FAULT_SCORE_WHILE';

export async function injectScoreFault(step: number, shard: number): Promise<void> {
  const marker = process.env[scoreFaultSwitch];
  if (!marker) return;
  let content: string;
  try {
    content = (await readFile(marker, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // fixed
    throw err;
  }
  const target = (content === '' ? {} : JSON.parse(content)) as {
    step?: number;
    shard?: number;
    retryable?: boolean;
  };
  if (
    (target.step !== undefined && target.step !== step) ||
    (target.shard !== undefined && target.shard !== shard)
  )
    return;
  const message = `injected score fault for step ${step} shard ${shard} (delete ${marker} to fix)`;
  throw target.retryable === true
    ? ApplicationFailure.retryable(message, 'InjectedFault')
    : ApplicationFailure.nonRetryable(message, 'InjectedFault');
}
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
