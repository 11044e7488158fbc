/**
 * Dynamic filtering, the one TypeScript home of its rule. A group (the samples of one prompt)
 * is kept for training when its mean reward lies strictly inside a band:
 *
 *     low + 1e-6 < mean reward < high - 1e-6
 *
 * This is the rule of the paper's code (openrlhf_async_pipline, ppo_trainer_async.py:
 * `min_reward + 1e-6 < avg_reward < max_reward - 1e-6`): both bounds are exclusive. Its README
 * runs with the band (0.05, 0.8) and its scripts with (0, 0.8). With 0/1 rewards the band (0, 1)
 * keeps exactly the groups whose rewards are not all equal (tirflow's earlier rule).
 *
 * The Python trainer applies the same rule (python/tirflow_py/trainer/batch.py `keeps_group`);
 * test/trainer/filterBandCases.json holds the cases both implementations are tested against.
 * Pure: safe to import from workflows.
 */

export interface FilterBand {
  /** Exclusive lower bound of a kept group's mean reward. */
  low: number;
  /** Exclusive upper bound of a kept group's mean reward. */
  high: number;
}

/** The tiny default: every group that is not all-correct or all-wrong (config `trainer.filterReward*`). */
export const DEFAULT_FILTER_BAND: FilterBand = { low: 0, high: 1 };

/** The slack of the paper's code: a mean within 1e-6 of a bound counts as on it (dropped). */
export const FILTER_BAND_SLACK = 1e-6;

export function keepsGroup(meanReward: number, band: FilterBand): boolean {
  return band.low + FILTER_BAND_SLACK < meanReward && meanReward < band.high - FILTER_BAND_SLACK;
}

export interface GroupCount {
  /** Groups (distinct promptIds). */
  groups: number;
  /** Groups whose mean reward lies in the band (all groups when filtering is off). */
  groupsKept: number;
}

/** How many of the trajectories' groups the band keeps; `band` null = filtering off (all kept). */
export function countKeptGroups(
  trajectories: readonly { promptId: string; reward: number }[],
  band: FilterBand | null,
): GroupCount {
  const sums = new Map<string, { sum: number; count: number }>();
  for (const t of trajectories) {
    const group = sums.get(t.promptId) ?? { sum: 0, count: 0 };
    group.sum += t.reward;
    group.count += 1;
    sums.set(t.promptId, group);
  }
  let groupsKept = 0;
  for (const { sum, count } of sums.values()) {
    if (band === null || keepsGroup(sum / count, band)) groupsKept += 1;
  }
  return { groups: sums.size, groupsKept };
}
