/**
 * Token sampling from one row of logits: temperature, nucleus (top-p), seeded. Each sequence
 * owns its PRNG, seeded from its request, so its tokens do not depend on which other
 * sequences share the batch.
 */
import { mulberry32 } from '../../common/schedule';
import type { TokenLogprob } from './engine';

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

/** A sampled token and its log-prob under the distribution it was drawn from. */
export interface SampledToken {
  token: number;
  logprob: number;
}

/**
 * exp((logit - max) / temperature) for the row, in the shared scratch buffer, and their sum.
 * `scaled(i)` is the exponent itself: the log of probs[i] without the round trip through exp.
 */
function tempered(
  logits: Float32Array,
  offset: number,
  vocabSize: number,
  temperature: number,
): { probs: Float64Array; total: number; scaled: (i: number) => number } {
  const probs = scratch(vocabSize);
  let max = -Infinity;
  for (let i = 0; i < vocabSize; i++) {
    const v = logits[offset + i]!;
    if (v > max) max = v;
  }
  let total = 0;
  for (let i = 0; i < vocabSize; i++) {
    const p = Math.exp((logits[offset + i]! - max) / temperature);
    probs[i] = p;
    total += p;
  }
  return { probs, total, scaled: (i) => (logits[offset + i]! - max) / temperature };
}

/** Token ids, most probable first, ties broken by id for determinism. */
function byProbability(probs: Float64Array, vocabSize: number): number[] {
  return Array.from({ length: vocabSize }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
}

/** The nucleus: the most probable tokens whose mass first reaches topP of the total (at least one). */
function nucleus(
  order: readonly number[],
  probs: Float64Array,
  limit: number,
): { kept: number; mass: number } {
  let kept = 0;
  let mass = 0;
  while (kept < order.length && (kept === 0 || mass < limit)) mass += probs[order[kept++]!]!;
  return { kept, mass };
}

/**
 * Samples a token id from logits[offset .. offset + vocabSize) and returns it with its
 * behaviour log-prob: under the tempered, nucleus-renormalised distribution it was drawn
 * from, and 0 when greedy (a point mass). Draws exactly one number unless greedy.
 */
export function sampleToken(
  logits: Float32Array,
  offset: number,
  vocabSize: number,
  settings: SamplingSettings,
  random: Random,
): SampledToken {
  if (settings.temperature <= 0) return { token: argmax(logits, offset, vocabSize), logprob: 0 };
  const { probs, total, scaled } = tempered(logits, offset, vocabSize, settings.temperature);
  const u = random();
  if (settings.topP >= 1) {
    const logTotal = Math.log(total);
    let target = u * total;
    for (let i = 0; i < vocabSize; i++) {
      target -= probs[i]!;
      if (target < 0) return { token: i, logprob: scaled(i) - logTotal };
    }
    const fallback = argmax(logits, offset, vocabSize); // rounding left u * total unspent
    return { token: fallback, logprob: scaled(fallback) - logTotal };
  }
  const order = byProbability(probs, vocabSize);
  const { kept, mass } = nucleus(order, probs, settings.topP * total);
  const logMass = Math.log(mass);
  let target = u * mass;
  for (let k = 0; k < kept; k++) {
    target -= probs[order[k]!]!;
    if (target < 0) return { token: order[k]!, logprob: scaled(order[k]!) - logMass };
  }
  return { token: order[0]!, logprob: scaled(order[0]!) - logMass };
}

/**
 * The `count` most probable tokens of the sampling distribution sampleToken draws from, with
 * their log-probs (ties by id): -Infinity for tokens outside the nucleus, and under greedy
 * decoding 0 for the argmax and -Infinity for the rest.
 */
export function topLogprobs(
  logits: Float32Array,
  offset: number,
  vocabSize: number,
  settings: SamplingSettings,
  count: number,
): TokenLogprob[] {
  const n = Math.min(count, vocabSize);
  if (n <= 0) return [];
  if (settings.temperature <= 0) {
    return highestLogits(logits, offset, vocabSize, n).map((tokenId, k) => ({
      tokenId,
      logprob: k === 0 ? 0 : -Infinity,
    }));
  }
  const { probs, total, scaled } = tempered(logits, offset, vocabSize, settings.temperature);
  if (settings.topP >= 1) {
    // Without a nucleus no sort is needed: the most probable tokens are those of highest logit.
    const logTotal = Math.log(total);
    return highestLogits(logits, offset, vocabSize, n).map((tokenId) => ({
      tokenId,
      logprob: scaled(tokenId) - logTotal,
    }));
  }
  const order = byProbability(probs, vocabSize);
  const { kept, mass } = nucleus(order, probs, settings.topP * total);
  const logMass = Math.log(mass);
  return order
    .slice(0, n)
    .map((tokenId, k) => ({ tokenId, logprob: k < kept ? scaled(tokenId) - logMass : -Infinity }));
}

/** The ids of the `n` highest logits, highest first, ties by id: one pass, no sort of the vocabulary. */
function highestLogits(logits: Float32Array, offset: number, vocabSize: number, n: number): number[] {
  const best: number[] = [];
  const value = (id: number): number => logits[offset + id]!;
  for (let id = 0; id < vocabSize; id++) {
    const v = value(id);
    // Ids arrive in increasing order, so a tie with a kept one never displaces it.
    if (best.length === n && v <= value(best[n - 1]!)) continue;
    let at = best.length;
    while (at > 0 && value(best[at - 1]!) < v) at--;
    best.splice(at, 0, id);
    if (best.length > n) best.pop();
  }
  return best;
}
