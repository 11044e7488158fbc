/**
 * Token sampling from one row of logits: temperature, nucleus (top-p), seeded. Each sequence
 * owns its PRNG, seeded from its request, so its tokens do not depend on which other
 * sequences share the batch.
 */
import { mulberry32 } from '../../common/schedule';

export interface SamplingSettings {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 keeps the whole vocabulary. */
  topP: number;
}

export type Random = () => number;

export function seededRandom(seed: number): Random {
  return mulberry32(seed);
}

/** One probability buffer reused by every call (sampling runs on one thread, one row at a time). */
let probsBuffer = new Float64Array(0);

function scratch(size: number): Float64Array {
  if (probsBuffer.length < size) probsBuffer = new Float64Array(size);
  return probsBuffer;
}

function argmax(logits: Float32Array, offset: number, size: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < size; i++) {
    const v = logits[offset + i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** Samples a token id from logits[offset .. offset + vocabSize). Draws exactly one number unless greedy. */
export function sampleToken(
  logits: Float32Array,
  offset: number,
  vocabSize: number,
  settings: SamplingSettings,
  random: Random,
): number {
  if (settings.temperature <= 0) return argmax(logits, offset, vocabSize);
  const probs = scratch(vocabSize);
  let max = -Infinity;
  for (let i = 0; i < vocabSize; i++) {
    const v = logits[offset + i]!;
    if (v > max) max = v;
  }
  let total = 0;
  for (let i = 0; i < vocabSize; i++) {
    const p = Math.exp((logits[offset + i]! - max) / settings.temperature);
    probs[i] = p;
    total += p;
  }
  const u = random();
  if (settings.topP >= 1) {
    let target = u * total;
    for (let i = 0; i < vocabSize; i++) {
      target -= probs[i]!;
      if (target < 0) return i;
    }
    return argmax(logits, offset, vocabSize);
  }
  // Nucleus: the most probable tokens whose mass reaches topP, ties broken by id for determinism.
  const order = Array.from({ length: vocabSize }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
  const limit = settings.topP * total;
  let kept = 0;
  let mass = 0;
  while (kept < vocabSize && (kept === 0 || mass < limit)) mass += probs[order[kept++]!]!;
  let target = u * mass;
  for (let k = 0; k < kept; k++) {
    target -= probs[order[k]!]!;
    if (target < 0) return order[k]!;
  }
  return order[0]!;
}
