/** A run config small enough for tests: 2 prompts × 2 samples per step, short responses. */
import { join } from 'node:path';
import { parseRunConfig, type RunConfig } from '../../common/config';
import { projectRoot } from '../../activities/projectPaths';

export function tinyRunConfig(modelDir: string, overrides: Record<string, unknown> = {}): RunConfig {
  return parseRunConfig({
    model: modelDir,
    data: {
      train: join(projectRoot, 'data/tasks/train.jsonl'),
      validation: join(projectRoot, 'data/tasks/validation.jsonl'),
    },
    steps: 2,
    rollout: { promptsPerStep: 2, samplesPerPrompt: 2, shards: 2, maxResponseTokens: 24 },
    trainer: { learningRate: 1e-3, device: 'cpu' },
    evaluation: { every: 0 },
    ...overrides,
  });
}
