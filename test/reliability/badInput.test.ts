/**
 * Bad input, as a user meets it: each case gives one clear message and exit 2 from the real
 * `tirflow` command (or a non-retryable failure from the activity that reads the input), is
 * never retried, and leaves nothing of the run in the artifact store.
 *
 *   case                                   where it is caught           proved by
 *   malformed YAML, wrong type, unknown    CLI config schema, before    'config errors …'
 *   key, negative tool budget, batch not   any workflow starts          (cliTrain.test.ts: several
 *   divisible into shards                                               errors in one file)
 *   missing model dir, broken weights,     prepareRun, before step 1,   'model and dataset errors …'
 *   dataset empty line / missing field /   non-retryable, 1 attempt
 *   huge problem / prompt over context
 *   policy folder with broken weights      prepareRun, non-retryable    '`tirflow eval` of …'
 *   broken model.onnx                      onnx engine load             'a broken model.onnx …'
 *   tool budget 0                          valid: a ZeroRL-like run     'tool budget 0 …'
 */
import assert from 'node:assert/strict';
import {
  copyFileSync,
  cpSync,
  mkdtempSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalDirArtifactStore, readJsonl } from '../../activities/artifactStore';
import { createGenerationActivities } from '../../activities/generation/generateActivity';
import { stopOnnxEngineThread } from '../../activities/generation/onnxEngine';
import { freePort } from '../../cli/devServer';
import type { GenerateInput, GenerateResult } from '../../common/activityContracts';
import { testRolloutSettings } from '../support/rolloutSettings';
import { artifactKeys } from '../../common/artifactKeys';
import { nextSegment, startTrajectory } from '../../common/toolProtocol';
import type { Trajectory } from '../../common/trajectory';
import { fixtureModel } from '../generation/fixtureModel';
import { runTirflow } from '../support/cli';
import { useRunHarness } from '../support/runHarness';
import { snapshotTree, tempEntries } from '../support/storeFiles';
import { uniqueName } from '../support/temporal';

const harness = useRunHarness();
const dir = mkdtempSync(join(tmpdir(), 'tirflow-badinput-'));
after(stopOnnxEngineThread);

type Cli = Awaited<ReturnType<typeof runTirflow>>;

const row = (id: string, problem: string): string =>
  JSON.stringify({ id, problem, answer: '2', level: 'L1' });
const goodRows = [row('a', 'What is 1 + 1?'), row('b', 'What is 3 - 1?'), row('c', 'What is 4 / 2?')];

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const validation = file('validation.jsonl', goodRows.join('\n') + '\n');

/** A one-step run config on the harness's model; `changes` replace whole top-level sections. */
function runConfig(name: string, changes: Record<string, unknown> = {}): string {
  const config = {
    model: harness().model,
    data: { train: validation, validation },
    steps: 1,
    rollout: { promptsPerStep: 2, samplesPerPrompt: 2, shards: 2, maxResponseTokens: 24 },
    trainer: { learningRate: 1e-3, device: 'cpu' },
    evaluation: { every: 0 },
    ...changes,
  };
  return file(name, JSON.stringify(config, null, 2));
}

const train = (config: string, runId: string): Promise<Cli> =>
  runTirflow(['train', '-c', config, '--run-id', runId, '--address', harness().temporal.address]);

/** Exit 2 and one message: `tirflow: …` on stderr, matching `pattern`, no stack trace. */
function assertBadInput(result: Cli, pattern: RegExp): void {
  const stderr = String(result.stderr);
  assert.equal(result.exitCode, 2, `exit code of: ${String(result.all)}`);
  assert.match(stderr, /^tirflow: /);
  assert.equal(stderr.match(/^tirflow: /gm)?.length, 1, `one message: ${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  assert.match(stderr, pattern);
}

/** The run left no file in the store, and no writer left a temp file anywhere in it. */
async function assertStoreUntouched(runId: string): Promise<void> {
  const root = harness().worker.artifactRoot;
  assert.deepEqual(await snapshotTree(join(root, artifactKeys.runRoot(runId))), {});
  assert.deepEqual(await tempEntries(root), []);
}

void describe('config errors exit 2 before any workflow starts', () => {
  const cases: [string, string, RegExp][] = [
    ['malformed YAML', 'steps: [1, 2\n', /not valid YAML\/JSON/],
    ['wrong type', 'steps: two\n', /steps: .*expected number, received string/],
    ['unknown key', 'learningrate: 0.1\n', /Unrecognized key: "learningrate"/],
    ['negative tool budget', 'rollout:\n  toolBudget: -1\n', /rollout\.toolBudget: .*>=0/],
    [
      'batch not divisible into shards',
      'rollout:\n  promptsPerStep: 6\n  shards: 4\n',
      /rollout\.shards: 6 prompts per step do not divide into 4 equal shards/,
    ],
  ];
  for (const [name, yaml, pattern] of cases) {
    void it(name, async () => {
      const runId = uniqueName('badcfg');
      const result = await train(file(`${runId}.yaml`, yaml), runId);
      assertBadInput(result, pattern);
      // One field, one issue line under the file's name.
      assert.ok(
        String(result.stderr)
          .split('\n')
          .filter((l) => l.startsWith('  - ')).length <= 1,
      );
      await assert.rejects(
        harness().temporal.client.workflow.getHandle(runId).describe(),
        WorkflowNotFoundError,
      );
      await assertStoreUntouched(runId);
    });
  }
});

void describe('model and dataset errors fail the run in prepareRun, once, with exit 2', () => {
  /** The run's workflow failed after exactly one prepareRun attempt and nothing else ran. */
  async function assertRejectedOnce(runId: string): Promise<void> {
    const handle = harness().temporal.client.workflow.getHandle(runId);
    assert.equal((await handle.describe()).status.name, 'FAILED');
    const started = ((await handle.fetchHistory()).events ?? []).flatMap((e) =>
      e.activityTaskScheduledEventAttributes
        ? [e.activityTaskScheduledEventAttributes.activityType?.name]
        : [],
    );
    assert.deepEqual(started, ['prepareRun'], 'no activity after prepareRun');
    const attempts = ((await handle.fetchHistory()).events ?? []).flatMap((e) =>
      e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt] : [],
    );
    assert.deepEqual(attempts, [1], 'prepareRun ran once: non-retryable');
  }

  async function rejected(name: string, changes: Record<string, unknown>, pattern: RegExp): Promise<void> {
    const runId = uniqueName(name);
    assertBadInput(await train(runConfig(`${runId}.json`, changes), runId), pattern);
    await assertRejectedOnce(runId);
    await assertStoreUntouched(runId);
  }

  const dataset = (name: string, lines: string[]): Record<string, unknown> => ({
    data: { train: file(name, lines.join('\n') + '\n'), validation },
  });

  void it('missing model dir', () =>
    rejected('nomodel', { model: join(dir, 'no-such-model') }, /model folder not found: .*no-such-model/));

  void it('model dir with truncated weights', async () => {
    const model = join(dir, 'truncated-model');
    cpSync(harness().model, model, { recursive: true });
    const weights = join(model, 'model.safetensors');
    truncateSync(weights, statSync(weights).size - 1000);
    await rejected(
      'badweights',
      { model },
      /model\.safetensors is not a valid safetensors file: .*truncated/,
    );
  });

  void it('`tirflow eval` of a policy folder with truncated weights', async () => {
    const policy = join(dir, 'truncated-policy');
    cpSync(harness().model, policy, { recursive: true });
    const weights = join(policy, 'model.safetensors');
    truncateSync(weights, statSync(weights).size - 1000);
    const result = await runTirflow([
      'eval',
      '--policy',
      policy,
      '-c',
      runConfig('eval.json'),
      '--address',
      harness().temporal.address,
      '--artifacts',
      harness().worker.artifactRoot,
    ]);
    assertBadInput(result, /evaluation \S+ failed: .*model\.safetensors is not a valid safetensors file/);
    // prepareRun checks the policy folder itself and rejects it before writing anything: no
    // config stored, no export started.
    const evaluationId = /Evaluating (eval-\S+):/.exec(String(result.stdout))?.[1];
    assert.ok(evaluationId, String(result.stdout));
    const root = harness().worker.artifactRoot;
    assert.deepEqual(await snapshotTree(join(root, artifactKeys.runRoot(evaluationId))), {});
    assert.deepEqual(await tempEntries(root), []);
  });

  void it('model dir whose weights are a Git LFS pointer', async () => {
    const model = join(dir, 'lfs-model');
    cpSync(harness().model, model, { recursive: true });
    writeFileSync(join(model, 'model.safetensors'), 'version https://git-lfs.github.com/spec/v1\n');
    await rejected('lfsweights', { model }, /model\.safetensors is not a valid safetensors file: header/);
  });

  void it('dataset with an empty line', () =>
    rejected(
      'emptyline',
      dataset('empty-line.jsonl', [goodRows[0]!, '', goodRows[1]!]),
      /empty-line\.jsonl:2: empty line/,
    ));

  void it('dataset row missing a field', () =>
    rejected(
      'nofield',
      dataset('no-answer.jsonl', [
        goodRows[0]!,
        JSON.stringify({ id: 'x', problem: 'What is 2 + 2?', level: 'L1' }),
      ]),
      /no-answer\.jsonl:2: missing or empty string field "answer"/,
    ));

  void it('dataset row with a huge problem text', () =>
    rejected(
      'hugeproblem',
      dataset('huge.jsonl', [goodRows[0]!, row('huge', 'What is ' + '1 + '.repeat(10_000) + '1?')]),
      /huge\.jsonl:2: problem text is 40010 characters \(limit 20000\)/,
    ));

  void it('dataset row whose prompt does not fit the model context', () =>
    rejected(
      'longprompt',
      dataset('long.jsonl', [goodRows[0]!, row('long', 'What is ' + '1 + '.repeat(1000) + '1?')]),
      /long\.jsonl: row 2 \(id long\): its prompt is \d+ tokens, but .* has a context of \d+ positions and rollout\.maxResponseTokens is 24/,
    ));
});

void describe('a broken model.onnx', () => {
  async function brokenOnnxDir(): Promise<string> {
    const { onnxDir } = await fixtureModel();
    const broken = join(dir, 'broken-onnx');
    cpSync(onnxDir, broken, { recursive: true });
    // The first 4 KiB of a real graph: what a killed copy or a failed download leaves.
    copyFileSync(join(onnxDir, 'model.onnx'), join(broken, 'model.onnx'));
    truncateSync(join(broken, 'model.onnx'), 4096);
    return broken;
  }

  void it('makes `tirflow serve` exit 2 with one message', async () => {
    const broken = await brokenOnnxDir();
    const result = await runTirflow(['serve', '--model', broken, '--port', String(await freePort())]);
    assertBadInput(result, /model\.onnx cannot be loaded by onnxruntime/);
  });

  void it('fails the generate activity non-retryably and writes nothing', async () => {
    const broken = await brokenOnnxDir();
    const storeRoot = join(dir, 'generate-store');
    const store = new LocalDirArtifactStore(storeRoot);
    const { generate } = createGenerationActivities({ store });
    const input: GenerateInput = {
      runId: 'broken-onnx',
      step: 1,
      shard: 0,
      turn: 0,
      policy: {
        version: 0,
        hfDir: { store: 'filesystem', path: harness().model },
        onnxDir: { store: 'filesystem', path: broken },
      },
      rollout: testRolloutSettings({ sampling: { temperature: 1, topP: 1, maxResponseTokens: 8 } }),
      seed: 1,
      prompts: { datasetPath: validation, rowIndices: [0] },
    };
    const drop = (): void => undefined;
    const env = new MockActivityEnvironment(undefined, {
      logger: { log: drop, trace: drop, debug: drop, info: drop, warn: drop, error: drop },
    });
    await assert.rejects(
      env.run<[GenerateInput], GenerateResult, typeof generate>(generate, input),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure, String(err));
        assert.equal(err.nonRetryable, true);
        assert.equal(err.type, 'ModelFolderInvalid');
        assert.match(err.message, /broken-onnx\/model\.onnx cannot be loaded by onnxruntime/);
        return true;
      },
    );
    assert.deepEqual(await snapshotTree(storeRoot), {});
  });
});

void describe('tool budget 0 is valid: a run without tool use', () => {
  void it('never offers the model the code stop', () => {
    const trajectory = startTrajectory({
      step: 1,
      rowIndex: 0,
      sampleIndex: 0,
      promptId: 'a',
      problem: 'What is 1 + 1?',
      referenceAnswer: '2',
      level: 'L1',
      seed: 1,
      promptTokenIds: [1, 2, 3],
    });
    const settings = { template: 'tool' as const, maxResponseTokens: 16, observationTokenCap: 256 };
    assert.ok(nextSegment(trajectory, { ...settings, toolBudget: 1 })!.stop.includes('```python'));
    assert.ok(!nextSegment(trajectory, { ...settings, toolBudget: 0 })!.stop.includes('```python'));
  });

  void it('completes a step through the CLI, with no code executed', async () => {
    const runId = uniqueName('budget0');
    const config = runConfig(`${runId}.json`, {
      rollout: { promptsPerStep: 2, samplesPerPrompt: 2, shards: 2, maxResponseTokens: 24, toolBudget: 0 },
    });
    const result = await train(config, runId);
    assert.equal(result.exitCode, 0, String(result.all));
    assert.match(String(result.stdout), new RegExp(`Run ${runId} completed after 1 steps`));
    const root = harness().worker.artifactRoot;
    const store = new LocalDirArtifactStore(root);
    const files = Object.keys(await snapshotTree(join(root, artifactKeys.runRoot(runId))));
    assert.deepEqual(
      files.filter((f) => f.endsWith('.executed.jsonl')),
      [],
      'no sandbox execution at all',
    );
    for (const shard of [0, 1]) {
      const scored = await readJsonl<Trajectory>(store, artifactKeys.scored(runId, 1, shard));
      assert.equal(scored.length, 2);
      assert.ok(scored.every((t) => t.toolCalls === 0 && t.executions.length === 0));
    }
    const metrics = readFileSync(join(root, artifactKeys.metrics(runId)), 'utf8')
      .trim()
      .split('\n');
    assert.equal(metrics.length, 1);
    assert.deepEqual(await tempEntries(root), []);
  });
});
