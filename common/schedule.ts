/**
 * Deterministic choices of a run, pure so workflows can make them and a retry or a replay
 * makes them again: which prompts a step trains on, how they split into shards, and the seeds.
 */

/** mulberry32: a small, well-mixed 32-bit PRNG; enough for shuffling prompt order. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes integers into one 32-bit seed (FNV-1a over their bytes): seeds derive from (run, step, shard, ...). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    let v = Math.trunc(part) >>> 0;
    for (let i = 0; i < 4; i++) {
      h ^= v & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
      v >>>= 8;
    }
  }
  return h >>> 0;
}

function permutation(size: number, seed: number): number[] {
  const order = Array.from({ length: size }, (_, i) => i);
  const random = mulberry32(seed);
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * Row indices of the prompts for `step` (1-based): the dataset is walked in epochs, each a
 * fresh seeded permutation, so every row is seen once per epoch.
 */
export function stepPromptIndices(
  runSeed: number,
  step: number,
  promptsPerStep: number,
  datasetSize: number,
): number[] {
  if (datasetSize <= 0) throw new Error('dataset is empty');
  const indices: number[] = [];
  const epochs = new Map<number, number[]>();
  const start = (step - 1) * promptsPerStep;
  for (let k = start; k < start + promptsPerStep; k++) {
    const epoch = Math.floor(k / datasetSize);
    let order = epochs.get(epoch);
    if (!order) {
      order = permutation(datasetSize, deriveSeed(runSeed, 0x5eed, epoch));
      epochs.set(epoch, order);
    }
    indices.push(order[k % datasetSize]!);
  }
  return indices;
}

/** Splits items into `shards` contiguous, equal-as-possible parts (none empty while items remain). */
export function splitIntoShards<T>(items: readonly T[], shards: number): T[][] {
  const parts: T[][] = [];
  const base = Math.floor(items.length / shards);
  const extra = items.length % shards;
  let offset = 0;
  for (let s = 0; s < shards; s++) {
    const size = base + (s < extra ? 1 : 0);
    if (size > 0) parts.push(items.slice(offset, offset + size));
    offset += size;
  }
  return parts;
}

/**
 * Row indices of refill prompts: when dynamic filtering leaves a step short of groups, round r
 * (1-based) of step `step` samples `count` more rows, seeded by (run, step, round) so a replay
 * or a retry samples the same ones, and distinct within the round.
 */
export function refillPromptIndices(
  runSeed: number,
  step: number,
  round: number,
  count: number,
  datasetSize: number,
): number[] {
  if (datasetSize <= 0) throw new Error('dataset is empty');
  const order = permutation(datasetSize, deriveSeed(runSeed, 0x2ef1, step, round));
  return Array.from({ length: count }, (_, i) => order[i % datasetSize]!);
}
