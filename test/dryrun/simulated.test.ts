/**
 * The paper-scale dry run's parts at a small size, so `npm run dryrun` cannot rot unseen: the
 * simulated engine (deterministic from the seed, paced like a replica) and the simulated update
 * (the trainer's real data path, exactly once), in runs on the real dev server with the real
 * sandbox and grader pools.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { taskQueues, type UpdatePolicyInput, type UpdatePolicyResult } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { parseRunConfig, type SimulatedEngineConfig } from '../../common/config';
import { renderPrompt } from '../../common/toolProtocol';
import type { ExecutionResult, ScoredTrajectory } from '../../common/trajectory';
import { LocalDirArtifactStore, readJsonl } from '../../activities/artifactStore';
import { projectRoot } from '../../activities/projectPaths';
import { loadModelTokenizer } from '../../activities/generation/modelFolder';
import { SimulatedEngine } from '../../activities/generation/simulatedEngine';
import { createTrainerActivities } from '../../activities/trainer/activities';
import { TrainerProcess } from '../../activities/trainer/trainerProcess';
import type { TrainingRunResult } from '../../workflows/trainingRun';
import { useRunHarness } from '../support/runHarness';
import { modifiedTimes } from '../support/storeFiles';
import { uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

const model = join(projectRoot, 'models/tiny-base');
const harness = useRunHarness(() => Promise.resolve(model));

function engineConfig(overrides: Partial<SimulatedEngineConfig> = {}): SimulatedEngineConfig {
  const config = parseRunConfig({ engine: { kind: 'simulated', ...overrides } }).engine;
  assert.equal(config.kind, 'simulated');
  return config;
}

describe('simulated engine', () => {
  it('answers the same request with the same tokens, and another seed with others', async () => {
    const tokenizer = await loadModelTokenizer(model);
    const prompt = tokenizer.encode(renderPrompt('tool', 'What is 6 + 37?'));
    const request = (seed: number) => ({
      promptTokenIds: prompt,
      stop: ['```python', 'User:', '</answer>'],
      maxTokens: 300,
      temperature: 1,
      topP: 1,
      seed,
    });
    const config = engineConfig({ tokensPerSecond: 1e6, responseTokens: { min: 64, max: 200 } });
    const first = await new SimulatedEngine(config, model).complete(request(11));
    const again = await new SimulatedEngine(config, model).complete(request(11));
    const other = await new SimulatedEngine(config, model).complete(request(12));
    assert.deepEqual(again, first);
    assert.notDeepEqual(other.tokenIds, first.tokenIds);
    assert.ok(first.tokenIds.every((id) => Number.isInteger(id) && id >= 0 && id < tokenizer.vocabSize));
    assert.equal(first.finishReason, 'stop');
  });

  it('takes at least tokens / tokensPerSecond, shared by the requests in flight', async () => {
    const tokenizer = await loadModelTokenizer(model);
    const prompt = tokenizer.encode(renderPrompt('tool', 'What is 9 + 63?'));
    const config = engineConfig({
      tokensPerSecond: 1000,
      codeRate: 0,
      responseTokens: { min: 150, max: 150 },
    });
    const engine = new SimulatedEngine(config, model);
    const started = performance.now();
    const outputs = await Promise.all(
      [1, 2].map((seed) =>
        engine.complete({
          promptTokenIds: prompt,
          stop: ['</answer>'],
          maxTokens: 300,
          temperature: 1,
          topP: 1,
          seed,
        }),
      ),
    );
    const tokens = outputs.reduce((sum, o) => sum + o.tokenIds.length, 0);
    // A lower bound only: a loaded machine can make it slower, never faster.
    assert.ok(performance.now() - started >= (tokens / 1000) * 1000 - 5, `${tokens} tokens at 1000/s`);
    assert.equal(engine.tokensGenerated(), tokens);
  });
});

describe('a small run with the simulated engine and update', () => {
  const runConfig = (seed: number) =>
    tinyRunConfig(model, {
      seed,
      steps: 2,
      rollout: { promptsPerStep: 4, samplesPerPrompt: 4, shards: 2, toolBudget: 2, maxResponseTokens: 300 },
      engine: {
        kind: 'simulated',
        tokensPerSecond: 20_000,
        responseTokens: { min: 80, max: 220 },
        codeRate: 0.9,
        codeErrorRate: 0.25,
        codeTimeoutRate: 0,
        correctRate: 0.5,
      },
      trainer: { kind: 'simulated', simulatedUpdateS: 0.5, microBatchSize: 4 },
    });

  async function runOnce(seed: number): Promise<{ runId: string; result: TrainingRunResult }> {
    const { temporal } = harness();
    const runId = uniqueName('dryrun-small');
    const result = (await temporal.client.workflow.execute('trainingRun', {
      taskQueue: taskQueues.workflows,
      workflowId: runId,
      args: [{ runId, config: runConfig(seed) }],
    })) as TrainingRunResult;
    return { runId, result };
  }

  // meta.json outlives checkpoint retention (it makes each update exactly-once); hf/ may not.
  const digest = (root: string, runId: string, step: number): string =>
    (
      JSON.parse(readFileSync(join(root, artifactKeys.checkpoint(runId, step), 'meta.json'), 'utf8')) as {
        metrics: { digest: string };
      }
    ).metrics.digest;

  it('runs code blocks in the sandbox, grades the answers, packs the same tensors from the same seed, and reuses a checkpoint', async () => {
    const { worker } = harness();
    const root = worker.artifactRoot;
    const store = new LocalDirArtifactStore(root);
    const first = await runOnce(7);
    assert.equal(first.result.completedSteps, 2);
    assert.equal(first.result.policy.version, 2);

    // Code blocks reached the sandbox and their outputs came back into the responses.
    const scored = (
      await Promise.all(
        [0, 1].map((shard) => readJsonl<ScoredTrajectory>(store, artifactKeys.scored(first.runId, 1, shard))),
      )
    ).flat();
    assert.equal(scored.length, 16);
    const executedKeys = (await store.list(artifactKeys.stepRoot(first.runId, 1))).filter((k) =>
      k.endsWith('.executed.jsonl'),
    );
    const results = (await Promise.all(executedKeys.map((k) => readJsonl<ExecutionResult>(store, k)))).flat();
    assert.ok(results.length > 0, 'some code ran in the sandbox');
    assert.equal(
      results.length,
      scored.reduce((sum, t) => sum + t.executions.length, 0),
      'every execution result was appended to its trajectory',
    );
    const printed = results.filter(
      (r) => r.status === 'ok' && r.stdout.trim() !== '' && r.stdout.length < 200,
    );
    assert.ok(printed.length > 0, 'some snippets printed a result');
    for (const result of printed) {
      const trajectory = scored.find((t) => t.id === result.trajectoryId)!;
      assert.ok(
        trajectory.responseText.includes(`\`\`\`output\n${result.stdout.trim()}`),
        `${trajectory.id} shows its output`,
      );
    }
    assert.ok(
      results.some((r) => r.status === 'error'),
      'some snippets raised',
    );
    // The rewards are math-verify's verdicts on the boxed answers.
    for (const t of scored) {
      if (t.stopReason !== 'answer') continue;
      assert.notEqual(t.extractedAnswer, null, `${t.id} has a boxed answer`);
      assert.equal(t.reward, t.extractedAnswer === t.referenceAnswer ? 1 : 0, `${t.id} is graded`);
    }

    // Each step was committed once, with the packed tensors' digest.
    const stepLog = readFileSync(
      join(root, artifactKeys.runRoot(first.runId), 'checkpoints', 'trainer-steps.log'),
      'utf8',
    )
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { step: number }).step);
    assert.deepEqual(stepLog, [1, 2]);

    // The same seed gives the same trajectories and the same packed tensors.
    const second = await runOnce(7);
    for (const step of [1, 2])
      assert.equal(digest(root, second.runId, step), digest(root, first.runId, step));
    const tokens = async (runId: string) =>
      (await readJsonl<ScoredTrajectory>(store, artifactKeys.scored(runId, 2, 1))).map(
        (t) => t.responseTokenIds,
      );
    assert.deepEqual(await tokens(second.runId), await tokens(first.runId));

    // The update of a committed step reuses its checkpoint and writes nothing.
    const checkpoints = join(root, artifactKeys.runRoot(first.runId), 'checkpoints');
    const before = await modifiedTimes(checkpoints);
    const trainer = new TrainerProcess();
    const activities = createTrainerActivities({ store, trainer });
    const input: UpdatePolicyInput = {
      runId: first.runId,
      step: 1,
      policy: { version: 0, hfDir: { store: 'filesystem', path: model }, onnxDir: null },
      scoredKeys: [0, 1].map((shard) => artifactKeys.scored(first.runId, 1, shard)),
      hyper: runConfig(7).trainer,
      exportOnnx: false,
    };
    const reused = await new MockActivityEnvironment().run<
      [UpdatePolicyInput],
      UpdatePolicyResult,
      typeof activities.updatePolicy
    >(activities.updatePolicy, input);
    await trainer.close();
    assert.equal(reused.reused, true);
    assert.equal(reused.policy.version, 1);
    assert.deepEqual(await modifiedTimes(checkpoints), before);
    assert.equal(trainer.starts, 0, 'the torch trainer was never started');
  });
});
