import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkAnswer, findBoxed, lastBoxed } from '../../common/answer';

// Responses start right after "Assistant: <think>", as the engine returns them.
const response = (answer: string, tail = '</answer>'): string =>
  ` I add the numbers.\n</think> <answer> ${answer} ${tail}`;

describe('findBoxed / lastBoxed', () => {
  it('matches nested braces and both \\boxed and \\fbox', () => {
    const text = 'first \\boxed{\\frac{1}{2}} then \\fbox{{x}^{2}} and \\boxed {\\sqrt{\\frac{a}{b}}}';
    assert.deepEqual(
      findBoxed(text).map((s) => s.content),
      ['\\frac{1}{2}', '{x}^{2}', '\\sqrt{\\frac{a}{b}}'],
    );
    assert.equal(lastBoxed(text), '\\sqrt{\\frac{a}{b}}');
  });

  it('treats escaped braces as literal characters', () => {
    assert.equal(lastBoxed('\\boxed{\\{1, 2\\}}'), '\\{1, 2\\}');
  });

  it('keeps an inner box as part of the outer content', () => {
    assert.equal(lastBoxed('\\boxed{\\boxed{3}}'), '\\boxed{3}');
  });

  it('reports an unclosed box and ignores look-alike commands', () => {
    const unclosed = 'so \\boxed{\\frac{1}{2}';
    assert.deepEqual(findBoxed(unclosed), [{ start: 3, end: unclosed.length, content: null }]);
    assert.equal(lastBoxed('\\boxedfoo{3} \\fboxed{4}'), null);
    assert.equal(lastBoxed('\\boxed{1} \\boxed{2'), '1');
  });
});

describe('checkAnswer strict (the paper default)', () => {
  it('accepts one <answer> with a \\boxed{} and returns its content', () => {
    assert.deepEqual(checkAnswer(response('The answer is \\boxed{\\frac{3}{4}}.'), 'answer', 'strict'), {
      ok: true,
      answer: '\\frac{3}{4}',
    });
  });

  it('accepts a response that ends at the "</answer>" stop whether or not the stop string is kept', () => {
    const kept = response('\\boxed{7}');
    const dropped = response('\\boxed{7}', '');
    assert.ok(kept.endsWith('</answer>'));
    assert.deepEqual(checkAnswer(kept, 'answer', 'strict'), { ok: true, answer: '7' });
    assert.deepEqual(checkAnswer(dropped, 'answer', 'strict'), { ok: true, answer: '7' });
  });

  it('rejects an unclosed <answer> unless generation stopped at "</answer>"', () => {
    const check = checkAnswer(response('\\boxed{7}', ''), 'eos', 'strict');
    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.failure, 'unclosedAnswerTag');
  });

  it('rejects a truncated response even when it looks complete', () => {
    const check = checkAnswer(response('\\boxed{7}'), 'length', 'strict');
    assert.equal(!check.ok && check.failure, 'truncated');
  });

  it('rejects a response still waiting on code', () => {
    const check = checkAnswer(' ```python\nprint(1)\n```', 'code', 'strict');
    assert.equal(!check.ok && check.failure, 'unfinished');
    assert.equal(!checkAnswer(response('\\boxed{7}'), null, 'strict').ok, true);
  });

  const failures: [string, string, string][] = [
    ['no answer tag', ' I think it is \\boxed{7}. </think>', 'noAnswerTag'],
    ['no </think>', ' I add them. <answer> \\boxed{7} </answer>', 'thinkNotClosed'],
    [
      'two </think>',
      ' I add them. </think> wait, again. </think> <answer> \\boxed{7} </answer>',
      'multipleThinkCloses',
    ],
    [
      'two answer tags',
      ' </think> <answer> \\boxed{7} </answer> <answer> \\boxed{8} </answer>',
      'multipleAnswerTags',
    ],
    ['a close before the open', ' </answer> </think> <answer> \\boxed{7}', 'unclosedAnswerTag'],
    ['no box in the answer', response('seven'), 'noBoxed'],
    ['a box only outside the answer', ' \\boxed{7} </think> <answer> seven </answer>', 'noBoxed'],
    ['an unclosed box', response('\\boxed{\\frac{1}{2}'), 'unbalancedBraces'],
    ['an empty box', response('\\boxed{ }'), 'emptyBoxed'],
  ];
  for (const [name, text, failure] of failures) {
    it(`rejects ${name} (${failure})`, () => {
      const check = checkAnswer(text, 'answer', 'strict');
      assert.equal(check.ok, false);
      assert.equal(!check.ok && check.failure, failure);
    });
  }

  it('takes the last box when the answer holds several', () => {
    assert.deepEqual(checkAnswer(response('\\boxed{1} or rather \\boxed{2}'), 'answer', 'strict'), {
      ok: true,
      answer: '2',
    });
  });
});

describe('checkAnswer answerTag (strict without counting </think>)', () => {
  // The tiny base's code-using responses, as its rollouts write them: no </think>.
  const codeResponse =
    ' We need 2747 % 63. A short Python program does it.\n```python\nprint(2747 % 63)\n```\n' +
    '```output\n38\n```\nSo the answer is 38. <answer> \\boxed{38} </answer>';

  it('accepts an answer without </think>, which strict refuses', () => {
    assert.deepEqual(checkAnswer(codeResponse, 'answer', 'answerTag'), { ok: true, answer: '38' });
    const strict = checkAnswer(codeResponse, 'answer', 'strict');
    assert.equal(!strict.ok && strict.failure, 'thinkNotClosed');
  });

  it('keeps every other strict rule: one answer tag, a box, a finished response', () => {
    const twice = checkAnswer(
      ' <answer> \\boxed{1} </answer> <answer> \\boxed{2} </answer>',
      'answer',
      'answerTag',
    );
    assert.equal(!twice.ok && twice.failure, 'multipleAnswerTags');
    const unboxed = checkAnswer(' </think> <answer> 2 </answer>', 'answer', 'answerTag');
    assert.equal(!unboxed.ok && unboxed.failure, 'noBoxed');
    const cut = checkAnswer(codeResponse, 'length', 'answerTag');
    assert.equal(!cut.ok && cut.failure, 'truncated');
  });
});

describe('checkAnswer loose', () => {
  it('takes the last complete \\boxed{} anywhere, without answer tags', () => {
    assert.deepEqual(checkAnswer(' so \\boxed{1}, no: \\fbox{2}', 'eos', 'loose'), { ok: true, answer: '2' });
  });

  it('still rejects truncation and a missing box', () => {
    assert.equal(!checkAnswer(' \\boxed{1}', 'length', 'loose').ok, true);
    const check = checkAnswer(' </think> <answer> 2 </answer>', 'answer', 'loose');
    assert.equal(!check.ok && check.failure, 'noBoxed');
  });
});
