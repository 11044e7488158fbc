/**
 * Step metrics from scored trajectories: the quantities of the paper's scaling law (accuracy,
 * code ratio, response length over steps) and what an operator watches (truncation, format
 * failures, sandbox outcomes, groups lost to dynamic filtering). Pure: safe in workflows.
 *
 * Percentiles do not merge across shards, so compute over all of a step's trajectories at
 * once (concatenate the shards) rather than averaging per-shard metrics.
 */
import type { ExecutionStatus, GradingStatus, ScoredTrajectory } from './trajectory';

export interface LengthStats {
  mean: number;
  /** Nearest-rank 90th percentile. */
  p90: number;
}

export interface StepMetrics {
  trajectories: number;
  rewardMean: number;
  /** Share graded 'correct' (equals rewardMean while no penalties are configured). */
  accuracy: number;
  /** Share of responses with at least one executed code block: the paper's code ratio. */
  codeRatio: number;
  meanToolCalls: number;
  /** Sandbox outcomes over every execution of the step. */
  executions: Record<ExecutionStatus, number>;
  /** Model-generated tokens per response (actionMask 1): what the policy is trained on. */
  responseTokens: LengthStats;
  /** All response tokens, tool output included: what fills the context window. */
  totalResponseTokens: LengthStats;
  /** Share stopped by the token limit (stopReason 'length'). */
  truncationRate: number;
  /** Share failing the format check (gradingStatus 'format'; truncated responses included). */
  formatFailureRate: number;
  gradingStatus: Partial<Record<GradingStatus, number>>;
  /** Prompts in the step (trajectories grouped by promptId). */
  groups: number;
  /** Groups whose rewards are all equal: zero advantage, dropped by dynamic filtering. */
  groupsDropped: number;
  accuracyByLevel: Record<string, number>;
}

const share = (count: number, total: number): number => (total === 0 ? 0 : count / total);

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Nearest-rank percentile (the smallest value with at least q of the data at or below it). */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

function lengthStats(values: readonly number[]): LengthStats {
  return { mean: mean(values), p90: percentile(values, 0.9) };
}

/** Counts per key, in first-seen order. */
function countBy<K extends string>(keys: readonly K[]): Partial<Record<K, number>> {
  const counts: Partial<Record<K, number>> = {};
  for (const key of keys) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/** Metrics of one step (or evaluation) over all its scored trajectories. Empty input gives zeros. */
export function computeStepMetrics(trajectories: readonly ScoredTrajectory[]): StepMetrics {
  const n = trajectories.length;
  const correct = (t: ScoredTrajectory): boolean => t.gradingStatus === 'correct';

  const executions: Record<ExecutionStatus, number> = { ok: 0, error: 0, timeout: 0, memory: 0, killed: 0 };
  for (const t of trajectories) for (const e of t.executions) executions[e.status] += 1;

  const promptGroups = groupBy(trajectories, (t) => t.promptId);
  let groupsDropped = 0;
  for (const group of promptGroups.values()) {
    if (group.every((t) => t.reward === group[0]!.reward)) groupsDropped += 1;
  }

  const accuracyByLevel: Record<string, number> = {};
  const levelled = trajectories.filter((t) => t.level !== ''); // '': the dataset has no levels
  for (const [level, group] of [...groupBy(levelled, (t) => t.level)].sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    accuracyByLevel[level] = share(group.filter(correct).length, group.length);
  }

  return {
    trajectories: n,
    rewardMean: mean(trajectories.map((t) => t.reward)),
    accuracy: share(trajectories.filter(correct).length, n),
    codeRatio: share(trajectories.filter((t) => t.executions.length >= 1).length, n),
    meanToolCalls: mean(trajectories.map((t) => t.toolCalls)),
    executions,
    responseTokens: lengthStats(trajectories.map((t) => t.actionMask.reduce((a, b) => a + b, 0))),
    totalResponseTokens: lengthStats(trajectories.map((t) => t.responseTokenIds.length)),
    truncationRate: share(trajectories.filter((t) => t.stopReason === 'length').length, n),
    formatFailureRate: share(trajectories.filter((t) => t.gradingStatus === 'format').length, n),
    gradingStatus: countBy(trajectories.map((t) => t.gradingStatus)),
    groups: promptGroups.size,
    groupsDropped,
    accuracyByLevel,
  };
}

/** One human line per step, nanoGPT style: the numbers a researcher watches. */
export function formatStepMetrics(step: number, m: StepMetrics): string {
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  return (
    `step ${step}: reward ${m.rewardMean.toFixed(3)} acc ${pct(m.accuracy)} code ${pct(m.codeRatio)} ` +
    `tools ${m.meanToolCalls.toFixed(2)} len ${m.responseTokens.mean.toFixed(0)}/p90 ${m.responseTokens.p90} ` +
    `trunc ${pct(m.truncationRate)} fmt-fail ${pct(m.formatFailureRate)} dropped ${m.groupsDropped}/${m.groups}`
  );
}
