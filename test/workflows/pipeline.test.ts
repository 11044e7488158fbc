/**
 * The pipelined loop (`pipeline.maxStaleness` 1) on real workers: step k+1's rollout runs while
 * step k trains, every step is trained once and in order by a policy at most one version
 * behind, evaluation runs beside the next step, continue-as-new carries a finished rollout
 * over without redoing it, a pause keeps the rollout in flight for after the resume, and a stop
 * cancels (and reports) the rollouts past it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StepRecord } from '../../common/activityContracts';
import { taskQueues } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { RunConfig } from '../../common/config';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { pauseSignal, resumeSignal, statusQuery, stopUpdate } from '../../workflows/messages';
import { workflowIds } from '../../common/workflowIds';
import { useRunHarness } from '../support/runHarness';
import { uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

const harness = useRunHarness();

async function start(config: RunConfig, prefix: string) {
  const runId = uniqueName(prefix);
  const handle = await harness().temporal.client.workflow.start('trainingRun', {
    taskQueue: taskQueues.workflows,
    workflowId: runId,
    args: [{ runId, config }],
  });
  return { runId, handle };
}

const store = (key: string): string => join(harness().worker.artifactRoot, key);

function records(runId: string): StepRecord[] {
  return readFileSync(store(artifactKeys.metrics(runId)), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as StepRecord);
}

function trainedSteps(runId: string): number[] {
  return readFileSync(store(`${artifactKeys.checkpointsRoot(runId)}/trainer-steps.log`), 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { step: number }).step);
}

/** How many executions a workflow id has had (a redone child would have two). */
async function executions(workflowId: string): Promise<number> {
  let count = 0;
  const listed = harness().temporal.client.workflow.list({ query: `WorkflowId = '${workflowId}'` });
  for await (const execution of listed) if (execution.workflowId === workflowId) count += 1;
  return count;
}

test('staleness 1: rollouts overlap updates, each step trained once in order, one version behind', async () => {
  const config = tinyRunConfig(harness().model, {
    steps: 4,
    pipeline: { maxStaleness: 1 },
    evaluation: { every: 2, prompts: 2 },
    // Continue-as-new after every step: each new execution inherits the rollout finished ahead.
    stepsPerExecution: 1,
  });
  const { runId, handle } = await start(config, 'pipelined');
  const result = (await handle.result()) as TrainingRunResult;
  assert.equal(result.completedSteps, 4);
  assert.equal(result.policy.version, 4);
  assert.deepEqual(trainedSteps(runId), [1, 2, 3, 4], 'each step trained once, in order');

  const lines = records(runId);
  assert.deepEqual(
    lines.map((r) => [r.step, r.policyVersion, r.step - 1 - r.behaviourPolicyVersion!]),
    [
      [1, 1, 0],
      [2, 2, 1],
      [3, 3, 1],
      [4, 4, 1],
    ],
    'step k trains v(k-1) on rollouts of v(k-2): one version behind from step 2 on',
  );
  assert.deepEqual(
    lines.filter((r) => r.evaluation !== null).map((r) => r.step),
    [2, 4],
  );
  for (const record of lines)
    assert.ok(record.timings && record.timings.updateS > 0, `step ${record.step} timed`);

  // The overlap itself: step 3's shards started before step 2's update had finished.
  const firstRunId = handle.firstExecutionRunId;
  const chain: { child: Map<string, number>; updateDone: Map<number, number> } = {
    child: new Map(),
    updateDone: new Map(),
  };
  for (let execution: string | undefined = firstRunId; execution;) {
    const history = await harness().temporal.client.workflow.getHandle(runId, execution).fetchHistory();
    let next: string | undefined;
    const scheduled = new Map<string, number>(); // scheduled event id → step
    for (const event of history.events ?? []) {
      const time =
        Number(event.eventTime?.seconds ?? 0) * 1000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6);
      const childStarted = event.startChildWorkflowExecutionInitiatedEventAttributes;
      if (childStarted?.workflowId) chain.child.set(childStarted.workflowId, time);
      const activity = event.activityTaskScheduledEventAttributes;
      if (activity?.activityType?.name === 'updatePolicy') {
        const step = /step (\d+)/.exec(event.userMetadata?.summary?.data?.toString() ?? '')?.[1];
        if (step) scheduled.set(String(event.eventId), Number(step));
      }
      const completed = event.activityTaskCompletedEventAttributes;
      const step = completed ? scheduled.get(String(completed.scheduledEventId)) : undefined;
      if (step !== undefined) chain.updateDone.set(step, time);
      next = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? next;
    }
    execution = next;
  }
  const step3Started = chain.child.get(`${runId}/step-0003/shard-0`);
  const step2Updated = chain.updateDone.get(2);
  assert.ok(
    step3Started !== undefined && step2Updated !== undefined,
    JSON.stringify([...chain.child.keys()]),
  );
  assert.ok(step3Started <= step2Updated, 'step 3 rolled out while step 2 trained');
  for (const step of [1, 2, 3, 4])
    for (const shard of [0, 1])
      assert.equal(
        await executions(`${runId}/step-000${step}/shard-${shard}`),
        1,
        `step ${step} shard ${shard} ran once`,
      );
});

test('a stop in the pipelined loop cancels the rollouts past it and reports them', async () => {
  const config = tinyRunConfig(harness().model, { steps: 6, pipeline: { maxStaleness: 1 } });
  const { runId, handle } = await start(config, 'pipestop');
  for (;;) {
    const status = await handle.query(statusQuery).catch(() => null);
    if (status && status.completedSteps >= 1) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const { stopAfterStep } = await handle.executeUpdate(stopUpdate, { args: [{}] });
  const result = (await handle.result()) as TrainingRunResult;
  assert.equal(result.completedSteps, stopAfterStep);
  assert.deepEqual(
    trainedSteps(runId),
    Array.from({ length: stopAfterStep }, (_, i) => i + 1),
  );
  assert.deepEqual(
    records(runId).map((r) => r.step),
    Array.from({ length: stopAfterStep }, (_, i) => i + 1),
  );
  // The rollout one step ahead had started before the stop: cancelled or unused, named in the result.
  assert.deepEqual(result.rolloutsBeyondStop, [stopAfterStep + 1]);
});

test('a pause in the pipelined loop keeps the rollout in flight and uses it after resume', async () => {
  const config = tinyRunConfig(harness().model, { steps: 4, pipeline: { maxStaleness: 1 } });
  const { runId, handle } = await start(config, 'pipepause');
  for (;;) {
    const status = await handle.query(statusQuery).catch(() => null);
    if (status && status.completedSteps >= 1) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await handle.signal(pauseSignal);
  let paused = await handle.query(statusQuery);
  while (paused.phase !== 'paused') {
    await new Promise((r) => setTimeout(r, 200));
    paused = await handle.query(statusQuery);
  }
  // Paused after a step: the next step's rollout, started from the previous policy, is kept.
  const pausedAt = paused.completedSteps;
  assert.ok(pausedAt < 4, `paused before the end (after step ${pausedAt})`);
  // (Had the pause come after the update, the rollout one further ahead started too.)
  const inFlight = paused.pipeline?.rolloutsInFlight ?? [];
  assert.ok(inFlight.includes(pausedAt + 1), `in flight while paused: ${inFlight.join(', ')}`);
  assert.ok(inFlight.every((step) => step <= pausedAt + 2));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await handle.query(statusQuery)).completedSteps, pausedAt, 'nothing trained while paused');

  await handle.signal(resumeSignal);
  const result = (await handle.result()) as TrainingRunResult;
  assert.equal(result.completedSteps, 4);
  assert.deepEqual(trainedSteps(runId), [1, 2, 3, 4], 'each step trained once, in order');
  assert.deepEqual(
    records(runId).map((r) => r.step),
    [1, 2, 3, 4],
  );
  // The kept rollout was used, not redone: each of its shards ran once, from the older policy.
  for (let shard = 0; shard < config.rollout.shards; shard++)
    assert.equal(await executions(workflowIds.rolloutShard(runId, pausedAt + 1, shard)), 1);
  const kept = records(runId).find((r) => r.step === pausedAt + 1)!;
  assert.equal(kept.behaviourPolicyVersion, pausedAt - 1);
});
