/**
 * Steps of the shipped tiny base on real workers, where what the model does matters:
 *  - refill: when dynamic filtering keeps fewer groups than the step's batch, the step samples
 *    more prompts as further shards until the batch is full, and the update trains on exactly
 *    the batch;
 *  - at temperature 0.7 the engine's behaviour log-probs and the trainer's agree (ONNX vs torch
 *    numerics only), so on-policy importance weights are 1.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { taskQueues, type StepRecord } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { countKeptGroups } from '../../common/dynamicFiltering';
import type { ScoredTrajectory } from '../../common/trajectory';
import { projectRoot } from '../../activities/projectPaths';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { writeChaosTasks } from '../chaos/chaosConfig';
import { useRunHarness } from '../support/runHarness';
import { uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

// The tiny base solves some L1/L2 problems: groups of 4 samples are often, not always, mixed.
const harness = useRunHarness(() => Promise.resolve(join(projectRoot, 'models/tiny-base')));

test('a step short of kept groups samples more prompts until its batch is full', async () => {
  const runId = uniqueName('refill');
  const config = tinyRunConfig(harness().model, {
    steps: 1,
    data: {
      train: writeChaosTasks(mkdtempSync(join(tmpdir(), 'tirflow-refill-'))),
      validation: join(projectRoot, 'data/tasks/validation.jsonl'),
    },
    rollout: { promptsPerStep: 4, samplesPerPrompt: 4, shards: 2, maxResponseTokens: 48, refillRounds: 4 },
    // Only groups with 1 to 3 of 4 right count: many are all right or all wrong.
    trainer: { learningRate: 1e-3, device: 'cpu', filterRewardLow: 0.2, filterRewardHigh: 0.8 },
  });
  const handle = await harness().temporal.client.workflow.start('trainingRun', {
    taskQueue: taskQueues.workflows,
    workflowId: runId,
    args: [{ runId, config }],
  });
  const result = (await handle.result()) as TrainingRunResult;
  assert.equal(result.completedSteps, 1);

  const record = JSON.parse(
    readFileSync(join(harness().worker.artifactRoot, artifactKeys.metrics(runId)), 'utf8').trim(),
  ) as StepRecord;
  const groups = record.groups!;
  const scored = (shard: number): ScoredTrajectory[] =>
    readFileSync(join(harness().worker.artifactRoot, artifactKeys.scored(runId, 1, shard)), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as ScoredTrajectory);
  const band = { low: 0.2, high: 0.8 };
  const firstRound = countKeptGroups([...scored(0), ...scored(1)], band);
  assert.equal(groups.needed, 4);
  assert.ok(
    firstRound.groupsKept < 4,
    `the first round kept ${firstRound.groupsKept} of 4: a refill was needed`,
  );
  assert.ok(groups.refillRounds >= 1, JSON.stringify(groups));
  assert.ok(groups.kept >= groups.needed, `the refill filled the batch: ${JSON.stringify(groups)}`);
  assert.equal(groups.sampled, 4 + groups.refillPrompts);
  // The refill shards are further shards of the same step, each scored and counted.
  const shards = 2 + Math.ceil(groups.refillPrompts / 2);
  let keptAll = 0;
  for (let shard = 0; shard < shards; shard++) keptAll += countKeptGroups(scored(shard), band).groupsKept;
  assert.equal(keptAll, groups.kept);
  // The update trained on exactly the batch: 4 groups × 4 samples.
  assert.equal(record.update?.trajectoriesTrained, 16, JSON.stringify(record.update));
});

test('at temperature 0.7 the engine and the trainer agree on every sampled token’s log-prob', async () => {
  const runId = uniqueName('agree');
  const config = tinyRunConfig(harness().model, {
    steps: 1,
    data: {
      train: writeChaosTasks(mkdtempSync(join(tmpdir(), 'tirflow-agree-'))),
      validation: join(projectRoot, 'data/tasks/validation.jsonl'),
    },
    rollout: { promptsPerStep: 4, samplesPerPrompt: 4, shards: 2, maxResponseTokens: 48, temperature: 0.7 },
    trainer: { learningRate: 1e-3, device: 'cpu', offPolicyCorrection: 'tis' },
  });
  const handle = await harness().temporal.client.workflow.start('trainingRun', {
    taskQueue: taskQueues.workflows,
    workflowId: runId,
    args: [{ runId, config }],
  });
  await handle.result();
  const record = JSON.parse(
    readFileSync(join(harness().worker.artifactRoot, artifactKeys.metrics(runId)), 'utf8').trim(),
  ) as StepRecord;
  const update = record.update!;
  assert.ok(update.trajectoriesTrained! > 0, 'some groups were kept, so tokens were compared');
  assert.equal(update.temperature, 0.7, 'the trainer scored at the temperature the rollout sampled at');
  assert.equal(update.staleness, 0);
  // ONNX (fp32) against torch (fp32): logits agree to ~1.5e-5, so log-probs at T = 0.7 to
  // ~4e-5 (test/generation/logprobs.test.ts measures the engine against torch directly).
  assert.ok(update.logprobGap! < 1e-4, `mean |behaviour − trainer| log-prob ${update.logprobGap}`);
  assert.ok(
    Math.abs(update.importanceWeightMean! - 1) < 1e-3,
    `importance weight mean ${update.importanceWeightMean}`,
  );
  assert.equal(update.importanceWeightTruncatedFraction, 0);
});
