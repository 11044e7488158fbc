/** Sample masks: what each reason names, on hand-made responses. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  codeBlocksPaired,
  repeatedness,
  repeatedTrigramShare,
  repeatsItself,
  sampleMaskReasons,
} from '../../activities/reward/sampleMasks';
import { trajectory } from './trajectories';

/** The reference's measure by brute force: sum of LCPs of adjacent sorted suffixes over n(n+1)/2. */
function bruteRepeatedness(text: string): number {
  const n = text.length;
  if (n <= 1) return 0;
  const suffixes = Array.from({ length: n }, (_, i) => text.slice(i)).sort();
  let lcpSum = 0;
  for (let i = 1; i < n; i++) {
    let k = 0;
    while (k < suffixes[i - 1]!.length && suffixes[i - 1]![k] === suffixes[i]![k]) k += 1;
    lcpSum += k;
  }
  return (2 * lcpSum) / (n * (n + 1));
}

describe('repetition', () => {
  it('measures repeated substrings as the reference does', () => {
    assert.ok(Math.abs(repeatedness('abab') - 0.3) < 1e-12); // 7 distinct of 10 substrings
    assert.equal(repeatedness('a'), 0);
    for (const text of ['mississippi', 'the cat sat on the mat', 'print(3*4)\n```output\n12', 'aaaaaaa']) {
      assert.ok(Math.abs(repeatedness(text) - bruteRepeatedness(text)) < 1e-12, text);
    }
  });

  it('calls a loop repetitive and ordinary reasoning not', () => {
    const loop = ' Let me check again. 3 + 4 = 7.'.repeat(12);
    const reasoning =
      ' The sum of the first ten odd numbers is 1 + 3 + 5 + ... + 19. Pairing the first with the last ' +
      'gives five pairs of 20, so the total is 100, which is also 10 squared.';
    assert.ok(repeatedTrigramShare(loop) > 0.6 && repeatedness(loop) > 0.2);
    assert.equal(repeatsItself(loop), true);
    assert.ok(repeatedTrigramShare(reasoning) < 0.1 && repeatedness(reasoning) < 0.05);
    assert.equal(repeatsItself(reasoning), false);
  });
});

describe('code pairing', () => {
  const ran = ' ```python\nprint(3*4)\n```\n```output\n12\n```\n';
  it('pairs each executed block with its output', () => {
    assert.equal(codeBlocksPaired(' x' + ran + ran + ' </think>'), true);
    assert.equal(codeBlocksPaired(' no code at all'), true);
  });
  it('finds a block never run, an output the model wrote, and a block never closed', () => {
    assert.equal(codeBlocksPaired(ran + ' ```python\nprint(5)\n``` </think>'), false);
    assert.equal(codeBlocksPaired(' ```output\n12\n``` </think>'), false);
    assert.equal(codeBlocksPaired(ran + ' ```python\nprint(5)'), false);
  });
});

describe('sampleMaskReasons', () => {
  const loop = ' Let me check again. 3 + 4 = 7.'.repeat(12);
  it('marks a truncated response', () => {
    assert.deepEqual(sampleMaskReasons(trajectory({ id: 't', stopReason: 'length' }), false), ['truncated']);
  });
  it('marks a repetitive response only when it failed the format check', () => {
    assert.deepEqual(
      sampleMaskReasons(trajectory({ id: 'r', responseText: loop, stopReason: 'eos' }), false),
      ['repetitive'],
    );
    assert.deepEqual(sampleMaskReasons(trajectory({ id: 'r', responseText: loop }), true), []);
  });
  it('marks unpaired code only when the format check passed', () => {
    const unpaired = ' ```output\n7\n``` </think> <answer> \\boxed{7} </answer>';
    assert.deepEqual(sampleMaskReasons(trajectory({ id: 'u', responseText: unpaired }), true), [
      'unpairedCode',
    ]);
    assert.deepEqual(sampleMaskReasons(trajectory({ id: 'u', responseText: unpaired }), false), []);
  });
  it('leaves a plain finished answer unmarked', () => {
    assert.deepEqual(sampleMaskReasons(trajectory({ id: 'ok' }), true), []);
  });
});
