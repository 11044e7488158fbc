import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveSeed, splitIntoShards, stepPromptIndices } from '../../common/schedule';

test('step prompts are deterministic and walk the dataset once per epoch', () => {
  const size = 10;
  const perStep = 4;
  const first = [1, 2, 3, 4, 5].flatMap((step) => stepPromptIndices(7, step, perStep, size));
  assert.deepEqual(
    first,
    [1, 2, 3, 4, 5].flatMap((step) => stepPromptIndices(7, step, perStep, size)),
  );
  // Steps 1-2 and half of step 3 cover epoch 0: every row exactly once.
  assert.deepEqual(
    [...first.slice(0, size)].sort((a, b) => a - b),
    [...Array(size).keys()],
  );
  assert.deepEqual(
    [...first.slice(size, 2 * size)].sort((a, b) => a - b),
    [...Array(size).keys()],
  );
  assert.notDeepEqual(first.slice(0, size), first.slice(size, 2 * size), 'each epoch is reshuffled');
  assert.notDeepEqual(stepPromptIndices(8, 1, perStep, size), stepPromptIndices(7, 1, perStep, size));
});

test('shards split prompts into equal contiguous parts', () => {
  assert.deepEqual(splitIntoShards([1, 2, 3, 4, 5, 6], 3), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  assert.deepEqual(splitIntoShards([1, 2, 3], 2), [[1, 2], [3]]);
  assert.deepEqual(splitIntoShards([1], 3), [[1]]);
});

test('derived seeds differ by every part and stay 32-bit', () => {
  const seeds = new Set([deriveSeed(1, 1, 0), deriveSeed(1, 1, 1), deriveSeed(1, 2, 0), deriveSeed(2, 1, 0)]);
  assert.equal(seeds.size, 4);
  for (const seed of seeds) assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32);
});
