/**
 * `prepareRun` (rollout queue): the run's permanent inputs checked once, before any step —
 * the model folder exists, datasets parse, the weights are whole, the tokenizer loads and every
 * prompt fits the model's context — and the config stored next to the run's artifacts. Every
 * problem found here is non-retryable (retrying cannot fix it) and found before anything is
 * written, so a rejected run leaves nothing in the artifact store.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { PrepareRunInput, PrepareRunResult } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { RunConfig } from '../../common/config';
import type { ArtifactStore } from '../artifactStore';
import { loadTaskRows } from '../dataset';
import { loadModelTokenizer } from '../generation/modelFolder';
import { checkModelFiles, checkPromptsFit, checkWeights } from './modelCheck';

export async function prepareRun(store: ArtifactStore, input: PrepareRunInput): Promise<PrepareRunResult> {
  checkModelFiles(input.modelDir);
  const loaded = await Promise.all(
    input.datasets.map(async (path) => ({ path, rows: await loadTaskRows(path) })),
  );
  const config = input.config as Partial<RunConfig> | null;
  if (!config?.rollout) {
    throw ApplicationFailure.nonRetryable('prepareRun needs the validated run config', 'BadPrepareInput');
  }
  await checkWeights(input.modelDir);
  const tokenizer = await loadModelTokenizer(input.modelDir);
  await checkPromptsFit(input.modelDir, tokenizer, loaded, {
    template: config.template ?? 'tool',
    maxResponseTokens: config.rollout.maxResponseTokens,
  });
  const datasets = loaded.map(({ path, rows }) => {
    const levels: Record<string, number> = {};
    for (const row of rows) levels[row.level] = (levels[row.level] ?? 0) + 1;
    return { path, rows: rows.length, levels };
  });
  const configKey = artifactKeys.runConfig(input.runId);
  if (!(await store.exists(configKey))) {
    await store.write(configKey, JSON.stringify(input.config, null, 2) + '\n');
  }
  return { datasets };
}
