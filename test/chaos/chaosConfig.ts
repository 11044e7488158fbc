/**
 * The run a chaos test shoots at: small steps on a tiny model, and heartbeat timeouts of
 * seconds, so a killed worker's activity is retried elsewhere in seconds rather than the
 * production minute. Two models:
 *  - `tiny-base` (models/), which really learns but never opens a code block, so its sandbox
 *    worker has nothing to do when it is killed;
 *  - `code-writer` (busyCodeWriter.ts), whose every response runs a busy loop until the
 *    sandbox timeout, so a sandbox kill lands on executions in flight; its samples are all
 *    alike, so dynamic filtering leaves the trainer nothing to learn, but every step is still
 *    checkpointed and exported.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRunConfig, type RunConfig } from '../../common/config';
import { projectRoot } from '../../activities/projectPaths';
import { busyCodeWriter } from './busyCodeWriter';

export const chaosModels = ['tiny-base', 'code-writer'] as const;
export type ChaosModel = (typeof chaosModels)[number];

/** Hugging Face folder of the model (the code writer is made once per content hash). */
export async function chaosModelDir(model: ChaosModel): Promise<string> {
  return model === 'tiny-base' ? join(projectRoot, 'models/tiny-base') : busyCodeWriter();
}

export interface ChaosRunShape {
  steps: number;
  /** Evaluate every N steps (0 = never): puts evaluation child workflows under fire too. */
  evaluationEvery: number;
  /** Continue-as-new after this many steps: the run's history chain is under fire too. */
  stepsPerExecution: number;
  /** `pipeline.maxStaleness`: ≥ 1 overlaps step k+1's rollout with step k's update. */
  maxStaleness?: number;
}

/**
 * The shipped training rows of the levels the tiny base sometimes solves (L1, L2), written into
 * `dir`: groups with mixed rewards survive dynamic filtering, so every step really trains and a
 * killed trainer is caught mid-update rather than mid no-op.
 */
export function writeChaosTasks(dir: string): string {
  const rows = readFileSync(join(projectRoot, 'data/tasks/train.jsonl'), 'utf8').split('\n');
  const path = join(dir, 'train-L1-L2.jsonl');
  writeFileSync(path, rows.filter((line) => /"level":"L[12]"/.test(line)).join('\n') + '\n');
  return path;
}

export function chaosRunConfig(
  shape: ChaosRunShape,
  model: ChaosModel,
  modelDir: string,
  trainRows: string,
): RunConfig {
  // Steps of the tiny base are big enough to outlast a fault or two on an idle machine; the code
  // writer's executions each take the whole sandbox timeout: fewer of them, one turn.
  const rollout =
    model === 'tiny-base'
      ? { promptsPerStep: 16, samplesPerPrompt: 4, shards: 2, maxResponseTokens: 64 }
      : { promptsPerStep: 2, samplesPerPrompt: 2, shards: 2, maxResponseTokens: 48, toolBudget: 1 };
  return parseRunConfig({
    model: modelDir,
    data: { train: trainRows, validation: join(projectRoot, 'data/tasks/validation.jsonl') },
    steps: shape.steps,
    rollout,
    trainer: { device: 'cpu' },
    sandbox: { timeoutS: model === 'tiny-base' ? 2 : 1 },
    evaluation: { every: shape.evaluationEvery, prompts: 4 },
    // Activities heartbeat every 1-2 s and the trainer every 5 s: twice that and a margin for a
    // busy 2-core machine, so only a dead worker misses its heartbeat.
    timeouts: { activityHeartbeatS: 8, trainerHeartbeatS: 15 },
    stepsPerExecution: shape.stepsPerExecution,
    pipeline: { maxStaleness: shape.maxStaleness ?? 0 },
  });
}
