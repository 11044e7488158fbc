/**
 * The one home of child workflow ids: they name step, shard and evaluation so the Temporal UI
 * reads like the algorithm, and they must be the same on every replay. Pure.
 */
const pad = (n: number): string => String(n).padStart(4, '0');

export const workflowIds = {
  /** A training step's rollout shard: `RUN/step-0003/shard-1`. */
  rolloutShard: (runId: string, step: number, shard: number): string =>
    `${runId}/step-${pad(step)}/shard-${shard}`,
  /** The evaluation of the policy after `step` (0 = the base policy): `RUN/eval-step-0005`. */
  evaluation: (runId: string, step: number): string => `${runId}/eval-step-${pad(step)}`,
  /** One shard of an evaluation. */
  evaluationShard: (runId: string, step: number, shard: number): string =>
    `${runId}/eval-step-${pad(step)}/shard-${shard}`,
  /** The evaluation of one set (a benchmark, at one tool budget): `RUN/eval-step-0005/math500`. */
  evaluationSet: (runId: string, step: number, unit: string): string =>
    `${runId}/eval-step-${pad(step)}/${unit}`,
  /** One shard of a set's evaluation: `RUN/eval-step-0005/math500/shard-3`. */
  evaluationSetShard: (runId: string, step: number, unit: string, shard: number): string =>
    `${runId}/eval-step-${pad(step)}/${unit}/shard-${shard}`,
};
