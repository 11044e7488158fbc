/**
 * Idempotence audit: every activity the workers register, run twice with the same input on the
 * real components (the roles' own activity maps from workers/roles.ts: python trainer, ONNX
 * engine, bubblewrap sandbox, math-verify graders), changes nothing the second time: the
 * artifact store holds the same bytes, and the result is the same or says it reused the work.
 *
 * The activities run in pipeline order on one small run, so each one's input is the previous
 * one's real output. The last test fails when a role registers an activity this file does not
 * audit: add its test (and its name to AUDITED) before shipping it.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalDirArtifactStore, readJsonl, writeJsonl } from '../../activities/artifactStore';
import { loadModelTokenizer } from '../../activities/generation/modelFolder';
import { awaitingExecution } from '../support/pendingCode';
import { writeReport } from '../../activities/report/writeReport';
import type {
  EvaluationRecord,
  PruneCheckpointsResult,
  RestoreRunResult,
  EvaluationSummary,
  ExecuteCodeResult,
  GenerateInput,
  GenerateResult,
  PrepareRunResult,
  ScoreResult,
  SelectEvaluationRowsResult,
  StepRecord,
  UpdatePolicyResult,
} from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { parseRunConfig, trainerSchema, type EngineConfig } from '../../common/config';
import type { PolicyRef } from '../../common/policy';
import type { Trajectory } from '../../common/trajectory';
import { startRole, workerRoles, type RoleRuntime } from '../../workers/roles';
import { fixtureModel, type FixtureModel } from '../generation/fixtureModel';
import { testRolloutSettings } from '../support/rolloutSettings';
import { modifiedTimes, snapshotTree } from '../support/storeFiles';

/** Every registered activity and the test below that audits it. */
const AUDITED = [
  'prepareRun',
  'generate',
  'syncPolicyWeights',
  'executeCode',
  'score',
  'recordStep',
  'summarizeEvaluation',
  'selectEvaluationRows',
  'recordEvaluation',
  'exportPolicy',
  'updatePolicy',
  'restoreRun',
  'pruneCheckpoints',
] as const;
type Audited = (typeof AUDITED)[number];

const runId = 'idem';
const scratch = mkdtempSync(join(tmpdir(), 'tirflow-idempotence-'));
const store = new LocalDirArtifactStore(join(scratch, 'store'));
const datasetPath = join(scratch, 'tasks.jsonl');
writeFileSync(
  datasetPath,
  [
    { id: 'a', problem: 'What is 12 + 7?', answer: '19', level: 'L1' },
    { id: 'b', problem: 'What is 6 * 7?', answer: '42', level: 'L2' },
  ]
    .map((row) => JSON.stringify(row) + '\n')
    .join(''),
);

let fixture: FixtureModel;
let runtimes: RoleRuntime[] = [];
const registered = new Map<string, RoleRuntime['activities'][string]>();

before(async () => {
  fixture = await fixtureModel();
  for (const role of workerRoles) {
    const runtime = await startRole(role, { store, poolSize: 1 });
    runtimes.push(runtime);
    for (const [name, activity] of Object.entries(runtime.activities)) {
      assert.ok(!registered.has(name), `activity ${name} is registered by two roles`);
      registered.set(name, activity);
    }
  }
});

after(async () => {
  for (const runtime of runtimes) await runtime.close();
  runtimes = [];
});

/**
 * Calls a registered activity by name, inside an activity context, as a worker would. The
 * `timing` a worker adds to some results measures the call, not its outcome: it is left out.
 */
async function call<R>(name: Audited, input: unknown): Promise<R> {
  const activity = registered.get(name) as ((input: unknown) => Promise<R>) | undefined;
  assert.ok(activity, `no role registers ${name}`);
  const drop = (): void => undefined;
  const env = new MockActivityEnvironment(undefined, {
    logger: { log: drop, trace: drop, debug: drop, info: drop, warn: drop, error: drop },
  });
  const result = await env.run<[unknown], R, (input: unknown) => Promise<R>>(activity, input);
  if (result && typeof result === 'object' && 'timing' in result) {
    const outcome: Record<string, unknown> = { ...(result as Record<string, unknown>) };
    delete outcome.timing;
    return outcome as R;
  }
  return result;
}

/**
 * Runs an activity twice; the second run must leave every byte of the store as the first left it.
 * `found`: the activity claims to find its artifact rather than redo the work, so the second run
 * must not even rewrite a file (same mtimes): redoing deterministic work would pass on bytes alone.
 */
async function twice<R>(
  name: Audited,
  input: unknown,
  expect: 'found' | 'sameBytes',
): Promise<{ first: R; second: R }> {
  const first = await call<R>(name, input);
  const afterFirst = await snapshotTree(store.root);
  const timesAfterFirst = await modifiedTimes(store.root);
  const second = await call<R>(name, input);
  assert.deepEqual(await snapshotTree(store.root), afterFirst, `${name}: a second run changed the store`);
  if (expect === 'found') {
    assert.deepEqual(
      await modifiedTimes(store.root),
      timesAfterFirst,
      `${name}: a second run rewrote a file`,
    );
  }
  return { first, second };
}

const config = (): ReturnType<typeof parseRunConfig> =>
  parseRunConfig({
    model: fixture.hfDir,
    data: { train: datasetPath, validation: datasetPath },
    rollout: { promptsPerStep: 2, samplesPerPrompt: 2, shards: 2, maxResponseTokens: 24 },
    trainer: { device: 'cpu' },
  });

const onnxEngine: EngineConfig = { kind: 'onnx', maxBatchSize: 4 };

function generateInput(policy: PolicyRef, fields: Partial<GenerateInput>): GenerateInput {
  return {
    runId,
    step: 1,
    shard: 0,
    turn: 0,
    policy,
    rollout: testRolloutSettings({
      engine: onnxEngine,
      sampling: { temperature: 1, topP: 1, maxResponseTokens: 24 },
    }),
    seed: 99,
    ...fields,
  };
}

void describe('every activity run twice changes nothing the second time', () => {
  const base = (): PolicyRef => ({
    version: 0,
    hfDir: { store: 'filesystem', path: fixture.hfDir },
    onnxDir: null,
  });
  let exported: PolicyRef;
  const scoredKeys: string[] = [];

  void it('prepareRun: checks the inputs and stores config.json once', async () => {
    const input = { runId, config: config(), datasets: [datasetPath], modelDir: fixture.hfDir };
    const { first, second } = await twice<PrepareRunResult>('prepareRun', input, 'found');
    assert.deepEqual(second, first);
    assert.equal(first.datasets[0]!.rows, 2);
    assert.ok(await store.exists(artifactKeys.runConfig(runId)));
  });

  void it('exportPolicy: exports the base policy once, then returns the export', async () => {
    const { first, second } = await twice<PolicyRef>('exportPolicy', { runId, policy: base() }, 'found');
    assert.deepEqual(second, first);
    assert.deepEqual(first.onnxDir, { store: 'artifacts', key: `${artifactKeys.checkpoint(runId, 0)}/onnx` });
    exported = first;
  });

  void it('generate: turn 0 finds its shard artifact instead of generating again', async () => {
    for (const shard of [0, 1]) {
      const input = generateInput(exported, {
        shard,
        rollout: testRolloutSettings({
          engine: onnxEngine,
          sampling: { temperature: 1, topP: 1, maxResponseTokens: 24 },
          samplesPerPrompt: 2,
        }),
        prompts: { datasetPath, rowIndices: [shard] },
      });
      const { first, second } = await twice<GenerateResult>('generate', input, 'found');
      assert.deepEqual(second, first);
      assert.equal(first.trajectories, 2);
    }
  });

  // The random fixture model never closes a code block, so one of shard 1's real trajectories
  // is put in the state a ```python block leaves it in.
  let pendingKey = '';
  let executed: ExecuteCodeResult;
  void it('executeCode: finds its results artifact instead of running the code again', async () => {
    pendingKey = artifactKeys.generated(runId, 1, 1, 0);
    const generated = await readJsonl<Trajectory>(store, pendingKey);
    const tokenizer = await loadModelTokenizer(fixture.onnxDir);
    // A different number each run: a second execution could not hide by writing equal bytes.
    const waiting = awaitingExecution(generated[0]!, tokenizer, 'import random\nprint(random.random())');
    await writeJsonl(store, pendingKey, [waiting, ...generated.slice(1)]);

    const input = { runId, step: 1, shard: 1, turn: 0, generatedKey: pendingKey, timeoutS: 5 };
    const { first, second } = await twice<ExecuteCodeResult>('executeCode', input, 'found');
    assert.deepEqual(second, first);
    assert.deepEqual(first.byStatus, { ok: 1 });
    executed = first;
  });

  void it('generate: a later turn (observation appended) also finds its artifact', async () => {
    const input = generateInput(exported, {
      shard: 1,
      turn: 1,
      previous: { generatedKey: pendingKey, executedKey: executed.executedKey },
      // Room after the code block and its output, so the turn really generates.
      rollout: testRolloutSettings({
        engine: onnxEngine,
        sampling: { temperature: 1, topP: 1, maxResponseTokens: 128 },
      }),
    });
    const { first, second } = await twice<GenerateResult>('generate', input, 'found');
    assert.deepEqual(second, first);
    assert.equal(first.generatedKey, artifactKeys.generated(runId, 1, 1, 1));
    assert.ok(first.tokensGenerated > 0, 'the resumed trajectory generated after its output');
  });

  void it('score: finds the scored shard instead of grading again', async () => {
    const shards = [
      { shard: 0, generatedKey: artifactKeys.generated(runId, 1, 0, 0) },
      { shard: 1, generatedKey: artifactKeys.generated(runId, 1, 1, 1) },
    ];
    for (const { shard, generatedKey } of shards) {
      const { first, second } = await twice<ScoreResult>(
        'score',
        { runId, step: 1, shard, generatedKey },
        'found',
      );
      assert.deepEqual(second, first);
      assert.equal(first.trajectories, 2);
      scoredKeys.push(first.scoredKey);
    }
  });

  let update: UpdatePolicyResult;
  void it('updatePolicy: reuses the committed step checkpoint instead of training twice', async () => {
    const input = {
      runId,
      step: 1,
      policy: exported,
      scoredKeys,
      hyper: trainerSchema.parse({ device: 'cpu', learningRate: 1e-3, dynamicFiltering: false }),
      exportOnnx: true,
    };
    const { first, second } = await twice<UpdatePolicyResult>('updatePolicy', input, 'found');
    assert.equal(first.reused, false);
    assert.equal(second.reused, true, 'the explicit reuse signal');
    assert.deepEqual(second.policy, first.policy);
    assert.deepEqual(second.metrics, first.metrics);
    const log = await store.read(`runs/${runId}/checkpoints/trainer-steps.log`);
    assert.equal(log.toString().trim().split('\n').length, 1, 'the trainer step log has step 1 once');
    update = first;
  });

  void it('syncPolicyWeights: tells a server to load a policy once', async () => {
    const reloads: string[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        reloads.push(`${request.url} ${body}`);
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ success: true, message: 'loaded' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const engine: EngineConfig = {
        kind: 'openai',
        baseUrl: `http://127.0.0.1:${port}/v1`,
        model: 'policy',
        weightReload: 'sglang',
        requestTimeoutS: 30,
      };
      const { first, second } = await twice<boolean>(
        'syncPolicyWeights',
        { engine, policy: update.policy },
        'found',
      );
      assert.equal(first, true);
      assert.equal(second, false, 'already serving this version: nothing sent');
      assert.equal(reloads.length, 1);
      assert.match(reloads[0]!, /^\/update_weights_from_disk .*checkpoints\/step-0001\/hf/);
    } finally {
      server.close();
    }
  });

  void it('recordStep: replaces its metrics line instead of appending a second one', async () => {
    const input = { runId, step: 1, policyVersion: 1, scoredKeys, update: update.metrics, evaluation: null };
    const { first, second } = await twice<StepRecord>('recordStep', input, 'sameBytes');
    assert.deepEqual(second, first);
    const lines = (await store.read(artifactKeys.metrics(runId))).toString().trim().split('\n');
    assert.equal(lines.length, 1);
  });

  void it('restoreRun: reads the recorded steps and their policy, writing nothing', async () => {
    const { first, second } = await twice<RestoreRunResult>(
      'restoreRun',
      { runId, basePolicy: base() },
      'found',
    );
    assert.deepEqual(second, first);
    assert.equal(first.completedSteps, 1);
    assert.equal(first.policy.version, 1);
    assert.deepEqual(first.policy.hfDir, {
      store: 'artifacts',
      key: `${artifactKeys.checkpoint(runId, 1)}/hf`,
    });
  });

  void it('pruneCheckpoints: removes what retention drops once, then finds nothing to remove', async () => {
    // Keep only the last policy's trainer state and ONNX export; weights of step 1 are the last.
    const input = {
      runId,
      step: 1,
      retention: { keepTrainerState: 1, keepWeightsEvery: 10, keepOnnx: 1 },
      inUse: [1],
    };
    const { first, second } = await twice<PruneCheckpointsResult>('pruneCheckpoints', input, 'found');
    assert.deepEqual(second, { freedBytes: 0, removed: [] });
    // Version 0 (the base export) is not in use and not the last: its ONNX export goes.
    assert.deepEqual(first.removed, [`${artifactKeys.checkpoint(runId, 0)}/onnx`]);
    assert.ok(first.freedBytes > 0);
    assert.ok(await store.exists(`${artifactKeys.checkpoint(runId, 1)}/hf/model.safetensors`));
  });

  void it('summarizeEvaluation: rewrites the same summary bytes', async () => {
    const input = { runId, step: 1, split: 'validation', policyVersion: 1, samplesPerPrompt: 2, scoredKeys };
    const { first, second } = await twice<EvaluationSummary>('summarizeEvaluation', input, 'sameBytes');
    assert.deepEqual(second, first);
    assert.ok(await store.exists(artifactKeys.evaluation(runId, 1, 'validation')));
  });

  void it('selectEvaluationRows: reads only, the same selection each time', async () => {
    const input = {
      set: { name: 'tasks', path: datasetPath },
      policy: base(),
      template: 'tool',
      maxResponseTokens: 24,
    };
    const { first, second } = await twice<SelectEvaluationRowsResult>('selectEvaluationRows', input, 'found');
    assert.deepEqual(second, first);
    assert.deepEqual(first.rowIndices, [0, 1]);
  });

  void it('recordEvaluation: rewrites the same record bytes', async () => {
    const summary = (
      await readJsonl<EvaluationSummary>(store, artifactKeys.evaluation(runId, 1, 'validation'))
    )[0]!;
    const record: EvaluationRecord = {
      evaluationId: 'eval-idem',
      policy: { ref: `${runId}:1`, version: 1, runId },
      configSource: `stored config of run ${runId}`,
      template: 'tool',
      engine: 'onnx',
      samplesPerPrompt: 2,
      temperature: 1,
      maxResponseTokens: 24,
      toolBudgets: [2],
      results: [{ unit: 'validation', set: 'validation', toolBudget: 2, summary }],
    };
    const { first, second } = await twice<{ keys: string[] }>('recordEvaluation', { record }, 'sameBytes');
    assert.deepEqual(second, first);
    assert.deepEqual(first.keys, [
      artifactKeys.evaluationRecord('eval-idem'),
      artifactKeys.runEvaluationRecord(runId, 'eval-idem'),
    ]);
  });

  void it('writeReport (tirflow report, not a worker activity): same files, same bytes', async () => {
    const outDir = join(store.root, 'reports', runId);
    await writeReport({ store, runIds: [runId], outDir });
    const afterFirst = await snapshotTree(store.root);
    await writeReport({ store, runIds: [runId], outDir });
    assert.deepEqual(await snapshotTree(store.root), afterFirst);
    assert.ok(Object.keys(afterFirst).includes(`reports/${runId}/report.html`));
  });
});

void it('every activity a worker role registers has an idempotence test here', () => {
  assert.deepEqual([...registered.keys()].sort(), [...AUDITED].sort());
});
