/**
 * Sample masks: which scored trajectories the paper's code leaves out of the loss
 * (openrlhf_async_pipline, env/math/math_tir_filter_fn_utils.py `exp_filter_fn`, applied with
 * --use_filter_sample --use_loss_mask). `score` records the reasons on each trajectory
 * (ScoredTrajectory.maskReasons); the trainer leaves a trajectory out when the config's switch
 * for one of its reasons is on (trainer.maskTruncated / maskRepetitive / maskUnpairedCode). A
 * masked trajectory still counts in its group's baseline: it was sampled.
 *
 * - truncated: the response hit the token limit (stopReason 'length'). The reference masks
 *   truncated responses that are not correct; a truncated response never passes tirflow's format
 *   check, so that is every one.
 * - repetitive: the response repeats itself and failed the format check (the reference's "void"
 *   filter: a loop that never reached an answer teaches nothing; a repetitive response that did
 *   answer keeps its reward). "Repeats itself" is the reference's rule: a character repeatedness
 *   above 0.2 (the share of the response's substrings that occur again, below) or more than 60%
 *   of its word 3-grams repeated (its repetition_penalty; words split at whitespace here, at
 *   XLM-R word pieces there).
 * - unpairedCode: the ```python blocks and ```output blocks do not pair up (a block never closed,
 *   a block written after the tool budget was spent and never run, an output the model wrote
 *   itself) and the response passed the format check (the reference's shortcut and code-valid
 *   filters; its exception for responses whose every execution failed is not kept).
 */
import type { SampleMaskReason, Trajectory } from '../../common/trajectory';
import { CODE_OPEN } from '../../common/toolProtocol';

export const REPEATEDNESS_LIMIT = 0.2;
export const REPEATED_TRIGRAM_LIMIT = 0.6;
const OUTPUT_OPEN = '```output';

/**
 * The share of the text's substrings (counted with multiplicity) that are not new: 1 - D / (n(n+1)/2)
 * with D the number of distinct substrings. Equal to the reference's `repeatness` (the sum of
 * the suffix array's LCP array over n(n+1)/2), computed with a suffix automaton in O(n).
 */
export function repeatedness(text: string): number {
  const chars = Array.from(text);
  const n = chars.length;
  if (n <= 1) return 0;
  // Suffix automaton: len, link and transitions per state; D = sum over states of len - len(link).
  const len = [0];
  const link = [-1];
  const next: Map<string, number>[] = [new Map<string, number>()];
  let last = 0;
  for (const ch of chars) {
    const current = len.length;
    len.push(len[last]! + 1);
    link.push(0);
    next.push(new Map<string, number>());
    let p = last;
    while (p !== -1 && !next[p]!.has(ch)) {
      next[p]!.set(ch, current);
      p = link[p]!;
    }
    if (p !== -1) {
      const q = next[p]!.get(ch)!;
      if (len[p]! + 1 === len[q]) {
        link[current] = q;
      } else {
        const clone = len.length;
        len.push(len[p]! + 1);
        link.push(link[q]!);
        next.push(new Map(next[q]));
        while (p !== -1 && next[p]!.get(ch) === q) {
          next[p]!.set(ch, clone);
          p = link[p]!;
        }
        link[q] = clone;
        link[current] = clone;
      }
    }
    last = current;
  }
  let distinct = 0;
  for (let state = 1; state < len.length; state++) distinct += len[state]! - len[link[state]!]!;
  return 1 - distinct / ((n * (n + 1)) / 2);
}

/** The share of the text's word 3-grams that repeat an earlier one (0 under three words). */
export function repeatedTrigramShare(text: string): number {
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  if (words.length < 3) return 0;
  const seen = new Set<string>();
  const total = words.length - 2;
  for (let i = 0; i < total; i++) seen.add(`${words[i]} ${words[i + 1]} ${words[i + 2]}`);
  return 1 - seen.size / total;
}

export function repeatsItself(text: string): boolean {
  return repeatedTrigramShare(text) > REPEATED_TRIGRAM_LIMIT || repeatedness(text) > REPEATEDNESS_LIMIT;
}

function occurrences(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) count += 1;
  return count;
}

/** Every opened ```python block is closed and followed by exactly one ```output block. */
export function codeBlocksPaired(text: string): boolean {
  const opened = occurrences(text, CODE_OPEN);
  const closed = (text.match(/```python[\s\S]*?```/g) ?? []).length;
  const outputs = occurrences(text, OUTPUT_OPEN);
  return opened === closed && closed === outputs;
}

/** The sample-mask reasons of one scored trajectory; `formatOk` = it passed the format check. */
export function sampleMaskReasons(trajectory: Trajectory, formatOk: boolean): SampleMaskReason[] {
  const reasons: SampleMaskReason[] = [];
  if (trajectory.stopReason === 'length') reasons.push('truncated');
  if (!formatOk && repeatsItself(trajectory.responseText)) reasons.push('repetitive');
  if (formatOk && !codeBlocksPaired(trajectory.responseText)) reasons.push('unpairedCode');
  return reasons;
}
