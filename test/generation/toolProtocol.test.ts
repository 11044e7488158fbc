/**
 * The ZeroTIR tool protocol on crafted token streams: stops split across tokens, a stop at the
 * very end, the tool budget, the observation cap, and the bookkeeping of the action mask, the
 * behaviour log-probs and the policy version of each turn.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ANSWER_CLOSE,
  CODE_OPEN,
  OUTPUT_TOO_LONG,
  appendObservation,
  applySegment,
  extractCode,
  findStop,
  nextSegment,
  recordTurn,
  observationResult,
  renderPrompt,
  startTrajectory,
  type ProtocolSettings,
  type SegmentOutput,
  type Tokenizer,
  storedLogprob,
} from '../../common/toolProtocol';
import type { ExecutionResult, Trajectory } from '../../common/trajectory';

/**
 * A vocabulary tokenizer: ids index into a list of strings; encode is greedy longest match
 * over the vocabulary (every single character is in it), so any text round-trips.
 */
function vocabularyTokenizer(pieces: string[]): Tokenizer & { id: (piece: string) => number } {
  const chars = new Set<string>();
  for (const p of pieces) for (const c of p) chars.add(c);
  for (let c = 32; c < 127; c++) chars.add(String.fromCharCode(c));
  chars.add('\n');
  const vocab = ['<eos>', ...new Set([...pieces, ...chars])];
  const index = new Map(vocab.map((p, i) => [p, i]));
  const byLength = [...vocab.slice(1)].sort((a, b) => b.length - a.length);
  return {
    id: (piece) => {
      const id = index.get(piece);
      if (id === undefined) throw new Error(`not in vocabulary: ${piece}`);
      return id;
    },
    encode: (text) => {
      const ids: number[] = [];
      let at = 0;
      while (at < text.length) {
        const piece = byLength.find((p) => text.startsWith(p, at));
        if (!piece) throw new Error(`cannot encode ${JSON.stringify(text[at])}`);
        ids.push(index.get(piece)!);
        at += piece.length;
      }
      return ids;
    },
    decode: (ids) =>
      ids
        .filter((id) => id !== 0)
        .map((id) => vocab[id]!)
        .join(''),
    eosTokenIds: [0],
  };
}

const tokenizer = vocabularyTokenizer([
  'Let',
  ' me',
  ' ``',
  '`py',
  'thon\nx',
  ' = 6*7',
  '\nprint(x)\n``',
  '`\n',
  '</ans',
  'wer>',
  'User',
  ':',
]);
const settings: ProtocolSettings = {
  template: 'tool',
  toolBudget: 2,
  maxResponseTokens: 200,
  observationTokenCap: 16,
};

function fresh(): Trajectory {
  return startTrajectory({
    step: 1,
    rowIndex: 3,
    sampleIndex: 0,
    promptId: 'q3',
    problem: 'What is 6*7?',
    referenceAnswer: '42',
    level: 'L1',
    seed: 11,
    promptTokenIds: tokenizer.encode(renderPrompt('tool', 'What is 6*7?')),
  });
}

const ids = (...pieces: string[]): number[] => pieces.map((p) => tokenizer.id(p));
/** An engine's output; each token's log-prob is made up but distinct (-(id + 1) / 10), so misalignment shows. */
const out = (tokenIds: number[], finishReason: SegmentOutput['finishReason'] = 'stop'): SegmentOutput => ({
  tokenIds,
  logprobs: tokenIds.map((id) => -(id + 1) / 10),
  finishReason,
});
const sum = (mask: number[]): number => mask.reduce((a, b) => a + b, 0);

function okResult(trajectoryId: string, stdout: string): ExecutionResult {
  return { trajectoryId, status: 'ok', stdout, stderr: '', exitCode: 0, durationMs: 5, truncated: false };
}

describe('prompt templates', () => {
  it('start generation after "Assistant: <think>" and mention python only with the tool', () => {
    const tool = renderPrompt('tool', 'Compute 2+2.');
    const plain = renderPrompt('noTool', 'Compute 2+2.');
    assert.ok(tool.endsWith('Compute 2+2.\nAssistant: <think>'));
    assert.ok(plain.endsWith('Compute 2+2.\nAssistant: <think>'));
    assert.match(tool, /```python/);
    assert.doesNotMatch(plain, /python/i);
    assert.match(plain, /<answer> <\/answer>/);
    assert.match(plain, /\\boxed\{\}/);
  });
});

describe('two-state stop logic', () => {
  it('continues a "```python" split across tokens into a code segment and stops at the closing fence', () => {
    let t = fresh();
    const first = nextSegment(t, settings)!;
    assert.equal(first.kind, 'reasoning');
    assert.ok(
      first.stop.includes(CODE_OPEN) && first.stop.includes(ANSWER_CLOSE) && first.stop.includes('User:'),
    );

    // "```python" arrives as " ``" + "`py" + "thon\nx": the stop completes inside the last token,
    // which also carries the first character of code; the whole token is kept.
    const reasoning = ids('Let', ' me', ' ``', '`py', 'thon\nx');
    t = applySegment(t, first, out(reasoning), tokenizer);
    assert.equal(t.phase, 'active');
    assert.equal(t.stopReason, null);
    assert.deepEqual(t.responseTokenIds, reasoning);

    const code = nextSegment(t, settings)!;
    assert.equal(code.kind, 'code');
    assert.deepEqual(code.stop, ['```']);
    assert.notEqual(code.seed, first.seed, 'each segment samples from its own seed');

    // The closing fence is split too: "...\n``" + "`\n".
    t = applySegment(t, code, out(ids(' = 6*7', '\nprint(x)\n``', '`\n')), tokenizer);
    assert.equal(t.phase, 'awaitingExecution');
    assert.equal(t.stopReason, 'code');
    assert.equal(t.toolCalls, 1);
    assert.equal(t.pendingCode, 'x = 6*7\nprint(x)');
    assert.equal(t.responseText, 'Let me ```python\nx = 6*7\nprint(x)\n```\n');
    assert.equal(sum(t.actionMask), t.responseTokenIds.length);
  });

  it('finishes with "answer" when "</answer>" completes in the very last token', () => {
    let t = fresh();
    const segment = nextSegment(t, settings)!;
    t = applySegment(
      t,
      segment,
      out([...tokenizer.encode(' so 42 <answer> \\boxed{42} '), ...ids('</ans', 'wer>')]),
      tokenizer,
    );
    assert.equal(t.phase, 'finished');
    assert.equal(t.stopReason, 'answer');
    assert.ok(t.responseText.endsWith('</answer>'));
  });

  it('a stop string that lies wholly in earlier text does not stop the new segment', () => {
    assert.equal(findStop('User: hi', ['User:'], 8), null);
    assert.deepEqual(findStop('Us', ['User:'], 0), null);
    assert.deepEqual(
      findStop('say User: x', ['User:'], 6),
      { stop: 'User:', index: 4 },
      'straddles the boundary',
    );
  });

  it('finishes on EOS (kept as a model token) and on length', () => {
    let t = fresh();
    t = applySegment(t, nextSegment(t, settings)!, out([...ids('Let'), 0]), tokenizer);
    assert.equal(t.stopReason, 'eos');
    assert.deepEqual(t.actionMask, [1, 1]);
    let u = fresh();
    u = applySegment(u, nextSegment(u, settings)!, out(ids('Let', ' me'), 'length'), tokenizer);
    assert.equal(u.phase, 'finished');
    assert.equal(u.stopReason, 'length');
  });

  it('removes the code stop once the tool budget is spent', () => {
    const t = { ...fresh(), toolCalls: 2 };
    const segment = nextSegment(t, settings)!;
    assert.equal(segment.kind, 'reasoning');
    assert.ok(!segment.stop.includes(CODE_OPEN));
    // Without the stop, a python block is just text: the segment runs on to its real stop.
    const next = applySegment(
      t,
      segment,
      out([...ids(' ``', '`py', 'thon\nx', ' = 6*7'), ...ids('User', ':')]),
      tokenizer,
    );
    assert.equal(next.phase, 'finished');
    assert.equal(next.stopReason, 'stop');
    assert.equal(next.toolCalls, 2);
    assert.ok(
      !nextSegment({ ...fresh(), toolCalls: 0 }, { ...settings, template: 'noTool' })!.stop.includes(
        CODE_OPEN,
      ),
    );
  });
});

describe('observations', () => {
  function awaiting(): Trajectory {
    let t = fresh();
    t = applySegment(t, nextSegment(t, settings)!, out(ids('Let', ' ``', '`py', 'thon\nx')), tokenizer);
    return applySegment(t, nextSegment(t, settings)!, out(ids(' = 6*7', '\nprint(x)\n``', '`\n')), tokenizer);
  }

  it('appends "\\n```output\\n{result}\\n```\\n" as tool tokens (mask 0) and resumes', () => {
    const t = awaiting();
    const modelTokens = t.responseTokenIds.length;
    const next = appendObservation(t, okResult(t.id, '42\n'), tokenizer, settings);
    const observation = tokenizer.encode('\n```output\n42\n```\n');
    assert.equal(next.phase, 'active');
    assert.equal(next.pendingCode, null);
    assert.deepEqual(next.responseTokenIds.slice(modelTokens), observation);
    assert.deepEqual(
      next.actionMask.slice(modelTokens),
      observation.map(() => 0),
    );
    assert.equal(sum(next.actionMask), modelTokens, 'mask-1 tokens are exactly the model tokens');
    assert.deepEqual(next.executions, [
      { status: 'ok', durationMs: 5, observationTokens: observation.length, truncated: false },
    ]);
    assert.ok(next.responseText.endsWith('```\n\n```output\n42\n```\n'));
    // The next segment is reasoning again, with the code stop while budget remains.
    assert.equal(nextSegment(next, settings)!.kind, 'reasoning');
  });

  it('replaces an output over the token cap with a short message', () => {
    const t = awaiting();
    const next = appendObservation(t, okResult(t.id, '1234567890'.repeat(10)), tokenizer, settings);
    assert.ok(next.responseText.endsWith(`\n\`\`\`output\n${OUTPUT_TOO_LONG}\n\`\`\`\n`));
    assert.equal(next.executions[0]!.truncated, true);
    const atCap = appendObservation(
      t,
      okResult(t.id, 'x'.repeat(settings.observationTokenCap)),
      tokenizer,
      settings,
    );
    assert.equal(atCap.executions[0]!.truncated, false, 'exactly at the cap is kept');
  });

  it('shows the last traceback line of an error, and names timeouts', () => {
    const error: ExecutionResult = {
      trajectoryId: 'a',
      status: 'error',
      stdout: 'partial\n',
      stderr:
        'Traceback (most recent call last):\n  File "<code>", line 1, in <module>\nZeroDivisionError: division by zero\n',
      exitCode: 1,
      durationMs: 3,
      truncated: false,
    };
    assert.equal(observationResult(error), 'partial\nZeroDivisionError: division by zero');
    assert.match(observationResult({ ...error, status: 'timeout', stdout: '', stderr: '' }), /timed out/);
  });

  it('cuts an observation that does not fit the response budget and finishes with length', () => {
    const t = awaiting();
    const tight = { ...settings, maxResponseTokens: t.responseTokenIds.length + 3 };
    const next = appendObservation(t, okResult(t.id, '42'), tokenizer, tight);
    assert.equal(next.responseTokenIds.length, tight.maxResponseTokens);
    assert.equal(next.phase, 'finished');
    assert.equal(next.stopReason, 'length');
    assert.equal(nextSegment({ ...next, phase: 'active' }, tight), null);
  });

  it('extracts the last code block, ignoring the fence line', () => {
    assert.equal(extractCode('a ```python\nprint(1)\n``` b ```python3\ny=2\n```'), 'y=2');
    assert.equal(extractCode('no code'), '');
  });
});

describe('behaviour bookkeeping', () => {
  it('stores behaviour log-probs to 1e-6, as short JSON text', () => {
    const t = fresh();
    const first = ids('Let', ' me');
    const next = applySegment(
      t,
      nextSegment(t, settings)!,
      { ...out(first), logprobs: [-0.1234567890123, -3e-9] },
      tokenizer,
    );
    assert.deepEqual(next.behaviourLogprobs, [-0.123457, -0]);
    assert.equal(JSON.stringify(next.behaviourLogprobs), '[-0.123457,0]');
    assert.equal(storedLogprob(-2.0000004), -2);
  });

  it("keeps one behaviour log-prob per response token: the engine's for model tokens, 0 for tool output", () => {
    let t = fresh();
    const first = ids('Let', ' ``', '`py', 'thon\nx');
    t = applySegment(t, nextSegment(t, settings)!, out(first), tokenizer);
    const code = ids(' = 6*7', '\nprint(x)\n``', '`\n');
    t = applySegment(t, nextSegment(t, settings)!, out(code), tokenizer);
    t = appendObservation(t, okResult(t.id, '42\n'), tokenizer, settings);
    const observation = tokenizer.encode('\n```output\n42\n```\n');
    t = recordTurn(t, 0, { policyVersion: 4, finishMs: 120 });
    const last = ids('Let', '</ans', 'wer>');
    t = applySegment(t, nextSegment(t, settings)!, out(last), tokenizer);
    assert.equal(t.stopReason, 'answer');
    t = recordTurn(t, 1, { policyVersion: 5, finishMs: 80 });
    assert.deepEqual(t.behaviourLogprobs, [
      ...out(first).logprobs,
      ...out(code).logprobs,
      ...observation.map(() => 0),
      ...out(last).logprobs,
    ]);
    assert.equal(t.behaviourLogprobs.length, t.responseTokenIds.length);
    assert.deepEqual(t.turnPolicyVersions, [4, 5]);
    assert.deepEqual(t.turnFinishMs, [120, 80]);
  });

  it('drops a record that does not cover every earlier token instead of misaligning it', () => {
    // An artifact written before the fields existed: no record is started mid-trajectory.
    const legacy = { ...fresh(), responseTokenIds: ids('Let'), actionMask: [1] };
    delete legacy.behaviourLogprobs;
    delete legacy.turnPolicyVersions;
    delete legacy.turnFinishMs;
    const next = applySegment(
      legacy,
      nextSegment(legacy, settings)!,
      out(ids(' me', 'User', ':')),
      tokenizer,
    );
    assert.equal(next.behaviourLogprobs, undefined);
    const legacyTurn = recordTurn(legacy, 1, { policyVersion: 3, finishMs: 9 });
    assert.ok(!('turnPolicyVersions' in legacyTurn) && !('turnFinishMs' in legacyTurn));
    // Tokens appended by hand without their log-probs: the stale record goes.
    const patched = { ...fresh(), responseTokenIds: ids('Let'), actionMask: [1] };
    assert.ok(
      !(
        'behaviourLogprobs' in
        applySegment(patched, nextSegment(patched, settings)!, out(ids(' me')), tokenizer)
      ),
    );
    const skipped = recordTurn(fresh(), 2, { policyVersion: 3, finishMs: 9 });
    assert.ok(
      !('turnPolicyVersions' in skipped) && !('turnFinishMs' in skipped),
      'turns 0 and 1 are missing',
    );
  });

  it('refuses an engine output whose log-probs do not match its tokens', () => {
    const t = fresh();
    assert.throws(
      () =>
        applySegment(t, nextSegment(t, settings)!, { ...out(ids('Let', ' me')), logprobs: [-1] }, tokenizer),
      /1 log-probs for 2 tokens/,
    );
  });
});
