/**
 * The one home of artifact-store key layout. Keys are '/'-separated relative paths,
 * derived only from (run, step, shard, turn) so that a retried activity finds the same key.
 * Pure: safe to import from workflows.
 */

const pad = (n: number, width = 4): string => String(n).padStart(width, '0');

export const artifactKeys = {
  runRoot: (runId: string): string => `runs/${runId}`,
  runConfig: (runId: string): string => `runs/${runId}/config.json`,
  metrics: (runId: string): string => `runs/${runId}/metrics.jsonl`,
  stepRoot: (runId: string, step: number): string => `runs/${runId}/steps/${pad(step)}`,
  /** Trajectories after `generate` of turn `turn` (turn 0 starts from the prompts). */
  generated: (runId: string, step: number, shard: number, turn: number): string =>
    `runs/${runId}/steps/${pad(step)}/shards/${pad(shard, 3)}/turn-${pad(turn, 2)}.generated.jsonl`,
  /** Execution results for the code pending after turn `turn`. */
  executed: (runId: string, step: number, shard: number, turn: number): string =>
    `runs/${runId}/steps/${pad(step)}/shards/${pad(shard, 3)}/turn-${pad(turn, 2)}.executed.jsonl`,
  /** Finished trajectories of a shard with rewards. */
  scored: (runId: string, step: number, shard: number): string =>
    `runs/${runId}/steps/${pad(step)}/shards/${pad(shard, 3)}/scored.jsonl`,
  /** Which Temporal run chains a run id belongs to (a run id names one run forever). */
  runIdentity: (runId: string): string => `runs/${runId}/run.json`,
  checkpointsRoot: (runId: string): string => `runs/${runId}/checkpoints`,
  /** Trainer checkpoint directory of the policy produced by step `step`. */
  checkpoint: (runId: string, step: number): string => `runs/${runId}/checkpoints/step-${pad(step)}`,
  /** Evaluation results of the policy after step `step` on a split or benchmark (`math500-tools-4` in a sweep). */
  evaluation: (runId: string, step: number, split: string): string =>
    `runs/${runId}/eval/step-${pad(step)}-${split}.json`,
  /** A standalone evaluation's (`tirflow eval`) settings and results, under its own id. */
  evaluationRecord: (evaluationId: string): string => `runs/${evaluationId}/evaluation.json`,
  /** The same record filed with the run whose policy it evaluated, for that run's report. */
  runEvaluationRecord: (runId: string, evaluationId: string): string =>
    `runs/${runId}/evaluations/${evaluationId}.json`,
};
