/**
 * The report's charts as Vega-Lite specs, one per quantity of the paper's scaling law. Every
 * run is drawn on the same axes and keeps its color in every chart (one color domain: the run
 * labels in command-line order). Pure: data in, spec out; rendering lives in render.ts.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { EvaluationRecord, StepRecord } from '../../common/activityContracts';
import type { ExecutionStatus } from '../../common/trajectory';
import type { RunData } from './runData';
import {
  CHART_HEIGHT as HEIGHT,
  CHART_WIDTH as WIDTH,
  chartConfig as baseConfig,
  stackedStepBars,
  VEGA_LITE_SCHEMA as SCHEMA,
} from './stackedStepBars';
import { timingCharts } from './timingCharts';
import { updateCharts } from './updateCharts';

export interface ChartSpec {
  /** File stem of the PNG and the HTML element id: `code-ratio` → code-ratio.png. */
  id: string;
  title: string;
  /** One sentence under the chart: what it shows, and what is missing from it. */
  caption: string;
  spec: TopLevelSpec;
}

/** Whole-step ticks 0..last at a 1-2-5 spacing, at most ~10 of them (Vega alone puts ticks at half steps). */
export function stepTicks(lastStep: number): number[] {
  let spacing = 1;
  for (let decade = 1; lastStep / spacing > 10; decade *= 10) {
    spacing = [1, 2, 5, 10].map((m) => m * decade).find((s) => lastStep / s <= 10) ?? 10 * decade;
  }
  const ticks: number[] = [];
  for (let step = 0; step <= lastStep; step += spacing) ticks.push(step);
  return ticks;
}

const lastStepOf = (runs: readonly RunData[]): number =>
  Math.max(1, ...runs.flatMap((r) => [...r.steps.map((s) => s.step), ...r.evaluations.map((e) => e.step)]));

/** The same step axis, 0..last step of any run, in every chart. */
function stepAxis(runs: readonly RunData[]) {
  const last = lastStepOf(runs);
  return {
    field: 'step',
    type: 'quantitative' as const,
    title: 'training step',
    scale: { domain: [0, last], nice: false },
    axis: { values: stepTicks(last), format: 'd' },
  };
}

function runColor(runs: readonly RunData[]) {
  return {
    field: 'run',
    type: 'nominal',
    title: 'run',
    scale: { domain: runs.map((r) => r.label) },
  } as const;
}

interface StepPoint {
  run: string;
  step: number;
  value: number;
}

/** One line per run of a per-step quantity. */
function stepLineChart(
  runs: readonly RunData[],
  points: StepPoint[],
  options: { id: string; title: string; caption: string; yTitle: string; share: boolean },
): ChartSpec {
  return {
    id: options.id,
    title: options.title,
    caption: options.caption,
    spec: {
      $schema: SCHEMA,
      title: options.title,
      width: WIDTH,
      height: HEIGHT,
      config: baseConfig,
      data: { values: points },
      mark: { type: 'line', point: { size: 24 }, strokeWidth: 2 },
      encoding: {
        x: stepAxis(runs),
        y: {
          field: 'value',
          type: 'quantitative',
          title: options.yTitle,
          ...(options.share ? { scale: { domain: [0, 1] }, axis: { format: '.0%' } } : {}),
        },
        color: runColor(runs),
      },
    },
  };
}

function trainingSeries(runs: readonly RunData[], value: (record: StepRecord) => number): StepPoint[] {
  return runs.flatMap((run) =>
    run.steps.map((record) => ({ run: run.label, step: record.step, value: value(record) })),
  );
}

/** A chart-sized message in place of a chart with nothing to draw. */
function messageChart(id: string, title: string, caption: string, message: string): ChartSpec {
  return {
    id,
    title,
    caption,
    spec: {
      $schema: SCHEMA,
      title,
      width: WIDTH,
      height: HEIGHT,
      config: baseConfig,
      data: { values: [{ message }] },
      mark: { type: 'text', fontSize: 18, color: '#666' },
      encoding: { text: { field: 'message', type: 'nominal' } },
    },
  };
}

function validationChart(runs: readonly RunData[]): ChartSpec {
  const id = 'validation-accuracy';
  const title = 'Validation accuracy';
  const missing = runs.filter((r) => r.evaluations.length === 0).map((r) => r.label);
  const note = missing.length > 0 ? ` No evaluations for ${missing.join(', ')}.` : '';
  const caption = `Accuracy on the validation split at each evaluation; step 0 is the base policy before training.${note}`;
  if (missing.length === runs.length) return messageChart(id, title, caption, 'no evaluations');
  const points = runs.flatMap((run) =>
    run.evaluations.map((e) => ({ run: run.label, step: e.step, value: e.summary.accuracy })),
  );
  return stepLineChart(runs, points, { id, title, caption, yTitle: 'validation accuracy', share: true });
}

/** One chart per benchmark evaluated in training (evaluation.benchmarks): accuracy per evaluation. */
function benchmarkCharts(runs: readonly RunData[]): ChartSpec[] {
  const names = [...new Set(runs.flatMap((r) => r.benchmarks.map((b) => b.name)))].sort();
  return names.map((name) => {
    const points = runs.flatMap((run) =>
      (run.benchmarks.find((b) => b.name === name)?.evaluations ?? []).map((e) => ({
        run: run.label,
        step: e.step,
        value: e.summary.accuracy,
      })),
    );
    const last = runs.flatMap((r) => r.benchmarks.find((b) => b.name === name)?.evaluations.at(-1) ?? []);
    const skipped = Math.max(0, ...last.map((e) => e.summary.promptsSkipped ?? 0));
    const note =
      skipped > 0
        ? ` ${skipped} of ${last[0]!.summary.prompts} prompts do not fit the model's context: skipped, counted wrong.`
        : '';
    return stepLineChart(runs, points, {
      id: `benchmark-${name}`,
      title: `Benchmark: ${name}`,
      caption: `Accuracy on ${name} at each evaluation (greedy unless the run samples k > 1: avg@k).${note}`,
      yTitle: `${name} accuracy`,
      share: true,
    });
  });
}

const EXECUTION_STATUSES: { status: ExecutionStatus; color: string }[] = [
  { status: 'ok', color: '#4c9f70' },
  { status: 'error', color: '#d1603d' },
  { status: 'timeout', color: '#e0a458' },
  { status: 'memory', color: '#8e6fb5' },
  { status: 'killed', color: '#555555' },
];

function executionChart(runs: readonly RunData[]): ChartSpec {
  const id = 'execution-status';
  const title = 'Sandbox outcomes per step';
  const bars = runs.flatMap((run) =>
    run.steps.flatMap((record) =>
      EXECUTION_STATUSES.map(({ status }, order) => ({
        run: run.label,
        step: record.step,
        status,
        order,
        count: record.rollout.executions[status] ?? 0,
      })),
    ),
  );
  const idle = runs.filter((run) =>
    run.steps.every((r) => Object.values(r.rollout.executions).every((n) => n === 0)),
  );
  const note = idle.length > 0 ? ` No code executed by ${idle.map((r) => r.label).join(', ')}.` : '';
  const caption = `Executions of model-written code per training step, stacked by sandbox outcome, one panel per run.${note}`;
  if (idle.length === runs.length) return messageChart(id, title, caption, 'no code executed');
  return {
    id,
    title,
    caption,
    spec: stackedStepBars({
      title,
      bars,
      runLabels: runs.map((r) => r.label),
      value: { field: 'count', title: 'executions' },
      colour: {
        field: 'status',
        title: 'outcome',
        parts: EXECUTION_STATUSES.map((e) => ({ name: e.status, color: e.color })),
      },
      independentY: true,
    }),
  };
}

/** Every chart of the report, in page order. */
export function reportCharts(runs: readonly RunData[]): ChartSpec[] {
  return [
    stepLineChart(
      runs,
      trainingSeries(runs, (r) => r.rollout.codeRatio),
      {
        id: 'code-ratio',
        title: 'Code ratio',
        caption: 'Share of training responses that executed at least one code block, per step.',
        yTitle: 'code ratio',
        share: true,
      },
    ),
    stepLineChart(
      runs,
      trainingSeries(runs, (r) => r.rollout.responseTokens.mean),
      {
        id: 'response-length',
        title: 'Mean response length',
        caption: 'Mean model-generated tokens per training response (tool output excluded), per step.',
        yTitle: 'tokens',
        share: false,
      },
    ),
    stepLineChart(
      runs,
      trainingSeries(runs, (r) => r.rollout.accuracy),
      {
        id: 'training-accuracy',
        title: 'Training accuracy',
        caption: 'Share of training responses graded correct, per step.',
        yTitle: 'training accuracy',
        share: true,
      },
    ),
    validationChart(runs),
    ...benchmarkCharts(runs),
    executionChart(runs),
    ...updateCharts(runs),
    ...timingCharts(runs),
  ];
}

/**
 * The tool-budget sweep of a standalone evaluation: accuracy, code calls per response and
 * response length against the maximum number of executions, one line per benchmark.
 */
export function toolBudgetSweepChart(record: EvaluationRecord): ChartSpec {
  const k = record.samplesPerPrompt;
  const accuracy = k === 1 ? 'accuracy (greedy)' : `avg@${k}`;
  const metrics = [accuracy, 'code calls / response', 'response tokens'];
  const points = record.results.flatMap((r) => [
    { benchmark: r.set, budget: r.toolBudget, metric: accuracy, value: r.summary.accuracy },
    {
      benchmark: r.set,
      budget: r.toolBudget,
      metric: metrics[1],
      value: r.summary.codeCallsPerResponse ?? 0,
    },
    { benchmark: r.set, budget: r.toolBudget, metric: metrics[2], value: r.summary.meanResponseTokens },
  ]);
  const title = `Tool-budget sweep: ${record.policy.ref}`;
  return {
    id: 'tool-budget-sweep',
    title,
    caption:
      'Accuracy, executed code blocks per response and mean response length (model tokens) against the ' +
      'maximum number of code executions allowed per response, one line per benchmark.',
    spec: {
      $schema: SCHEMA,
      title,
      config: baseConfig,
      data: { values: points },
      facet: { column: { field: 'metric', type: 'nominal', title: null, sort: metrics } },
      resolve: { scale: { y: 'independent' } },
      spec: {
        width: 240,
        height: HEIGHT,
        mark: { type: 'line', point: { size: 30 }, strokeWidth: 2 },
        encoding: {
          x: {
            field: 'budget',
            type: 'quantitative',
            title: 'max executions per response',
            axis: { values: record.toolBudgets, format: 'd' },
          },
          y: { field: 'value', type: 'quantitative', title: null },
          color: { field: 'benchmark', type: 'nominal', title: 'benchmark' },
        },
      },
    },
  };
}
