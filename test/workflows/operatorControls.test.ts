/**
 * What an operator does to a live run, through the real CLI and client: pause, inspect,
 * change hyperparameters (validated), resume, stop after a step; then evaluate a checkpoint.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { stringify } from 'yaml';
import { taskQueues } from '../../common/activityContracts';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { setHyperparametersUpdate, statusQuery, type RunStatus } from '../../workflows/messages';
import { runTirflow } from '../support/cli';
import { useRunHarness } from '../support/runHarness';
import { uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

const harness = useRunHarness();

async function waitForStatus(runId: string, done: (s: RunStatus) => boolean): Promise<RunStatus> {
  const handle = harness().temporal.client.workflow.getHandle(runId);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const status = await handle.query(statusQuery);
    if (done(status)) return status;
    assert.ok(Date.now() < deadline, `status never matched; last: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('pause, change hyperparameters, resume and stop a live run; evaluate its checkpoint', async () => {
  const runId = uniqueName('ops');
  const cluster = ['--address', harness().temporal.address, '--artifacts', harness().worker.artifactRoot];
  const config = tinyRunConfig(harness().model, { steps: 5 });
  const handle = await harness().temporal.client.workflow.start('trainingRun', {
    taskQueue: taskQueues.workflows,
    workflowId: runId,
    args: [{ runId, config }],
  });

  const pause = await runTirflow(['pause', runId, ...cluster]);
  assert.equal(pause.exitCode, 0, pause.all);
  const paused = await waitForStatus(runId, (s) => s.phase === 'paused');
  assert.ok(paused.completedSteps < 5);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(
    (await handle.query(statusQuery)).completedSteps,
    paused.completedSteps,
    'no step while paused',
  );

  const shown = await runTirflow(['status', runId, '--json', ...cluster]);
  assert.equal(shown.exitCode, 0, shown.all);
  assert.equal((JSON.parse(shown.stdout) as RunStatus).paused, true);

  const applied = await handle.executeUpdate(setHyperparametersUpdate, {
    args: [{ temperature: 0.5, toolBudget: 1 }],
  });
  assert.deepEqual(applied, { learningRate: config.trainer.learningRate, temperature: 0.5, toolBudget: 1 });
  await assert.rejects(
    handle.executeUpdate(setHyperparametersUpdate, { args: [{ toolBudget: -1 }] }),
    (err: unknown) =>
      err instanceof WorkflowUpdateFailedError && /toolBudget/.test(String(err.cause?.message)),
  );

  const stopAt = paused.completedSteps + 1;
  assert.equal((await runTirflow(['stop', runId, '--after-step', String(stopAt), ...cluster])).exitCode, 0);
  assert.equal((await runTirflow(['resume', runId, ...cluster])).exitCode, 0);
  const result = (await handle.result()) as TrainingRunResult;
  assert.equal(result.completedSteps, stopAt);
  assert.equal(result.stoppedEarly, true);
  const final = await handle.query(statusQuery);
  assert.equal(final.phase, 'stopped');
  assert.equal(final.hyperparameters.temperature, 0.5);

  const configFile = join(mkdtempSync(join(tmpdir(), 'tirflow-eval-')), 'eval.yaml');
  writeFileSync(configFile, stringify({ ...config, evaluation: { ...config.evaluation, prompts: 2 } }));
  const evaluation = await runTirflow([
    'eval',
    '--policy',
    `${runId}:${stopAt}`,
    '-c',
    configFile,
    ...cluster,
  ]);
  assert.equal(evaluation.exitCode, 0, evaluation.all);
  assert.match(evaluation.stdout, new RegExp(`\\(policy v${stopAt}\\) on validation \\| greedy`));
  // The validation split's row: 2 prompts, none skipped, accuracy and pass@1.
  assert.match(evaluation.stdout, /\| validation \| 2 \| 0 \| \d+\.\d% \| \d+\.\d% \|/);

  const missing = await runTirflow(['eval', '--policy', `${runId}:99`, '-c', configFile, ...cluster]);
  assert.equal(missing.exitCode, 2);
  assert.match(missing.stderr, /no checkpoint .*:99/);
});
