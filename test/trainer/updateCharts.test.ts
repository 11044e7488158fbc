/**
 * The report's update charts (activities/report/updateCharts.ts): drawn from the update record
 * in metrics.jsonl, valid Vega-Lite (rendered to SVG here), and left out for runs recorded before
 * the full record existed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderSvg } from '../../activities/report/render';
import type { RunData } from '../../activities/report/runData';
import { updateCharts } from '../../activities/report/updateCharts';
import {
  UPDATE_METRIC_NAMES,
  type RecordedUpdateMetrics,
  type StepRecord,
  type UpdateMetrics,
} from '../../common/activityContracts';
import { computeStepMetrics } from '../../common/metrics';

function fullUpdate(step: number): UpdateMetrics {
  const zero = Object.fromEntries(UPDATE_METRIC_NAMES.map((name) => [name, 0])) as unknown as UpdateMetrics;
  return {
    ...zero,
    trajectories: 128,
    groups: 16,
    groupsFiltered: 4,
    trajectoriesTrained: 90,
    maskedTruncated: step,
    maskedRepetitive: 1,
    maskedUnpairedCode: 2,
    logprobGap: 0.01 * step,
  };
}

const oldUpdate: RecordedUpdateMetrics = {
  loss: 0.1,
  gradNorm: 1,
  kl: 0,
  clipFraction: 0,
  entropy: 1,
  tokensPerSecond: 900,
  trainedTokens: 6000,
  groupsFiltered: 4,
};

function run(label: string, update: (step: number) => RecordedUpdateMetrics): RunData {
  const steps: StepRecord[] = [1, 2, 3].map((step) => ({
    step,
    policyVersion: step,
    rollout: computeStepMetrics([]),
    update: update(step),
    evaluation: null,
  }));
  return {
    runId: label,
    label,
    template: 'tool',
    steps,
    evaluations: [],
    benchmarks: [],
    standaloneEvaluations: [],
  };
}

test('a run with the full update record gets the batch and log-prob gap charts', async () => {
  const charts = updateCharts([run('new', fullUpdate), run('old', () => oldUpdate)]);
  assert.deepEqual(
    charts.map((c) => c.id),
    ['update-batch', 'update-logprob-gap'],
  );
  const bars = (
    charts[0]!.spec as { data: { values: { run: string; step: number; part: string; count: number }[] } }
  ).data.values;
  // Only the run that recorded them; the filtered groups' trajectories are what is left over.
  assert.ok(bars.every((b) => b.run === 'new'));
  const step2 = Object.fromEntries(bars.filter((b) => b.step === 2).map((b) => [b.part, b.count]));
  assert.deepEqual(step2, {
    trained: 90,
    'masked: truncated': 2,
    'masked: repetitive': 1,
    'masked: unpaired code': 2,
    'group filtered': 128 - 90 - 2 - 1 - 2,
  });
  for (const chart of charts) assert.match(await renderSvg(chart.spec), /<svg/);
});

test('runs recorded before the full update record get no update charts', () => {
  assert.deepEqual(updateCharts([run('old', () => oldUpdate)]), []);
  const noGap = (step: number): UpdateMetrics => ({ ...fullUpdate(step), logprobGap: null });
  assert.deepEqual(
    updateCharts([run('new', noGap)]).map((c) => c.id),
    ['update-batch'],
  );
});
