/**
 * The trainer worker's side: TrainerProcess + the updatePolicy / exportPolicy activities on a
 * real Python trainer process and a tiny random Qwen2 model, including restarts after the
 * process is killed (idle and mid-step) and non-retryable bad input.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { UPDATE_METRIC_NAMES, type UpdatePolicyInput } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { trainerSchema } from '../../common/config';
import type { PolicyRef } from '../../common/policy';
import type { ScoredTrajectory } from '../../common/trajectory';
import { LocalDirArtifactStore, writeJsonl } from '../../activities/artifactStore';
import { pythonProjectDir, venvPython } from '../../activities/projectPaths';
import { createTrainerActivities, toTrainerSettings } from '../../activities/trainer/activities';
import { committedContractText } from '../../activities/trainer/settingsSchema';
import { TrainerProcess, TrainerProcessError } from '../../activities/trainer/trainerProcess';

const runId = 'trainer-test';

function trajectory(step: number, prompt: number, sample: number, reward: number): ScoredTrajectory {
  const promptTokenIds = [11 + prompt, 12, 13, 14];
  const responseTokenIds = [20 + sample, 21, 22, 23, 24, 25];
  return {
    id: `s${step}-p${prompt}-n${sample}`,
    promptId: `task-${prompt}`,
    sampleIndex: sample,
    problem: `problem ${prompt}`,
    referenceAnswer: '1',
    level: 'L1',
    seed: sample,
    promptTokenIds,
    responseTokenIds,
    actionMask: [1, 1, 0, 0, 1, 1], // two tool-output tokens in the middle
    responseText: '',
    phase: 'finished',
    stopReason: 'answer',
    toolCalls: 1,
    executions: [],
    pendingCode: null,
    reward,
    gradingStatus: reward === 1 ? 'correct' : 'incorrect',
    extractedAnswer: reward === 1 ? '1' : '2',
  };
}

function stepInput(step: number, policy: PolicyRef): UpdatePolicyInput {
  return {
    runId,
    step,
    policy,
    scoredKeys: [artifactKeys.scored(runId, step, 0)],
    hyper: trainerSchema.parse({
      algorithm: 'grpo',
      learningRate: 1e-3,
      miniBatches: 2,
      microBatchSize: 2,
      device: 'cpu',
    }),
    seed: 1,
    temperature: 0.7,
    exportOnnx: false,
  };
}

/** env.run cannot infer an activity's result type; this keeps the tests typed. */
const run = <I, R>(env: MockActivityEnvironment, activity: (input: I) => Promise<R>, input: I): Promise<R> =>
  env.run<[I], R, (input: I) => Promise<R>>(activity, input);

const stepLog = (store: LocalDirArtifactStore): number[] =>
  readFileSync(join(store.pathOf(`runs/${runId}/checkpoints`), 'trainer-steps.log'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { step: number }).step);

void describe('trainer activities', () => {
  let dir: string;
  let store: LocalDirArtifactStore;
  let trainer: TrainerProcess;
  let base: PolicyRef;
  const logs: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tirflow-trainer-'));
    await execa(venvPython, ['-m', 'tirflow_py.fixtures', join(dir, 'model')], { cwd: pythonProjectDir });
    store = new LocalDirArtifactStore(join(dir, 'store'));
    for (const step of [1, 2, 3, 4]) {
      const rows = [0, 1].flatMap((p) => [0, 1, 2, 3].map((n) => trajectory(step, p, n, n % 2)));
      await writeJsonl(store, artifactKeys.scored(runId, step, 0), rows);
    }
    trainer = new TrainerProcess({ log: (line) => logs.push(line) });
    base = { version: 0, hfDir: { store: 'filesystem', path: join(dir, 'model') }, onnxDir: null };
  });

  after(async () => {
    await trainer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  void it('trains a step, heartbeats, and returns the reused checkpoint on a retry', async () => {
    const { updatePolicy } = createTrainerActivities({ store, trainer, heartbeatMs: 100 });
    const env = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => heartbeats.push(details));

    const first = await run(env, updatePolicy, stepInput(1, base));
    assert.equal(first.reused, false);
    assert.deepEqual(first.policy, {
      version: 1,
      hfDir: { store: 'artifacts', key: `${artifactKeys.checkpoint(runId, 1)}/hf` },
      onnxDir: null,
    });
    assert.ok(await store.exists(`${artifactKeys.checkpoint(runId, 1)}/hf/model.safetensors`));
    assert.ok(first.metrics.gradNorm > 0 && first.metrics.entropy > 0 && first.metrics.trainedTokens === 80);
    assert.equal(first.metrics.groupsFiltered, 0);
    // The whole record, in its defined order, with the step's temperature and the skip count.
    assert.deepEqual(Object.keys(first.metrics), UPDATE_METRIC_NAMES);
    assert.equal(first.metrics.temperature, 0.7);
    assert.equal(first.metrics.skippedSteps, 0);
    assert.equal(first.metrics.valueLoss, 0); // GRPO: no critic
    assert.equal(first.metrics.logprobGap, null); // these rows carry no behaviour log-probs
    assert.ok(heartbeats.some((d) => (d as { phase?: string }).phase === 'update'));

    const again = await run(env, updatePolicy, stepInput(1, base));
    assert.equal(again.reused, true);
    assert.deepEqual(again.metrics, first.metrics);
    assert.deepEqual(stepLog(store), [1]);
  });

  void it('restarts a killed trainer process and reloads the policy it held', async () => {
    const { updatePolicy } = createTrainerActivities({ store, trainer, heartbeatMs: 100 });
    const env = new MockActivityEnvironment();
    const pid = trainer.pid;
    assert.ok(pid !== undefined);
    const starts = trainer.starts;
    process.kill(pid, 'SIGKILL');
    while (trainer.pid === pid) await new Promise((r) => setTimeout(r, 50));

    const policy1: PolicyRef = {
      version: 1,
      hfDir: { store: 'artifacts', key: `${artifactKeys.checkpoint(runId, 1)}/hf` },
      onnxDir: null,
    };
    const second = await run(env, updatePolicy, stepInput(2, policy1));
    assert.equal(second.reused, false);
    assert.equal(second.policy.version, 2);
    assert.equal(trainer.starts, starts + 1);
    assert.notEqual(trainer.pid, pid);
    assert.deepEqual(stepLog(store), [1, 2]);
  });

  void it('fails retryably when the process dies mid-step, and the retry commits the step once', async () => {
    const { updatePolicy } = createTrainerActivities({ store, trainer, heartbeatMs: 100 });
    const policy2: PolicyRef = {
      version: 2,
      hfDir: { store: 'artifacts', key: `${artifactKeys.checkpoint(runId, 2)}/hf` },
      onnxDir: null,
    };
    const env = new MockActivityEnvironment();
    let killed = false;
    env.on('heartbeat', (details: unknown) => {
      if (!killed && (details as { phase?: string }).phase === 'experience' && trainer.pid !== undefined) {
        killed = process.kill(trainer.pid, 'SIGKILL');
      }
    });
    await assert.rejects(run(env, updatePolicy, stepInput(3, policy2)), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'TrainerProcessDied');
      assert.equal(err.nonRetryable, false);
      return true;
    });
    assert.ok(killed);
    const retried = await run(new MockActivityEnvironment(), updatePolicy, stepInput(3, policy2));
    assert.equal(retried.reused, false);
    assert.equal(retried.policy.version, 3);
    assert.deepEqual(stepLog(store), [1, 2, 3]);
  });

  void it('rejects mismatched token and mask lengths as non-retryable, naming the trajectory', async () => {
    const { updatePolicy } = createTrainerActivities({ store, trainer });
    const rows = [0, 1].flatMap((p) => [0, 1].map((n) => trajectory(4, p, n, n)));
    rows[3] = { ...rows[3]!, actionMask: [1, 1, 1] };
    await writeJsonl(store, artifactKeys.scored(runId, 4, 0), rows);
    const policy3: PolicyRef = {
      version: 3,
      hfDir: { store: 'artifacts', key: `${artifactKeys.checkpoint(runId, 3)}/hf` },
      onnxDir: null,
    };
    await assert.rejects(
      run(new MockActivityEnvironment(), updatePolicy, stepInput(4, policy3)),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.nonRetryable, true);
        assert.equal(err.type, 'InvalidTrajectory');
        assert.match(err.message, /s4-p1-n1/);
        return true;
      },
    );
    assert.equal(await store.exists(artifactKeys.checkpoint(runId, 4)), false);
  });

  void it('sends the whole settings record; the trainer refuses a record missing a key or with an unknown one', async () => {
    const wire = toTrainerSettings(stepInput(4, base));
    const contract = JSON.parse(committedContractText()) as { settings: { properties: object } };
    assert.deepEqual(Object.keys(wire).sort(), Object.keys(contract.settings.properties).sort());
    assert.equal(wire.temperature, 0.7);
    assert.equal(wire.seed, 1);
    const withoutSeed = Object.fromEntries(Object.entries(wire).filter(([key]) => key !== 'seed'));
    const cases: [Record<string, unknown>, RegExp][] = [
      [withoutSeed, /missing trainer settings: seed/],
      [{ ...wire, lr: 1e-3 }, /unknown trainer settings: lr/],
    ];
    for (const [settings, message] of cases) {
      await assert.rejects(
        trainer.request('train_step', {
          step: 4,
          scored_paths: [store.pathOf(artifactKeys.scored(runId, 4, 0))],
          checkpoint_dir: join(dir, 'refused', 'step-4'),
          settings,
        }),
        (err: unknown) => {
          assert.ok(err instanceof TrainerProcessError);
          assert.equal(err.type, 'InvalidSettings');
          assert.equal(err.retryable, false);
          assert.match(err.message, message);
          return true;
        },
      );
    }
    assert.equal(existsSync(join(dir, 'refused')), false);
  });

  void it('refuses invalid trainer settings non-retryably before loading anything', async () => {
    const { updatePolicy } = createTrainerActivities({ store, trainer });
    const input = stepInput(4, base);
    const starts = trainer.starts;
    await assert.rejects(
      run(new MockActivityEnvironment(), updatePolicy, {
        ...input,
        hyper: { ...input.hyper, filterRewardLow: 0.9, filterRewardHigh: 0.5 },
      }),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.type, 'InvalidSettings');
        assert.equal(err.nonRetryable, true);
        assert.match(err.message, /filterRewardHigh: the filter band \(0\.9, 0\.5\) is empty/);
        return true;
      },
    );
    assert.equal(trainer.starts, starts);
  });

  void it('exports the base policy to ONNX once, under the step-0 checkpoint key', async () => {
    const { exportPolicy } = createTrainerActivities({ store, trainer });
    const exported = await run(new MockActivityEnvironment(), exportPolicy, { runId, policy: base });
    const onnxKey = `${artifactKeys.checkpoint(runId, 0)}/onnx`;
    assert.deepEqual(exported.onnxDir, { store: 'artifacts', key: onnxKey });
    assert.ok(existsSync(join(store.pathOf(onnxKey), 'model.onnx')));
    const again = await run(new MockActivityEnvironment(), exportPolicy, { runId, policy: base });
    assert.deepEqual(again, exported);
  });
});
