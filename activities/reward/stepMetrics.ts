/** Step metrics over every shard of a step, read from the artifact store (for `recordStep`). */
import { computeStepMetrics, type StepMetrics } from '../../common/metrics';
import type { ScoredTrajectory } from '../../common/trajectory';
import { type ArtifactStore, readJsonl } from '../artifactStore';

/** Reads all shards' scored trajectories and computes the metrics once over all of them
 *  (percentiles and group filtering do not merge from per-shard summaries). */
export async function loadStepMetrics(
  store: ArtifactStore,
  scoredKeys: readonly string[],
): Promise<StepMetrics> {
  const shards = await Promise.all(scoredKeys.map((key) => readJsonl<ScoredTrajectory>(store, key)));
  return computeStepMetrics(shards.flat());
}
