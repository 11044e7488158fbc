/**
 * `prepareRun` (rollout queue): the run's permanent inputs checked once, before any step —
 * datasets parse, the model folder holds weights and a tokenizer — and the config stored next
 * to the run's artifacts. Every problem found here is non-retryable: retrying cannot fix it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { PrepareRunInput, PrepareRunResult } from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import type { ArtifactStore } from '../artifactStore';
import { loadTaskRows } from '../dataset';

const MODEL_FILES = [
  ['config.json', 'the model config'],
  ['tokenizer.json', 'the tokenizer'],
] as const;

export function checkModelFolder(modelDir: string): void {
  if (!existsSync(modelDir)) {
    const hubId = /^[\w.-]+\/[\w.-]+$/.test(modelDir);
    throw ApplicationFailure.nonRetryable(
      hubId
        ? `model ${modelDir} is not a local folder: download it first (huggingface-cli download ${modelDir} --local-dir DIR) and set model: DIR`
        : `model folder not found: ${modelDir}`,
      'ModelMissing',
    );
  }
  for (const [file, what] of MODEL_FILES) {
    if (!existsSync(join(modelDir, file))) {
      throw ApplicationFailure.nonRetryable(
        `model folder ${modelDir} has no ${file} (${what})`,
        'ModelIncomplete',
      );
    }
  }
  const hasWeights = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'].some((f) =>
    existsSync(join(modelDir, f)),
  );
  if (!hasWeights) {
    throw ApplicationFailure.nonRetryable(
      `model folder ${modelDir} has no weights (model.safetensors or pytorch_model.bin)`,
      'ModelIncomplete',
    );
  }
}

export async function prepareRun(store: ArtifactStore, input: PrepareRunInput): Promise<PrepareRunResult> {
  checkModelFolder(input.modelDir);
  const datasets = await Promise.all(
    input.datasets.map(async (path) => {
      const rows = await loadTaskRows(path);
      const levels: Record<string, number> = {};
      for (const row of rows) levels[row.level] = (levels[row.level] ?? 0) + 1;
      return { path, rows: rows.length, levels };
    }),
  );
  const configKey = artifactKeys.runConfig(input.runId);
  if (!(await store.exists(configKey))) {
    await store.write(configKey, JSON.stringify(input.config, null, 2) + '\n');
  }
  return { datasets };
}
