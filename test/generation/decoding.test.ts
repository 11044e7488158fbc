/** Streaming detokenization and sampling: the pieces the engine's stop matching and seeding rest on. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { IncrementalDecoder } from '../../activities/generation/incrementalDecoder';
import { loadModelTokenizer, type ModelTokenizer } from '../../activities/generation/modelFolder';
import { sampleToken, seededRandom } from '../../activities/generation/sampling';
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
    assert.equal(sampleToken(logits, 0, 5, { temperature: 0, topP: 1 }, seededRandom(1)), 1);
    const random = seededRandom(9);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(sampleToken(logits, 0, 5, { temperature: 1, topP: 0.5 }, random));
    assert.deepEqual([...seen].sort(), [1, 2], 'the two most likely tokens hold over half the mass');
  });

  it('draws the same tokens from the same seed, and matches the distribution', () => {
    const draw = (seed: number): number[] => {
      const random = seededRandom(seed);
      return Array.from({ length: 50 }, () => sampleToken(logits, 0, 5, { temperature: 1, topP: 1 }, random));
    };
    assert.deepEqual(draw(3), draw(3));
    assert.notDeepEqual(draw(3), draw(4));
    const random = seededRandom(5);
    const counts = [0, 0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, 0, 5, { temperature: 1, topP: 1 }, random)]! += 1;
    const z = [...logits].reduce((a, l) => a + Math.exp(l), 0);
    counts.forEach((c, i) =>
      assert.ok(Math.abs(c / n - Math.exp(logits[i]!) / z) < 0.02, `token ${i}: ${c / n}`),
    );
  });
});
