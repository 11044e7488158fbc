/**
 * The `generate` activity in Temporal's MockActivityEnvironment on a real exported fixture
 * model: turn 0 from dataset prompts, a later turn that appends a sandbox observation,
 * behaviour log-probs and turn policy versions, the turn barrier, idempotency, heartbeats, and
 * bad input.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalDirArtifactStore, readJsonl, writeJsonl } from '../../activities/artifactStore';
import { createGenerationActivities } from '../../activities/generation/generateActivity';
import { loadModelTokenizer } from '../../activities/generation/modelFolder';
import { awaitingExecution } from '../support/pendingCode';
import { stopOnnxEngineThread } from '../../activities/generation/onnxEngine';
import type { GenerateInput, GenerateResult } from '../../common/activityContracts';
import { testRolloutSettings } from '../support/rolloutSettings';
import { artifactKeys } from '../../common/artifactKeys';
import type { PolicyRef } from '../../common/policy';
import type { ExecutionResult, Trajectory } from '../../common/trajectory';
import { startServe } from '../support/serve';
import { fixtureModel, type FixtureModel } from './fixtureModel';
import { assertSameTrajectories, withoutTiming } from './sameSamples';

let fixture: FixtureModel;
let scratch: string;
let datasetPath: string;

before(async () => {
  fixture = await fixtureModel();
  scratch = await mkdtemp(join(tmpdir(), 'tirflow-generate-'));
  datasetPath = join(scratch, 'tasks.jsonl');
  const rows = [
    { id: 'a', problem: 'What is 12 + 7?', answer: '19', level: 'L1' },
    { id: 'b', problem: 'Solve 3x + 5 = 20.', answer: '5', level: 'L2' },
    { id: 'c', problem: 'What is 17 mod 5?', answer: '2', level: 'L1' },
  ];
  await writeFile(datasetPath, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
});

after(async () => {
  await stopOnnxEngineThread();
  await rm(scratch, { recursive: true, force: true });
});

function policy(): PolicyRef {
  return {
    version: 0,
    hfDir: { store: 'filesystem', path: fixture.hfDir },
    onnxDir: { store: 'filesystem', path: fixture.onnxDir },
  };
}

function input(overrides: Partial<GenerateInput> = {}): GenerateInput {
  return {
    runId: 'run-a',
    step: 1,
    shard: 0,
    turn: 0,
    policy: policy(),
    rollout: testRolloutSettings({ samplesPerPrompt: 3 }),
    seed: 1234,
    prompts: { datasetPath, rowIndices: [2, 0] },
    ...overrides,
  };
}

/** An activity environment whose logger drops records: these tests expect the failures they log. */
const quietEnv = (): MockActivityEnvironment => {
  const drop = (): void => undefined;
  return new MockActivityEnvironment(undefined, {
    logger: { log: drop, trace: drop, debug: drop, info: drop, warn: drop, error: drop },
  });
};

type Generate = (input: GenerateInput) => Promise<GenerateResult>;

/** A result's counts without its timing, which differs from run to run. */
function withoutBarrier(result: GenerateResult): GenerateResult {
  const copy = { ...result };
  delete copy.turnBarrier;
  return copy;
}

/** Runs `generate` as Temporal would, with an activity context (heartbeats, cancellation). */
function runIn(
  env: MockActivityEnvironment,
  generate: Generate,
  request: GenerateInput,
): Promise<GenerateResult> {
  return env.run<[GenerateInput], GenerateResult, Generate>(generate, request);
}

describe('generate activity', () => {
  it('rolls out turn 0 from prompts, writes the shard, and is idempotent', async () => {
    const store = new LocalDirArtifactStore(join(scratch, 'store-a'));
    const { generate } = createGenerationActivities({ store, heartbeatEveryMs: 10 });
    const env = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => heartbeats.push(d));

    const result = await runIn(env, generate, input());
    assert.equal(result.generatedKey, artifactKeys.generated('run-a', 1, 0, 0));
    assert.equal(result.trajectories, 6);
    assert.ok(heartbeats.length >= 1, 'heartbeats flow while the engine thread works');

    const trajectories = await readJsonl<Trajectory>(store, result.generatedKey);
    assert.deepEqual(
      trajectories.map((t) => t.id),
      ['s1-p2-n0', 's1-p2-n1', 's1-p2-n2', 's1-p0-n0', 's1-p0-n1', 's1-p0-n2'],
    );
    assert.deepEqual(new Set(trajectories.map((t) => t.seed)).size, 6, 'every sample has its own seed');
    let modelTokens = 0;
    for (const t of trajectories) {
      assert.equal(t.actionMask.length, t.responseTokenIds.length);
      assert.equal(t.behaviourLogprobs?.length, t.responseTokenIds.length);
      assert.ok(t.behaviourLogprobs.every((l) => Number.isFinite(l) && l <= 0));
      assert.ok(
        t.behaviourLogprobs.some((l) => l < 0),
        'sampled at temperature 1 from a random model: no token was certain',
      );
      assert.deepEqual(t.turnPolicyVersions, [0], 'turn 0 came from policy v0');
      assert.equal(t.turnFinishMs?.length, 1);
      assert.ok(t.responseTokenIds.length <= 48);
      assert.ok(t.phase === 'finished' || t.phase === 'awaitingExecution');
      modelTokens += t.actionMask.reduce((a, m) => a + m, 0);
    }
    assert.equal(result.tokensGenerated, modelTokens, 'mask-1 tokens are exactly the generated tokens');
    assert.equal(result.finished + result.awaitingExecution, 6);
    const stopped = Object.values(result.stoppedBy).reduce((a, n) => a + (n ?? 0), 0);
    assert.equal(stopped, 6);
    // All six generated this turn; each waited from its own finish until the slowest one's.
    const finishes = trajectories.map((t) => t.turnFinishMs![0]!);
    const span = Math.max(...finishes);
    assert.deepEqual(result.turnBarrier, {
      trajectories: 6,
      spanMs: span,
      waitMs: finishes.reduce((sum, ms) => sum + span - ms, 0),
    });
    assert.ok(finishes.every((ms) => Number.isInteger(ms) && ms >= 0));

    // Run again: the artifact exists, so the same summary comes back (the barrier read from
    // the trajectories) and nothing is rewritten.
    const mtime = statSync(store.pathOf(result.generatedKey)).mtimeMs;
    const again = await runIn(new MockActivityEnvironment(), generate, input());
    assert.deepEqual(again, result);
    assert.equal(statSync(store.pathOf(result.generatedKey)).mtimeMs, mtime);

    // A fresh store with the same seeds regenerates the same tokens.
    const other = new LocalDirArtifactStore(join(scratch, 'store-b'));
    const fresh = createGenerationActivities({ store: other });
    const replay = await runIn(new MockActivityEnvironment(), fresh.generate, input());
    assert.deepEqual(
      (await readJsonl<Trajectory>(other, replay.generatedKey)).map(withoutTiming),
      trajectories.map(withoutTiming),
    );
  });

  it('appends the sandbox observation as tool tokens and keeps generating', async () => {
    const store = new LocalDirArtifactStore(join(scratch, 'store-c'));
    const tokenizer = await loadModelTokenizer(fixture.onnxDir);
    const { generate } = createGenerationActivities({ store });
    const turn0 = await runIn(
      new MockActivityEnvironment(),
      generate,
      input({
        rollout: testRolloutSettings({ samplesPerPrompt: 2 }),
        prompts: { datasetPath, rowIndices: [1] },
      }),
    );
    const trajectories = await readJsonl<Trajectory>(store, turn0.generatedKey);

    // The random fixture model never writes code by itself: put one trajectory in the state a
    // closed ```python block leaves it in (model tokens, mask 1), then hand generate a result.
    // The fixture's context is 512 positions and the ORZ prompt takes most of them: a short
    // prompt leaves room to see generation continue.
    const block = awaitingExecution(trajectories[0]!, tokenizer, 'print(6*7)');
    const waiting: Trajectory = {
      ...block,
      promptTokenIds: tokenizer.encode('Solve 3x + 5 = 20. Assistant: <think>'),
      behaviourLogprobs: block.responseTokenIds.map(() => -0.5),
    };
    const code = waiting.responseTokenIds;
    const previousKey = 'runs/run-c/manual/turn-00.generated.jsonl';
    const executedKey = 'runs/run-c/manual/turn-00.executed.jsonl';
    await writeJsonl(store, previousKey, [waiting, trajectories[1]!]);
    const execution: ExecutionResult = {
      trajectoryId: waiting.id,
      status: 'ok',
      stdout: '42\n',
      stderr: '',
      exitCode: 0,
      durationMs: 7,
      truncated: false,
    };
    await writeJsonl(store, executedKey, [execution]);

    const turn1 = await runIn(
      new MockActivityEnvironment(),
      generate,
      input({
        turn: 1,
        prompts: undefined,
        previous: { generatedKey: previousKey, executedKey },
        policy: { ...policy(), version: 3 },
      }),
    );
    const [resumed, untouched] = await readJsonl<Trajectory>(store, turn1.generatedKey);
    assert.deepEqual(untouched, trajectories[1], 'a finished trajectory passes through unchanged');
    const observation = tokenizer.encode('\n```output\n42\n```\n');
    const at = code.length;
    assert.deepEqual(resumed!.responseTokenIds.slice(0, at + observation.length), [...code, ...observation]);
    assert.deepEqual(
      resumed!.actionMask.slice(at, at + observation.length),
      observation.map(() => 0),
    );
    assert.ok(
      resumed!.responseTokenIds.length > at + observation.length,
      'generation continued after the output',
    );
    assert.deepEqual(resumed!.executions, [
      { status: 'ok', durationMs: 7, observationTokens: observation.length, truncated: false },
    ]);
    assert.equal(resumed!.phase === 'finished' || resumed!.phase === 'awaitingExecution', true);
    const newModelTokens = resumed!.actionMask.slice(at + observation.length).length;
    assert.equal(turn1.tokensGenerated, newModelTokens);
    // Model tokens keep their log-probs, tool tokens get 0, new tokens the engine's own.
    const behaviour = resumed!.behaviourLogprobs!;
    assert.equal(behaviour.length, resumed!.responseTokenIds.length);
    assert.deepEqual(behaviour.slice(0, at), waiting.behaviourLogprobs);
    assert.deepEqual(
      behaviour.slice(at, at + observation.length),
      observation.map(() => 0),
    );
    assert.ok(behaviour.slice(at + observation.length).every((l) => Number.isFinite(l) && l < 0));
    assert.deepEqual(resumed!.turnPolicyVersions, [0, 3], 'turn 1 came from policy v3');
    assert.equal(resumed!.turnFinishMs?.length, 2);
    assert.equal(turn1.turnBarrier?.trajectories, 1, 'only the resumed trajectory generated');
  });

  it('produces the same trajectories through the openai engine and tirflow serve', async () => {
    const served = await startServe(fixture.onnxDir, 'policy');
    try {
      const request = input({
        rollout: testRolloutSettings({ samplesPerPrompt: 2 }),
        prompts: { datasetPath, rowIndices: [0, 1] },
      });
      const viaOnnx = new LocalDirArtifactStore(join(scratch, 'store-onnx'));
      const viaHttp = new LocalDirArtifactStore(join(scratch, 'store-http'));
      const local = await runIn(
        new MockActivityEnvironment(),
        createGenerationActivities({ store: viaOnnx }).generate,
        request,
      );
      const remote = await runIn(
        new MockActivityEnvironment(),
        createGenerationActivities({ store: viaHttp }).generate,
        {
          ...request,
          rollout: {
            ...request.rollout,
            engine: {
              kind: 'openai',
              baseUrl: served.baseUrl,
              model: 'policy',
              weightReload: 'none',
              requestTimeoutS: 60,
            },
          },
        },
      );
      assert.deepEqual(withoutBarrier(remote), withoutBarrier(local));
      // Alike down to the behaviour log-probs (up to the rounding of another batch composition:
      // the server admits requests as they arrive).
      assertSameTrajectories(
        await readJsonl<Trajectory>(viaHttp, remote.generatedKey),
        await readJsonl<Trajectory>(viaOnnx, local.generatedKey),
      );
    } finally {
      await served.stop();
    }
  });

  it('fails non-retryably on a policy without a tokenizer or ONNX export, and on a missing result', async () => {
    const store = new LocalDirArtifactStore(join(scratch, 'store-d'));
    const { generate } = createGenerationActivities({ store });
    const isPermanent = (pattern: RegExp) => (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure && err.nonRetryable === true, String(err));
      assert.match(err.message, pattern);
      return true;
    };
    const bare = join(scratch, 'bare-model');
    await mkdir(bare, { recursive: true });
    await assert.rejects(
      runIn(
        quietEnv(),
        generate,
        input({ policy: { ...policy(), onnxDir: { store: 'filesystem', path: bare } } }),
      ),
      isPermanent(/tokenizer\.json/),
    );
    await assert.rejects(
      runIn(quietEnv(), generate, input({ policy: { ...policy(), onnxDir: null } })),
      isPermanent(/ONNX/),
    );
    await assert.rejects(
      runIn(quietEnv(), generate, input({ prompts: { datasetPath, rowIndices: [9] } })),
      isPermanent(/row 9/),
    );
  });
});
