/** The report's step-timing chart: drawn from recorded timings, absent for runs without them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StepRecord } from '../../common/activityContracts';
import { computeStepMetrics } from '../../common/metrics';
import type { RunData } from '../../activities/report/runData';
import { STEP_TIME_PARTS, timingCharts } from '../../activities/report/timingCharts';

function run(label: string, timed: boolean): RunData {
  const steps: StepRecord[] = [1, 2].map((step) => ({
    step,
    policyVersion: step,
    rollout: computeStepMetrics([]),
    update: null,
    evaluation: null,
    ...(timed
      ? {
          timings: {
            stepS: 10 * step,
            rolloutS: 4,
            generateS: 3,
            executeS: 0.5,
            scoreS: 0.2,
            updateS: 3,
            evaluationS: step === 2 ? 2 : 0,
            queueWaitS: 0.1,
          },
        }
      : {}),
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

test('each step’s wall time split into rollout, update, evaluation and the rest', () => {
  const [chart] = timingCharts([run('timed', true), run('old', false)]);
  assert.ok(chart);
  assert.equal(chart.id, 'step-timings');
  const bars = (
    chart.spec as unknown as {
      data: { values: Array<{ run: string; step: number; part: string; seconds: number }> };
    }
  ).data.values;
  assert.ok(
    bars.every((b) => b.run === 'timed'),
    'a run without timings adds no bars',
  );
  const step2 = Object.fromEntries(bars.filter((b) => b.step === 2).map((b) => [b.part, b.seconds]));
  assert.deepEqual(step2, { rollout: 4, update: 3, evaluation: 2, 'other (recording, waiting)': 11 });
  assert.equal(Object.keys(step2).length, STEP_TIME_PARTS.length);
  assert.deepEqual(timingCharts([run('old', false)]), []);
});
