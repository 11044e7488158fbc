/** Checkpoint retention: what it keeps of which policy versions. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retentionPlan } from '../../activities/trainer/retention';

const retention = { keepTrainerState: 2, keepWeightsEvery: 10, keepOnnx: 1 };
const versions = Array.from({ length: 25 }, (_, i) => i); // 0 (base export) .. 24

/** version → the parts retention removes from it. */
function removed(plan: ReturnType<typeof retentionPlan>): Map<number, string[]> {
  const byVersion = new Map<number, string[]>();
  for (const { version, part } of plan)
    byVersion.set(version, [...(byVersion.get(version) ?? []), part].sort());
  return byVersion;
}

test('keeps trainer state for the last N, weights every K plus last and best, ONNX for the last', () => {
  const plan = removed(retentionPlan(versions, { step: 24, retention, inUse: [24] }, 7));
  assert.equal(plan.get(24), undefined, 'the current policy keeps everything');
  assert.deepEqual(plan.get(23), ['hf', 'onnx'], 'second-to-last: trainer state kept');
  assert.deepEqual(plan.get(22), ['hf', 'onnx', 'trainer']);
  assert.deepEqual(plan.get(20), ['onnx', 'trainer'], 'every 10th step keeps its weights');
  assert.deepEqual(plan.get(10), ['onnx', 'trainer']);
  assert.deepEqual(plan.get(7), ['onnx', 'trainer'], 'the best keeps its weights');
  assert.deepEqual(plan.get(0), ['onnx', 'trainer'], 'the base model folder is never deleted');
});

test('never touches versions in use or steps after the recorded one', () => {
  const plan = removed(retentionPlan(versions, { step: 20, retention, inUse: [20, 18, 13] }, null));
  assert.equal(plan.get(18), undefined, 'an in-flight rollout samples from v18');
  assert.equal(plan.get(13), undefined);
  for (const later of [21, 22, 23, 24])
    assert.equal(plan.get(later), undefined, `v${later} is not recorded yet`);
  assert.deepEqual(plan.get(19), ['hf', 'onnx'], 'v19 is among the last two: trainer state kept');
});

test('keepWeightsEvery 0 keeps every step’s weights', () => {
  const plan = retentionPlan(
    versions,
    { step: 24, retention: { ...retention, keepWeightsEvery: 0 }, inUse: [] },
    null,
  );
  assert.ok(plan.every((p) => p.part !== 'hf'));
  assert.ok(plan.some((p) => p.part === 'trainer'));
});
