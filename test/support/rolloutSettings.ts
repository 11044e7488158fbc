/** Rollout settings for activity tests: the onnx engine, the tool template, short responses. */
import type { RolloutSettings } from '../../common/rolloutSettings';

export function testRolloutSettings(overrides: Partial<RolloutSettings> = {}): RolloutSettings {
  return {
    engine: { kind: 'onnx', maxBatchSize: 4 },
    template: 'tool',
    sampling: { temperature: 1, topP: 1, maxResponseTokens: 48 },
    toolBudget: 2,
    observationTokenCap: 256,
    samplesPerPrompt: 1,
    sandboxLimits: { timeoutS: 5, memoryMb: 512 },
    formatMode: 'strict',
    ...overrides,
  };
}
