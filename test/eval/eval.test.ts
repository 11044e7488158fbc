/**
 * `tirflow eval` as a user runs it, on the real dev server with real workers: benchmarks by short
 * name, --json, results filed and written, two evaluations started together never colliding, a
 * run's base policy (RUN:0) evaluated with the run's stored config (a ZeroRL run keeps its noTool
 * template), and a tool-budget sweep of the shipped tiny model whose numbers are recorded as they
 * come (only the budget's own bound is asserted, never the curve's shape).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../../activities/projectPaths';
import { taskQueues, type EvaluationRecord, type EvaluationSummary } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { runTirflow } from '../support/cli';
import { useRunHarness } from '../support/runHarness';
import { uniqueName } from '../support/temporal';
import { tinyRunConfig } from '../support/tinyRun';

const harness = useRunHarness();

function evalCli(args: string[]) {
  const { temporal, worker } = harness();
  return runTirflow([
    'eval',
    ...args,
    '--address',
    temporal.address,
    '--artifacts',
    worker.artifactRoot,
    '--json',
  ]);
}

function record(result: Awaited<ReturnType<typeof runTirflow>>): EvaluationRecord {
  assert.equal(result.exitCode, 0, String(result.all));
  return JSON.parse(String(result.stdout)) as EvaluationRecord;
}

void describe('tirflow eval', () => {
  void it('evaluates a model folder on benchmarks by short name; two at once never collide', async () => {
    const args = [
      '--policy',
      harness().model,
      '--benchmarks',
      'aime24,math500',
      '--prompts',
      '3',
      '--max-response-tokens',
      '12',
    ];
    const [a, b] = await Promise.all([evalCli(args), evalCli(args)]);
    const first = record(a);
    const second = record(b);
    assert.notEqual(first.evaluationId, second.evaluationId);
    assert.match(first.evaluationId, /^eval-\d{8}-\d{6}-[0-9a-f]{6}$/);
    for (const rec of [first, second]) {
      assert.deepEqual(
        rec.results.map((r) => [r.set, r.summary.prompts, r.summary.samplesPerPrompt]),
        [
          ['aime24', 3, 1],
          ['math500', 3, 1],
        ],
      );
      assert.equal(rec.configSource, 'built-in defaults');
      assert.equal(rec.policy.runId, null);
      const written = join(harness().worker.artifactRoot, 'reports', rec.evaluationId, 'results.json');
      assert.deepEqual(JSON.parse(readFileSync(written, 'utf8')), rec);
    }
    // The same seeded sample, greedy: the same numbers both times.
    assert.deepEqual(
      first.results.map((r) => r.summary),
      second.results.map((r) => r.summary),
    );
    assert.match(String(a.stderr), /prompts \(\d+ skipped as too long\) \| sets done/);
  });

  void it("RUN:0 is the run's base model, evaluated with the run's stored config and filed with the run", async () => {
    const { worker, model } = harness();
    const runId = 'eval-zerorl-run';
    const stored = tinyRunConfig(model, { template: 'noTool' });
    await mkdir(join(worker.artifactRoot, 'runs', runId), { recursive: true });
    await writeFile(join(worker.artifactRoot, artifactKeys.runConfig(runId)), JSON.stringify(stored));
    const rec = record(await evalCli(['--policy', `${runId}:0`, '--benchmarks', 'amc23', '--prompts', '2']));
    assert.equal(rec.template, 'noTool', 'a ZeroRL run is evaluated without the tool');
    assert.equal(rec.configSource, `stored config of run ${runId}`);
    assert.deepEqual(rec.policy, { ref: `${runId}:0`, version: 0, runId });
    assert.equal(rec.maxResponseTokens, stored.rollout.maxResponseTokens);
    const filed = join(worker.artifactRoot, artifactKeys.runEvaluationRecord(runId, rec.evaluationId));
    assert.deepEqual(JSON.parse(readFileSync(filed, 'utf8')), rec);

    const missing = await evalCli(['--policy', 'no-such-run:0', '--benchmarks', 'amc23']);
    assert.equal(missing.exitCode, 2, String(missing.all));
    assert.match(String(missing.stderr), /run no-such-run has no stored config/);
    const unknown = await evalCli(['--policy', model, '--benchmarks', 'aime2024']);
    assert.equal(unknown.exitCode, 2);
    assert.match(
      String(unknown.stderr),
      /"aime2024" is neither a shipped benchmark \(aime24, aime25, amc23, math500\)/,
    );
  });

  void it('a training run evaluates its configured benchmarks every E steps; the report charts each', async () => {
    const { temporal, worker, model } = harness();
    const runId = uniqueName('bench-run');
    const config = tinyRunConfig(model, {
      steps: 1,
      evaluation: { every: 1, prompts: 2, benchmarks: ['aime24', { name: 'amc23', prompts: 2 }] },
    });
    await temporal.client.workflow.execute('trainingRun', {
      taskQueue: taskQueues.workflows,
      workflowId: runId,
      args: [{ runId, config }],
    });
    for (const step of [0, 1]) {
      const aime = JSON.parse(
        readFileSync(join(worker.artifactRoot, artifactKeys.evaluation(runId, step, 'aime24')), 'utf8'),
      ) as EvaluationSummary;
      assert.equal(aime.prompts, 30, 'a shipped benchmark is evaluated whole');
      const amc = JSON.parse(
        readFileSync(join(worker.artifactRoot, artifactKeys.evaluation(runId, step, 'amc23')), 'utf8'),
      ) as EvaluationSummary;
      assert.equal(amc.prompts, 2, "the config's sample");
    }
    const report = await runTirflow(['report', runId, '--artifacts', worker.artifactRoot]);
    assert.equal(report.exitCode, 0, String(report.all));
    const dir = join(worker.artifactRoot, 'reports', runId);
    assert.ok(existsSync(join(dir, 'benchmark-aime24.png')) && existsSync(join(dir, 'benchmark-amc23.png')));
  });

  void it('a tool-budget sweep of the tiny model: one table and chart, numbers recorded as they come', async (t) => {
    const result = await evalCli([
      '--policy',
      join(projectRoot, 'models', 'tiny-base'),
      '--benchmarks',
      'validation,math500',
      '--prompts',
      '6',
      '--tool-budget',
      '0,1,2',
    ]);
    const rec = record(result);
    assert.deepEqual(rec.toolBudgets, [0, 1, 2]);
    assert.equal(rec.results.length, 6);
    for (const r of rec.results) {
      assert.equal(r.unit, `${r.set}-tools-${r.toolBudget}`);
      // The budget bounds executions per response; budget 0 runs no code at all.
      assert.ok(
        r.summary.codeCallsPerResponse! <= r.toolBudget,
        `${r.unit}: ${r.summary.codeCallsPerResponse}`,
      );
      t.diagnostic(
        `${r.unit}: accuracy ${r.summary.accuracy.toFixed(3)} | code calls/response ${r.summary.codeCallsPerResponse!.toFixed(2)} | ` +
          `response tokens ${r.summary.meanResponseTokens.toFixed(1)} | skipped ${r.summary.promptsSkipped}`,
      );
    }
    const out = join(harness().worker.artifactRoot, 'reports', rec.evaluationId);
    assert.ok(existsSync(join(out, 'tool-budget-sweep.png')));
    assert.match(
      readFileSync(join(out, 'results.md'), 'utf8'),
      /\| max executions \| validation acc\. \| math500 acc\. \|/,
    );
  });
});
