/**
 * The paper's findings, checked over seeds: for each seed a ZeroTIR run and its ZeroRL baseline
 * (same model, data and steps), how far code use and hard-level validation accuracy moved, how
 * training accuracy tracked code use, and how far the tool run ends above the baseline on the
 * hard levels; then the mean and spread over seeds, and whether each finding holds in every seed.
 * It also completes the paper's picture: training accuracy, code ratio and response length
 * against the training step, each as Spearman's rho with its p-value.
 * Pure: the numbers come from RunData read out of the artifact store.
 *
 * The paper states these trends, never a threshold: every threshold here is the demo's target
 * (what `npm run demo` must show on the tiny model), and is printed as such.
 */
import { HARD_LEVELS } from '../../data/levels';
import { type RankCorrelationTest, spearmanTest } from './correlation';
import { type RunData, type RunEvaluation, ReportInputError } from './runData';

/** The demo's targets: what `npm run demo` must show on the tiny model (the paper states no thresholds). */
export const SCALING_LAW_TARGETS = {
  /** Code ratio of the last training step's rollouts. */
  finalCodeRatio: 0.6,
  /** Rise of the hard levels' validation accuracy, base policy → last evaluation. */
  hardAccuracyGain: 0.2,
  /** Spearman correlation of training accuracy with code ratio, over steps. */
  accuracyCodeSpearman: 0.5,
  /** ZeroTIR's final hard-level validation accuracy minus ZeroRL's. */
  hardMarginOverBaseline: 0.15,
  /** A quantity "rises with training" when its Spearman rho with the step is positive at this two-sided p. */
  trendPValue: 0.05,
} as const;

/** Spearman's rho of each quantity with the training step, over the run's steps. */
export interface StepTrends {
  accuracy: RankCorrelationTest;
  codeRatio: RankCorrelationTest;
  responseLength: RankCorrelationTest;
}

export interface SeedOutcome {
  tool: string;
  baseline: string | null;
  steps: number;
  codeRatio: { first: number; last: number };
  responseTokens: { first: number; last: number };
  /** Mean of the hard levels' validation accuracies (each level weighs the same). */
  hardAccuracy: { first: number; last: number };
  accuracyCodeSpearman: number | null;
  /** Two-sided p-value of accuracyCodeSpearman. */
  accuracyCodePValue: number | null;
  /** Training accuracy, code ratio and response length against the step. */
  trends: StepTrends;
  baselineHardAccuracy: number | null;
  hardMarginOverBaseline: number | null;
}

/** Runs the findings cannot be computed from (the CLI exits 2, as for any report input). */
export class ScalingLawInputError extends ReportInputError {
  override name = 'ScalingLawInputError';
}

/** Mean accuracy over the hard levels of one evaluation; null when it has none of them. */
export function hardLevelAccuracy(evaluation: RunEvaluation): number | null {
  const values = HARD_LEVELS.map((level) => evaluation.summary.accuracyByLevel[level]).filter(
    (v): v is number => v !== undefined,
  );
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

function requireHardAccuracy(run: RunData, evaluation: RunEvaluation | undefined): number {
  const value = evaluation === undefined ? null : hardLevelAccuracy(evaluation);
  if (value === null)
    throw new ScalingLawInputError(`run ${run.runId} has no hard-level validation accuracy`);
  return value;
}

export function seedOutcome(tool: RunData, baseline: RunData | null): SeedOutcome {
  if (tool.template !== 'tool')
    throw new ScalingLawInputError(`run ${tool.runId} is not a ZeroTIR (tool) run`);
  if (baseline !== null && baseline.template !== 'noTool')
    throw new ScalingLawInputError(`run ${baseline.runId} is not a ZeroRL (noTool) run`);
  const first = tool.steps[0];
  const last = tool.steps.at(-1);
  const base = tool.evaluations[0];
  if (first === undefined || last === undefined || base === undefined || base.step !== 0)
    throw new ScalingLawInputError(`run ${tool.runId} needs training steps and a step-0 evaluation`);
  const hardFirst = requireHardAccuracy(tool, base);
  const hardLast = requireHardAccuracy(tool, tool.evaluations.at(-1));
  const baselineHard = baseline === null ? null : requireHardAccuracy(baseline, baseline.evaluations.at(-1));
  const steps = tool.steps.map((s) => s.step);
  const accuracy = tool.steps.map((s) => s.rollout.accuracy);
  const codeRatio = tool.steps.map((s) => s.rollout.codeRatio);
  const accuracyCode = spearmanTest(accuracy, codeRatio);
  return {
    tool: tool.runId,
    baseline: baseline?.runId ?? null,
    steps: tool.steps.length,
    codeRatio: { first: first.rollout.codeRatio, last: last.rollout.codeRatio },
    responseTokens: { first: first.rollout.responseTokens.mean, last: last.rollout.responseTokens.mean },
    hardAccuracy: { first: hardFirst, last: hardLast },
    accuracyCodeSpearman: accuracyCode.rho,
    accuracyCodePValue: accuracyCode.pValue,
    trends: {
      accuracy: spearmanTest(steps, accuracy),
      codeRatio: spearmanTest(steps, codeRatio),
      responseLength: spearmanTest(
        steps,
        tool.steps.map((s) => s.rollout.responseTokens.mean),
      ),
    },
    baselineHardAccuracy: baselineHard,
    hardMarginOverBaseline: baselineHard === null ? null : hardLast - baselineHard,
  };
}

export interface Spread {
  mean: number;
  /** Sample standard deviation; 0 for a single seed. */
  sd: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread | null {
  if (values.length === 0) return null;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd =
    values.length < 2 ? 0 : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
  return { mean, sd, min: Math.min(...values), max: Math.max(...values), n: values.length };
}

export interface Finding {
  name: string;
  target: string;
  /** How its values read: shares and gains in percent (points), correlations as they are. */
  unit: 'share' | 'correlation';
  /** Per seed; null where the seed cannot tell (no baseline, constant series). */
  perSeed: (number | null)[];
  spread: Spread | null;
  /** True when every seed has a value and every value meets the target. */
  holds: boolean;
}

function finding(
  name: string,
  target: string,
  unit: Finding['unit'],
  values: (number | null)[],
  meets: (v: number, seed: number) => boolean,
): Finding {
  const known = values.filter((v): v is number => v !== null);
  return {
    name,
    target,
    unit,
    perSeed: values,
    spread: spread(known),
    holds: values.length > 0 && values.every((v, seed) => v !== null && meets(v, seed)),
  };
}

/** A trend finding: rho with the step positive at the demo's p-value in every seed. */
function trendFinding(
  name: string,
  outcomes: readonly SeedOutcome[],
  trend: (o: SeedOutcome) => RankCorrelationTest,
): Finding {
  const p = SCALING_LAW_TARGETS.trendPValue;
  return finding(
    name,
    `rho > 0, p < ${p}`,
    'correlation',
    outcomes.map((o) => trend(o).rho),
    (rho, seed) => {
      const pValue = trend(outcomes[seed]!).pValue;
      return rho > 0 && pValue !== null && pValue < p;
    },
  );
}

export function scalingLawFindings(outcomes: readonly SeedOutcome[]): Finding[] {
  const t = SCALING_LAW_TARGETS;
  const pct = (x: number): string => `${Math.round(100 * x)}`;
  return [
    finding(
      'final code ratio',
      `≥ ${pct(t.finalCodeRatio)}%`,
      'share',
      outcomes.map((o) => o.codeRatio.last),
      (v) => v >= t.finalCodeRatio,
    ),
    finding(
      'hard-level validation gain',
      `≥ ${pct(t.hardAccuracyGain)} points`,
      'share',
      outcomes.map((o) => o.hardAccuracy.last - o.hardAccuracy.first),
      (v) => v >= t.hardAccuracyGain,
    ),
    finding(
      'Spearman(accuracy, code ratio)',
      `> ${t.accuracyCodeSpearman}`,
      'correlation',
      outcomes.map((o) => o.accuracyCodeSpearman),
      (v) => v > t.accuracyCodeSpearman,
    ),
    finding(
      'hard-level margin over ZeroRL',
      `≥ ${pct(t.hardMarginOverBaseline)} points`,
      'share',
      outcomes.map((o) => o.hardMarginOverBaseline),
      (v) => v >= t.hardMarginOverBaseline,
    ),
    trendFinding('training accuracy rises with the step', outcomes, (o) => o.trends.accuracy),
    trendFinding('code ratio rises with the step', outcomes, (o) => o.trends.codeRatio),
    trendFinding('response length rises with the step', outcomes, (o) => o.trends.responseLength),
  ];
}

const share = (x: number | null): string => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const points = (x: number | null): string =>
  x === null ? 'n/a' : `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`;
const corr = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(2));

/** A p-value as people read them: 3 significant digits, tiny ones as "< 0.0001". */
export const formatPValue = (p: number | null): string =>
  p === null ? 'n/a' : p < 1e-4 ? '< 0.0001' : p.toPrecision(2);

const rhoWithP = (test: RankCorrelationTest): string =>
  test.rho === null ? 'n/a' : `${test.rho.toFixed(2)} (p ${formatPValue(test.pValue)})`;

function formatSpread(f: Finding): string {
  const s = f.spread;
  if (s === null) return 'n/a';
  const n =
    f.unit === 'correlation'
      ? (x: number): string => x.toFixed(2)
      : (x: number): string => (100 * x).toFixed(1);
  return `${n(s.mean)} ± ${n(s.sd)} (${n(s.min)} to ${n(s.max)})`;
}

/** The seed table and the findings, as Markdown (printed by the CLI, pasted into the README). */
export function scalingLawMarkdown(outcomes: readonly SeedOutcome[]): string {
  const lines = [
    '| ZeroTIR run | steps | code ratio, first → last step | response tokens | hard-level val. acc., step 0 → last | Spearman(acc., code) | ZeroRL hard-level val. acc. | margin (points) |',
    '|---|---|---|---|---|---|---|---|',
    ...outcomes.map(
      (o) =>
        `| ${o.tool} | ${o.steps} | ${share(o.codeRatio.first)} → ${share(o.codeRatio.last)} | ` +
        `${o.responseTokens.first.toFixed(0)} → ${o.responseTokens.last.toFixed(0)} | ` +
        `${share(o.hardAccuracy.first)} → ${share(o.hardAccuracy.last)} | ${corr(o.accuracyCodeSpearman)} | ` +
        `${share(o.baselineHardAccuracy)} | ${points(o.hardMarginOverBaseline)} |`,
    ),
    '',
    "Spearman's rho with the training step (two-sided p-value):",
    '',
    '| ZeroTIR run | training accuracy | code ratio | response length | accuracy with code ratio |',
    '|---|---|---|---|---|',
    ...outcomes.map(
      (o) =>
        `| ${o.tool} | ${rhoWithP(o.trends.accuracy)} | ${rhoWithP(o.trends.codeRatio)} | ` +
        `${rhoWithP(o.trends.responseLength)} | ${rhoWithP({ rho: o.accuracyCodeSpearman, pValue: o.accuracyCodePValue, n: o.steps })} |`,
    ),
    '',
    "The paper reports these findings without thresholds; each target below is the demo's target.",
    '',
    "| finding | the demo's target | mean ± sd (min to max) over seeds | holds in every seed |",
    '|---|---|---|---|',
    ...scalingLawFindings(outcomes).map(
      (f) => `| ${f.name} | ${f.target} | ${formatSpread(f)} | ${f.holds ? 'yes' : 'no'} |`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
