/**
 * End to end: two steps of a tiny ZeroTIR run with every component real — the dev server, an
 * all-roles worker, the onnx engine, the bwrap sandbox, the math-verify pool and the torch
 * trainer — on the shipped tiny base model and the shipped easy (L1) training rows.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { taskQueues, type StepRecord } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { projectRoot } from '../../activities/projectPaths';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { statusQuery } from '../../workflows/messages';
import { startLocalWorker, type LocalWorker } from '../support/localWorker';
import { connectTestTemporal, uniqueName, type TestTemporal } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

let temporal: TestTemporal;
let worker: LocalWorker;
const model = join(projectRoot, 'models/tiny-base');
const easyRows = join(mkdtempSync(join(tmpdir(), 'tirflow-e2e-')), 'train-L1.jsonl');

before(async () => {
  const rows = readFileSync(join(projectRoot, 'data/tasks/train.jsonl'), 'utf8').split('\n');
  writeFileSync(easyRows, rows.filter((line) => line.includes('"level":"L1"')).join('\n') + '\n');
  temporal = await connectTestTemporal();
  worker = startLocalWorker(temporal.address);
});
after(async () => {
  await worker?.stop();
  await temporal?.close();
});

test('two steps of a tiny run complete with every component real', async () => {
  const runId = uniqueName('e2e');
  const handle = await temporal.client.workflow.start('trainingRun', {
    taskQueue: taskQueues.workflows,
    workflowId: runId,
    args: [
      {
        runId,
        config: tinyRunConfig(model, {
          data: { train: easyRows, validation: join(projectRoot, 'data/tasks/validation.jsonl') },
          rollout: { promptsPerStep: 8, samplesPerPrompt: 8, shards: 2, maxResponseTokens: 64 },
          evaluation: { every: 2, prompts: 4 },
          // Every step's weights kept, to compare them (retention keeps only the last and best).
          checkpoints: { keepWeightsEvery: 1 },
        }),
      },
    ],
  });
  const result = (await handle.result()) as TrainingRunResult;

  assert.equal(result.completedSteps, 2);
  assert.equal(result.policy.version, 2);
  assert.equal(result.stoppedEarly, false);
  assert.ok(result.baseEvaluation, 'the base policy was evaluated before training');

  const weights = (step: number): Buffer =>
    readFileSync(join(worker.artifactRoot, artifactKeys.checkpoint(runId, step), 'hf', 'model.safetensors'));
  assert.notDeepEqual(weights(2), weights(1), 'step 2 changed the policy');

  const metricsLines = readFileSync(join(worker.artifactRoot, artifactKeys.metrics(runId)), 'utf8')
    .trim()
    .split('\n');
  assert.equal(metricsLines.length, 2);
  const records = metricsLines.map((line) => JSON.parse(line) as StepRecord);
  assert.deepEqual(
    records.map((r) => r.step),
    [1, 2],
  );
  for (const record of records) {
    assert.equal(record.rollout.trajectories, 64, 'prompts × samples per step');
    // Where the step's time went, measured by the workers and the workflow.
    const t = record.timings!;
    assert.ok(t.generateS > 0 && t.scoreS > 0 && t.updateS > 0, JSON.stringify(t));
    assert.ok(t.rolloutS > 0 && t.stepS >= t.rolloutS + t.updateS - 1e-6, JSON.stringify(t));
    assert.deepEqual(record.hyperparameters, {
      learningRate: 1e-3,
      temperature: 1,
      toolBudget: 2,
    });
  }
  assert.ok(records[1]!.timings!.evaluationS > 0, 'step 2 was evaluated');

  const status = await handle.query(statusQuery);
  assert.equal(status.phase, 'completed');
  assert.equal(status.policyVersion, 2);
  assert.equal(status.history.length, 2);
});
