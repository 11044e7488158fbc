/** Streaming detokenization and sampling: the pieces the engine's stop matching and seeding rest on. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { IncrementalDecoder } from '../../activities/generation/incrementalDecoder';
import { loadModelTokenizer, type ModelTokenizer } from '../../activities/generation/modelFolder';
import { sampleToken, seededRandom, topLogprobs } from '../../activities/generation/sampling';
import { fixtureModel } from './fixtureModel';

let tokenizer: ModelTokenizer;

before(async () => {
  tokenizer = await loadModelTokenizer((await fixtureModel()).onnxDir);
});

describe('incremental decoding', () => {
  it('streams the same text as decoding all ids, holding back split UTF-8 characters', () => {
    // The fixture's byte-level BPE has no merges for these characters: each is several byte tokens.
    const text = 'x = 3 → é€😀 ```python\nprint("ok")\n```';
    const ids = tokenizer.encode(text);
    assert.ok(tokenizer.encode('é€😀').length > 3, 'multi-byte characters span several tokens');
    const decoder = new IncrementalDecoder(tokenizer.decode);
    const pieces = ids.map((id) => decoder.push(id));
    assert.equal(pieces.join(''), text);
    assert.equal(decoder.text, tokenizer.decode(ids));
    assert.ok(pieces.includes(''), 'some tokens complete no character on their own');
    assert.ok(!pieces.some((p) => p.includes('\uFFFD')));
  });
});

describe('sampling', () => {
  const logits = Float32Array.from([0.1, 2.5, 2.4, -1, 0.3]);

  it('is greedy at temperature 0 and keeps only the nucleus under top-p', () => {
    assert.equal(sampleToken(logits, 0, 5, { temperature: 0, topP: 1 }, seededRandom(1)).token, 1);
    const random = seededRandom(9);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++)
      seen.add(sampleToken(logits, 0, 5, { temperature: 1, topP: 0.5 }, random).token);
    assert.deepEqual([...seen].sort(), [1, 2], 'the two most likely tokens hold over half the mass');
  });

  it('draws the same tokens from the same seed, and matches the distribution', () => {
    const draw = (seed: number): number[] => {
      const random = seededRandom(seed);
      return Array.from(
        { length: 50 },
        () => sampleToken(logits, 0, 5, { temperature: 1, topP: 1 }, random).token,
      );
    };
    assert.deepEqual(draw(3), draw(3));
    assert.notDeepEqual(draw(3), draw(4));
    const random = seededRandom(5);
    const counts = [0, 0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++)
      counts[sampleToken(logits, 0, 5, { temperature: 1, topP: 1 }, random).token]! += 1;
    const z = [...logits].reduce((a, l) => a + Math.exp(l), 0);
    counts.forEach((c, i) =>
      assert.ok(Math.abs(c / n - Math.exp(logits[i]!) / z) < 0.02, `token ${i}: ${c / n}`),
    );
  });

  // Written out independently of sampling.ts: log softmax(logits / T), renormalised over the nucleus.
  const tempered = (t: number): number[] => {
    const scaled = [...logits].map((l) => l / t);
    const max = Math.max(...scaled);
    const logZ = max + Math.log(scaled.reduce((a, x) => a + Math.exp(x - max), 0));
    return scaled.map((x) => x - logZ);
  };
  const close = (a: number, b: number, what: string): void =>
    assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

  it('returns each token with its log-prob under the distribution it was drawn from', () => {
    for (const temperature of [0.7, 1, 1.3]) {
      const random = seededRandom(21);
      for (let i = 0; i < 50; i++) {
        const { token, logprob } = sampleToken(logits, 0, 5, { temperature, topP: 1 }, random);
        close(logprob, tempered(temperature)[token]!, `T=${temperature} token ${token}`);
      }
    }
    // At T = 0.7 token 1 holds 51% of the mass: top-p 0.6 keeps tokens 1 and 2, renormalised to 1.
    const full = tempered(0.7);
    const nucleusLogZ = Math.log(Math.exp(full[1]!) + Math.exp(full[2]!));
    const random = seededRandom(22);
    const drawn = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const { token, logprob } = sampleToken(logits, 0, 5, { temperature: 0.7, topP: 0.6 }, random);
      close(logprob, full[token]! - nucleusLogZ, `nucleus token ${token}`);
      drawn.add(token);
    }
    assert.deepEqual([...drawn].sort(), [1, 2]);
    // Greedy decoding samples from a point mass.
    assert.deepEqual(sampleToken(logits, 0, 5, { temperature: 0, topP: 1 }, seededRandom(1)), {
      token: 1,
      logprob: 0,
    });
  });

  it('lists the most probable tokens of the sampling distribution, none outside the nucleus', () => {
    const all = topLogprobs(logits, 0, 5, { temperature: 0.7, topP: 1 }, 5);
    assert.deepEqual(
      all.map((t) => t.tokenId),
      [1, 2, 4, 0, 3],
    );
    all.forEach((t) => close(t.logprob, tempered(0.7)[t.tokenId]!, `top token ${t.tokenId}`));
    const nucleus = topLogprobs(logits, 0, 5, { temperature: 0.7, topP: 0.6 }, 3);
    assert.deepEqual(
      nucleus.map((t) => t.tokenId),
      [1, 2, 4],
    );
    assert.ok(nucleus[1]!.logprob > -1, 'the second token is in the nucleus');
    close(Math.exp(nucleus[0]!.logprob) + Math.exp(nucleus[1]!.logprob), 1, 'nucleus mass');
    assert.equal(nucleus[2]!.logprob, -Infinity);
    assert.deepEqual(topLogprobs(logits, 0, 5, { temperature: 0, topP: 1 }, 2), [
      { tokenId: 1, logprob: 0 },
      { tokenId: 2, logprob: -Infinity },
    ]);
  });

  it('picks the same top tokens as a full sort, ties broken by id, on a large row', () => {
    const random = seededRandom(77);
    // Logits rounded to one decimal: many ties among 3000 tokens.
    const row = Float32Array.from({ length: 3000 }, () => Math.round((random() * 8 - 4) * 10) / 10);
    const sorted = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
    for (const count of [1, 5, 20]) {
      for (const settings of [
        { temperature: 0, topP: 1 },
        { temperature: 0.7, topP: 1 },
        { temperature: 1, topP: 0.5 },
      ]) {
        const top = topLogprobs(row, 0, row.length, settings, count);
        assert.deepEqual(
          top.map((t) => t.tokenId),
          sorted.slice(0, count),
          `count ${count}, T=${settings.temperature}, top_p=${settings.topP}`,
        );
        // The first is what greedy decoding would pick; probabilities never rise down the list.
        assert.equal(
          top[0]!.tokenId,
          sampleToken(row, 0, row.length, { temperature: 0, topP: 1 }, random).token,
        );
        top.slice(1).forEach((t, k) => assert.ok(t.logprob <= top[k]!.logprob));
      }
    }
  });
});
