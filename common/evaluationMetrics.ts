/**
 * The field's evaluation statistics over k samples per prompt. Pure.
 *
 *   avg@k   mean correctness over all samples (= accuracy when greedy, k = 1);
 *   pass@j  the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models
 *           Trained on Code"): with n samples of which c are correct,
 *           pass@j = 1 - C(n-c, j) / C(n, j), averaged over prompts, for each j ≤ n;
 *   maj@k   majority vote over the extracted answers of a prompt's k samples, answers grouped by
 *           equivalence (the grader decides), correct when the most voted group is.
 */

/**
 * Unbiased pass@k of one prompt with n samples, c of them correct: the chance that k samples
 * drawn without replacement include a correct one. Computed as 1 - Π_{i=n-c+1..n} (1 - k/i),
 * which never forms the (huge) binomials.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!(Number.isInteger(n) && Number.isInteger(c) && Number.isInteger(k)) || n < 1 || k < 1 || k > n)
    throw new Error(`passAtK needs integers 1 ≤ k ≤ n, got n=${n} k=${k}`);
  if (c < 0 || c > n) throw new Error(`passAtK: c=${c} correct of n=${n} samples`);
  if (n - c < k) return 1;
  let allWrong = 1;
  for (let i = n - c + 1; i <= n; i += 1) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

/** The k of pass@k a summary reports for n samples: 1, 2, 4, … below n, and n itself. */
export function passAtKValues(n: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k < n; k *= 2) ks.push(k);
  ks.push(n);
  return ks;
}

/** Mean pass@k over prompts, each given as (samples, correct); prompts with fewer than k samples are an error. */
export function meanPassAtK(prompts: readonly { samples: number; correct: number }[], k: number): number {
  if (prompts.length === 0) return 0;
  return prompts.reduce((sum, p) => sum + passAtK(p.samples, p.correct, k), 0) / prompts.length;
}

export interface Vote {
  /** The extracted final answer; null when the response had none (it does not vote). */
  answer: string | null;
  correct: boolean;
}

/**
 * The majority vote of one prompt's samples. `equivalent(a, b)` says whether two distinct answer
 * texts are the same answer; groups are closed under it (transitively). The group with most votes
 * wins; a tie goes to the group voted first. Returns whether the winner is correct (false when no
 * sample has an answer).
 */
export function majorityCorrect(
  votes: readonly Vote[],
  equivalent: (a: string, b: string) => boolean,
): boolean {
  const distinct = [...new Set(votes.flatMap((v) => (v.answer === null ? [] : [v.answer])))];
  if (distinct.length === 0) return false;
  const parent = distinct.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i]!)));
  for (let i = 0; i < distinct.length; i += 1)
    for (let j = i + 1; j < distinct.length; j += 1)
      if (equivalent(distinct[i]!, distinct[j]!)) parent[root(j)] = root(i);
  const indexOf = new Map(distinct.map((answer, i) => [answer, i]));
  const groups = new Map<number, { votes: number; first: number; correct: boolean }>();
  votes.forEach((vote, order) => {
    if (vote.answer === null) return;
    const group = root(indexOf.get(vote.answer)!);
    const seen = groups.get(group);
    if (seen) seen.votes += 1;
    else groups.set(group, { votes: 1, first: order, correct: vote.correct });
  });
  let best: { votes: number; first: number; correct: boolean } | null = null;
  for (const group of groups.values())
    if (best === null || group.votes > best.votes || (group.votes === best.votes && group.first < best.first))
      best = group;
  return best?.correct ?? false;
}

/** Distinct answer pairs of one prompt's votes that need an equivalence check, in a stable order. */
export function answerPairs(votes: readonly Vote[]): [string, string][] {
  const distinct = [...new Set(votes.flatMap((v) => (v.answer === null ? [] : [v.answer])))];
  const pairs: [string, string][] = [];
  for (let i = 0; i < distinct.length; i += 1)
    for (let j = i + 1; j < distinct.length; j += 1) pairs.push([distinct[i]!, distinct[j]!]);
  return pairs;
}
