/**
 * Charts of the policy update's own record (UpdateMetrics in metrics.jsonl): what share of each
 * step's batch the loss saw (dynamic filtering and sample masks), and how far the rollouts were
 * from the trainer's policy (off-policy gap). Each chart is drawn only when a run recorded the
 * quantity: runs recorded before the full update record have neither.
 */
import type { RecordedUpdateMetrics } from '../../common/activityContracts';
import type { ChartSpec } from './charts';
import type { RunData } from './runData';
import {
  CHART_HEIGHT as HEIGHT,
  CHART_WIDTH as WIDTH,
  chartConfig as config,
  stackedStepBars,
  VEGA_LITE_SCHEMA as SCHEMA,
} from './stackedStepBars';

/** Where each trajectory of a step went, bottom of the stack first. */
export const BATCH_PARTS = [
  { part: 'trained', color: '#4c9f70', count: (u: RecordedUpdateMetrics) => u.trajectoriesTrained },
  { part: 'masked: truncated', color: '#e0a458', count: (u: RecordedUpdateMetrics) => u.maskedTruncated },
  { part: 'masked: repetitive', color: '#8e6fb5', count: (u: RecordedUpdateMetrics) => u.maskedRepetitive },
  {
    part: 'masked: unpaired code',
    color: '#d1603d',
    count: (u: RecordedUpdateMetrics) => u.maskedUnpairedCode,
  },
  {
    part: 'group filtered',
    color: '#bbbbbb',
    count: (u: RecordedUpdateMetrics) =>
      u.trajectories === undefined || u.trajectoriesTrained === undefined
        ? undefined
        : u.trajectories -
          u.trajectoriesTrained -
          (u.maskedTruncated ?? 0) -
          (u.maskedRepetitive ?? 0) -
          (u.maskedUnpairedCode ?? 0),
  },
] as const;

function batchChart(runs: readonly RunData[]): ChartSpec | null {
  const bars = runs.flatMap((run) =>
    run.steps.flatMap((record) =>
      BATCH_PARTS.flatMap(({ part, count }, order) => {
        const value = record.update === null ? undefined : count(record.update);
        return value === undefined ? [] : [{ run: run.label, step: record.step, part, order, count: value }];
      }),
    ),
  );
  if (bars.length === 0) return null;
  const title = 'Trajectories in the loss per step';
  return {
    id: 'update-batch',
    title,
    caption:
      "Each step's trajectories by what the update did with them: trained on, left out by a sample " +
      'mask (a trajectory with several reasons counts once per reason), or dropped with its group by ' +
      'dynamic filtering.',
    spec: stackedStepBars({
      title,
      bars,
      runLabels: runs.map((r) => r.label),
      value: { field: 'count', title: 'trajectories' },
      colour: {
        field: 'part',
        title: 'trajectory',
        parts: BATCH_PARTS.map((p) => ({ name: p.part, color: p.color })),
      },
    }),
  };
}

function offPolicyChart(runs: readonly RunData[]): ChartSpec | null {
  const points = runs.flatMap((run) =>
    run.steps.flatMap((record) => {
      const gap = record.update?.logprobGap;
      return gap === undefined || gap === null ? [] : [{ run: run.label, step: record.step, value: gap }];
    }),
  );
  if (points.length === 0) return null;
  const title = 'Engine vs trainer log-prob gap';
  return {
    id: 'update-logprob-gap',
    title,
    caption:
      'Mean |behaviour − trainer| log-prob over model tokens per step: the engine that sampled ' +
      '(another numeric path, possibly an older policy) against the trainer before its update.',
    spec: {
      $schema: SCHEMA,
      title,
      width: WIDTH,
      height: HEIGHT,
      config,
      data: { values: points },
      mark: { type: 'line', point: { size: 24 }, strokeWidth: 2 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'training step', axis: { format: 'd' } },
        y: { field: 'value', type: 'quantitative', title: 'nats per token' },
        color: { field: 'run', type: 'nominal', title: 'run', scale: { domain: runs.map((r) => r.label) } },
      },
    },
  };
}

/** The update charts the runs have data for, in page order. */
export function updateCharts(runs: readonly RunData[]): ChartSpec[] {
  return [batchChart(runs), offPolicyChart(runs)].filter((chart): chart is ChartSpec => chart !== null);
}
