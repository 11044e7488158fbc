/**
 * The report's evaluation parts, on a synthetic run in a temp store: a chart per benchmark the
 * run evaluated in training, the benchmark table (first → last, prompts skipped as too long), the
 * standalone evaluations `tirflow eval --policy RUN:STEP` filed with the run, and the trends of
 * accuracy, code ratio and response length with the training step (Spearman, p-value).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalDirArtifactStore } from '../../activities/artifactStore';
import { spearmanTest } from '../../activities/report/correlation';
import { writeReport } from '../../activities/report/writeReport';
import type { EvaluationRecord, EvaluationSummary } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { type WrittenRun, writeSyntheticRun } from './syntheticRuns';

const cells = (html: string, id: string): string[][] => {
  const table = new RegExp(`<table id="${id}">([\\s\\S]*?)</table>`).exec(html);
  assert.ok(table, `table #${id}`);
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(table[1]!)![1]!;
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) =>
      c[1]!
        .replace(/<[^>]+>/g, '')
        .replace(/\s+/g, ' ')
        .trim(),
    ),
  );
};

function summary(split: string, accuracy: number, skipped: number): EvaluationSummary {
  return {
    split,
    policyVersion: 0,
    prompts: 40,
    samplesPerPrompt: 1,
    accuracy,
    passAtK: accuracy,
    accuracyByLevel: {},
    codeRatio: 0.5,
    meanResponseTokens: 80,
    toolBudget: 2,
    temperature: 0,
    promptsSkipped: skipped,
    passAt: { '1': accuracy },
    majAtK: accuracy,
    codeCallsPerResponse: 0.7,
    truncationRate: 0,
  };
}

describe('report: benchmarks, standalone evaluations, trends', () => {
  let root: string;
  let run: WrittenRun;
  const record: EvaluationRecord = {
    evaluationId: 'eval-20250101-000000-abcdef',
    policy: { ref: 'tir-bench:8', version: 8, runId: 'tir-bench' },
    configSource: 'stored config of run tir-bench',
    template: 'tool',
    engine: 'onnx',
    samplesPerPrompt: 1,
    temperature: 0,
    maxResponseTokens: 256,
    toolBudgets: [2],
    results: [{ unit: 'aime24', set: 'aime24', toolBudget: 2, summary: summary('aime24', 0.1, 20) }],
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tirflow-report-bench-'));
    run = await writeSyntheticRun(root, { runId: 'tir-bench', template: 'tool', steps: 8, evaluateEvery: 4 });
    const store = new LocalDirArtifactStore(root);
    for (const [step, accuracy] of [
      [0, 0.05],
      [4, 0.15],
      [8, 0.25],
    ] as const)
      await store.write(
        artifactKeys.evaluation('tir-bench', step, 'amc23'),
        JSON.stringify(summary('amc23', accuracy, 12)),
      );
    await store.write(
      artifactKeys.runEvaluationRecord('tir-bench', record.evaluationId),
      JSON.stringify(record),
    );
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('charts each benchmark and lists it, the standalone evaluations and the step trends', async () => {
    const out = join(root, 'out');
    const report = await writeReport({
      store: new LocalDirArtifactStore(root),
      runIds: ['tir-bench'],
      outDir: out,
    });
    assert.ok(existsSync(join(out, 'benchmark-amc23.png')), 'a chart per benchmark');
    assert.deepEqual(
      report.runs[0]!.benchmarks.map((b) => [b.name, b.evaluations.map((e) => e.step)]),
      [['amc23', [0, 4, 8]]],
    );
    const html = await readFile(report.htmlPath, 'utf8');
    assert.deepEqual(cells(html, 'benchmarks'), [
      ['ZeroTIR (tir-bench)', 'amc23', '40', '12', '5.0% → 25.0% (step 0 → 8)'],
    ]);
    const standalone = cells(html, 'standalone');
    assert.deepEqual(standalone[0]!.slice(0, 5), [record.evaluationId, 'aime24', '40', '20', '10.0%']);
    assert.match(html, /stored config of run tir-bench/);

    const steps = run.records.map((r) => r.step);
    const length = spearmanTest(
      steps,
      run.records.map((r) => r.rollout.responseTokens.mean),
    );
    const trends = cells(html, 'trends')[0]!;
    assert.equal(trends[0], 'ZeroTIR (tir-bench)');
    assert.ok(trends[4]!.startsWith(length.rho!.toFixed(3)), `${trends[4]} vs rho ${length.rho}`);
    assert.match(trends[4]!, /\(p (&lt; 0\.0001|0\.\d+)\)/);
  });
});
