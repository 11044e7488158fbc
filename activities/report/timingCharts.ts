/**
 * Where each step's time went (StepTimings in metrics.jsonl): the wall seconds of its rollout,
 * update and evaluation, and the time its activities waited in task queues. Drawn only for runs
 * that recorded timings (runs before them have none).
 */
import type { StepTimings } from '../../common/activityContracts';
import type { ChartSpec } from './charts';
import type { RunData } from './runData';
import { stackedStepBars } from './stackedStepBars';

/** The parts of a step's wall time, bottom of the stack first. */
export const STEP_TIME_PARTS = [
  { part: 'rollout', color: '#4c78a8', seconds: (t: StepTimings) => t.rolloutS },
  { part: 'update', color: '#f58518', seconds: (t: StepTimings) => t.updateS },
  { part: 'evaluation', color: '#54a24b', seconds: (t: StepTimings) => t.evaluationS },
  {
    part: 'other (recording, waiting)',
    color: '#bab0ac',
    seconds: (t: StepTimings) => Math.max(0, t.stepS - t.rolloutS - t.updateS - t.evaluationS),
  },
] as const;

/** Seconds per part of each step's wall time, one chart row per run. */
export function timingCharts(runs: readonly RunData[]): ChartSpec[] {
  const bars = runs.flatMap((run) =>
    run.steps.flatMap((record) =>
      record.timings
        ? STEP_TIME_PARTS.map(({ part, seconds }, order) => ({
            run: run.label,
            step: record.step,
            part,
            order,
            seconds: seconds(record.timings!),
          }))
        : [],
    ),
  );
  if (bars.length === 0) return [];
  const title = 'Where each step’s time went';
  return [
    {
      id: 'step-timings',
      title,
      caption:
        "Each step's wall seconds from its first rollout activity to its record: rollout (all shards), " +
        'policy update, evaluation, and the rest. In a pipelined run (pipeline.maxStaleness ≥ 1) ' +
        "a step's rollout overlaps the previous step's update, so the parts add up to more than the " +
        'time between two steps. `tirflow status` adds the busy time of generate, execute and score, ' +
        'and the time spent waiting in task queues.',
      spec: stackedStepBars({
        title,
        bars,
        runLabels: runs.map((r) => r.label),
        value: { field: 'seconds', title: 'seconds' },
        colour: {
          field: 'part',
          title: 'part of the step',
          parts: STEP_TIME_PARTS.map((p) => ({ name: p.part, color: p.color })),
        },
      }),
    },
  ];
}
