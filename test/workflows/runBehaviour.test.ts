/**
 * trainingRun's durability mechanics on real workers: continue-as-new carries the run on,
 * a failing activity is retried alone, and bad input fails fast and clearly. A random tiny
 * model keeps these quick; learning is the e2e test's business.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { taskQueues } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { RunConfig } from '../../common/config';
import { faultSwitches } from '../../activities/faults';
import { describeFailure } from '../../cli/commands/train';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { statusQuery } from '../../workflows/messages';
import { useRunHarness } from '../support/runHarness';
import { uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

const harness = useRunHarness();

async function startRun(config: RunConfig, prefix: string) {
  const runId = uniqueName(prefix);
  const handle = await harness().temporal.client.workflow.start('trainingRun', {
    taskQueue: taskQueues.workflows,
    workflowId: runId,
    args: [{ runId, config }],
  });
  return { runId, handle };
}

test('continue-as-new with a one-step cap carries policy and metrics history over', async () => {
  const { runId, handle } = await startRun(tinyRunConfig(harness().model, { stepsPerExecution: 1 }), 'can');
  const result = (await handle.result()) as TrainingRunResult;
  assert.equal(result.completedSteps, 2);
  assert.equal(result.policy.version, 2);

  const first = await harness()
    .temporal.client.workflow.getHandle(runId, handle.firstExecutionRunId)
    .describe();
  assert.equal(first.status.name, 'CONTINUED_AS_NEW');
  const latest = await harness().temporal.client.workflow.getHandle(runId).describe();
  assert.notEqual(latest.runId, handle.firstExecutionRunId);

  const status = await harness().temporal.client.workflow.getHandle(runId).query(statusQuery);
  assert.deepEqual(
    status.history.map((r) => r.step),
    [1, 2],
    'the second execution kept the first step record',
  );
  assert.equal(status.history[1]!.policyVersion, 2);
  const lines = readFileSync(join(harness().worker.artifactRoot, artifactKeys.metrics(runId)), 'utf8')
    .trim()
    .split('\n');
  assert.equal(lines.length, 2);
});

test('a generate turn that fails once is retried alone and the step keeps every trajectory', async () => {
  const marker = join(mkdtempSync(join(tmpdir(), 'tirflow-fault-')), 'generate-fault');
  process.env[faultSwitches.generate] = marker;
  try {
    const { runId, handle } = await startRun(tinyRunConfig(harness().model, { steps: 1 }), 'retry');
    const result = (await handle.result()) as TrainingRunResult;
    assert.equal(result.completedSteps, 1);
    assert.ok(existsSync(marker), 'the fault fired');

    const line = JSON.parse(
      readFileSync(join(harness().worker.artifactRoot, artifactKeys.metrics(runId)), 'utf8').trim(),
    ) as { rollout: { trajectories: number } };
    assert.equal(line.rollout.trajectories, 4, 'prompts × samples, none lost or duplicated');

    // Exactly one generate attempt was retried; every other activity of the shards ran once.
    let retried = 0;
    for (const shard of [0, 1]) {
      const history = await harness()
        .temporal.client.workflow.getHandle(`${runId}/step-0001/shard-${shard}`)
        .fetchHistory();
      for (const event of history.events ?? []) {
        const started = event.activityTaskStartedEventAttributes;
        if (started && (started.attempt ?? 1) > 1) retried += 1;
      }
    }
    assert.equal(retried, 1);
  } finally {
    delete process.env[faultSwitches.generate];
  }
});

test('a dataset row without an answer fails the run at once, naming the row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tirflow-baddata-'));
  const train = join(dir, 'train.jsonl');
  writeFileSync(
    train,
    [
      JSON.stringify({ id: 'ok-1', problem: 'What is 1 + 1?', answer: '2', level: 'L1' }),
      JSON.stringify({ id: 'bad-2', problem: 'What is 2 + 2?', level: 'L1' }),
    ].join('\n') + '\n',
  );
  const config = tinyRunConfig(harness().model, { data: { train, validation: train } });
  const { handle } = await startRun(config, 'baddata');
  await assert.rejects(handle.result(), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError);
    const message = describeFailure(err);
    assert.match(message, /train\.jsonl:2: missing or empty string field "answer"/);
    return true;
  });
  const history = await handle.fetchHistory();
  const prepareAttempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
  assert.equal(prepareAttempts.length, 1);
  assert.equal(prepareAttempts[0]!.activityTaskStartedEventAttributes!.attempt, 1, 'not retried');
});
