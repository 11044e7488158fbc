/**
 * `pruneCheckpoints` (trainer queue): checkpoint retention. Every step writes weights (hf/),
 * full trainer state (trainer/: optimizer, RNG, critic) and an ONNX export (onnx/); a 30-step
 * tiny run kept 855 MB, a 7B run would keep terabytes. After step N is recorded this keeps:
 *   trainer/  for the last `keepTrainerState` policies (a restarted trainer resumes from them);
 *   hf/       every `keepWeightsEvery` steps, plus the last and the best by validation accuracy;
 *   onnx/     for the last `keepOnnx` policies;
 * and everything of the versions in `inUse` (the current policy, one being evaluated, those
 * in-flight rollouts sample from). meta.json always stays: it is what makes a step's update
 * exactly-once. A folder is renamed to a temp name before it is deleted, so a crash mid-delete
 * never leaves a half folder under a name a reader trusts.
 */
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  PruneCheckpointsInput,
  PruneCheckpointsResult,
  StepRecord,
} from '../../common/activityContracts';
import { artifactKeys } from '../../common/artifactKeys';
import { readJsonl, type ArtifactStore } from '../artifactStore';

type Part = 'hf' | 'trainer' | 'onnx';

/** Which parts of which checkpoint versions retention removes (pure; tested on its own). */
export function retentionPlan(
  versions: readonly number[],
  input: Pick<PruneCheckpointsInput, 'step' | 'retention' | 'inUse'>,
  bestVersion: number | null,
): Array<{ version: number; part: Part }> {
  const { retention, step } = input;
  const inUse = new Set(input.inUse);
  const recorded = [...versions].filter((v) => v <= step).sort((a, b) => a - b);
  const lastN = (n: number): Set<number> => new Set(recorded.slice(-n));
  const keepState = lastN(retention.keepTrainerState);
  const keepOnnx = lastN(retention.keepOnnx);
  const latest = recorded.at(-1);
  const keepWeights = (v: number): boolean =>
    retention.keepWeightsEvery === 0 ||
    v % retention.keepWeightsEvery === 0 ||
    v === latest ||
    v === bestVersion;
  const plan: Array<{ version: number; part: Part }> = [];
  for (const version of recorded) {
    if (inUse.has(version)) continue;
    if (!keepState.has(version)) plan.push({ version, part: 'trainer' });
    if (!keepOnnx.has(version)) plan.push({ version, part: 'onnx' });
    // Version 0 is the configured base model: its folder is not ours to delete.
    if (version > 0 && !keepWeights(version)) plan.push({ version, part: 'hf' });
  }
  return plan;
}

async function sizeOf(path: string): Promise<number> {
  const info = await stat(path).catch(() => null);
  if (!info) return 0;
  if (!info.isDirectory()) return info.size;
  const entries = await readdir(path, { withFileTypes: true });
  const sizes = await Promise.all(entries.map((e) => sizeOf(join(path, e.name))));
  return sizes.reduce((a, b) => a + b, 0);
}

/** The policy version with the best validation accuracy so far (the latest on ties). */
async function bestVersion(store: ArtifactStore, runId: string): Promise<number | null> {
  const key = artifactKeys.metrics(runId);
  if (!(await store.exists(key))) return null;
  let best: { version: number; accuracy: number } | null = null;
  for (const record of await readJsonl<StepRecord>(store, key)) {
    const accuracy = record.evaluation?.accuracy;
    if (accuracy === undefined) continue;
    if (!best || accuracy >= best.accuracy) best = { version: record.policyVersion, accuracy };
  }
  return best?.version ?? null;
}

export async function pruneCheckpoints(
  store: ArtifactStore,
  input: PruneCheckpointsInput,
): Promise<PruneCheckpointsResult> {
  const root = artifactKeys.checkpointsRoot(input.runId);
  const versions: number[] = [];
  const dir = store.pathOf(root);
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const match = /^step-(\d+)$/.exec(entry.name);
    if (entry.isDirectory() && match) versions.push(Number(match[1]));
  }
  const plan = retentionPlan(versions, input, await bestVersion(store, input.runId));
  let freedBytes = 0;
  const removed: string[] = [];
  for (const { version, part } of plan) {
    const key = `${artifactKeys.checkpoint(input.runId, version)}/${part}`;
    const path = store.pathOf(key);
    const size = await sizeOf(path);
    if (size === 0 && !(await store.exists(key))) continue; // already gone (a retried prune)
    const doomed = `${path}.tmp-prune-${process.pid}`;
    await rename(path, doomed);
    await rm(doomed, { recursive: true, force: true });
    freedBytes += size;
    removed.push(key);
  }
  return { freedBytes, removed };
}
