/**
 * The `onnx` engine on a real exported fixture model, and the `openai` engine against a real
 * `tirflow serve` process: seeded reproducibility, stop handling, bad model folders.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { freePort } from '../../cli/devServer';
import type { CompletionRequest } from '../../activities/generation/engine';
import { loadModelTokenizer, type ModelTokenizer } from '../../activities/generation/modelFolder';
import { OnnxEngine, stopOnnxEngineThread } from '../../activities/generation/onnxEngine';
import { OpenAIEngine } from '../../activities/generation/openaiEngine';
import { projectRoot, pythonProjectDir, requireVenvTool, venvPython } from '../../activities/projectPaths';
import { startServe } from '../support/serve';
import { fixtureModel, type FixtureModel } from './fixtureModel';
import { assertSameCompletions } from './sameSamples';

let fixture: FixtureModel;
let tokenizer: ModelTokenizer;
let scratch: string;

const PROMPTS = [
  'User: What is 12 + 7? Assistant: <think>',
  'Solve 3x + 5 = 20.',
  'print(123 * 456)',
  '```python\nprint(',
];

function requests(seedBase: number, maxTokens = 24): CompletionRequest[] {
  return PROMPTS.map((text, i) => ({
    promptTokenIds: tokenizer.encode(text),
    stop: ['User:', '</answer>'],
    maxTokens,
    temperature: 1,
    topP: 0.95,
    seed: seedBase + i,
  }));
}

before(async () => {
  fixture = await fixtureModel();
  tokenizer = await loadModelTokenizer(fixture.onnxDir);
  scratch = await mkdtemp(join(tmpdir(), 'tirflow-engines-'));
});

after(async () => {
  await stopOnnxEngineThread();
  await rm(scratch, { recursive: true, force: true });
});

describe('onnx engine', () => {
  it('gives the same tokens for the same seed and prompt, whatever the batch around them', async () => {
    const engine = new OnnxEngine(fixture.onnxDir, { maxBatchSize: 8 });
    const batched = await Promise.all(requests(100).map((r) => engine.complete(r)));
    const again = await Promise.all(requests(100).map((r) => engine.complete(r)));
    assert.deepEqual(again, batched);
    // Same composition, same bits; another composition, the same tokens and log-probs up to rounding.
    const alone = await engine.complete(requests(100)[2]!);
    assertSameCompletions([alone], [batched[2]!]);
    // A batch too small for all of them forces slot refills; the tokens stay the same.
    const refilled = await Promise.all(
      requests(100).map((r) => new OnnxEngine(fixture.onnxDir, { maxBatchSize: 2 }).complete(r)),
    );
    assertSameCompletions(refilled, batched);
    const otherSeed = await Promise.all(requests(200).map((r) => engine.complete(r)));
    assert.notDeepEqual(
      otherSeed.map((c) => c.tokenIds),
      batched.map((c) => c.tokenIds),
    );
  });

  it("matches transformers' own greedy tokens through refills and cache growth, for both graph kinds", async () => {
    // The trained tiny base, not the random fixture: a random model barely attends, so its
    // greedy tokens would not notice a wrong cache. Prompts of different lengths, 40 tokens
    // each (past two capacity steps of the engine's cache), through a batch of 2 so rows
    // finish and new prompts are prefilled and merged in.
    const hfDir = join(projectRoot, 'models', 'tiny-base');
    const base = await loadModelTokenizer(hfDir);
    const prompts = PROMPTS.map((text) => base.encode(text));
    const python = requireVenvTool(venvPython);
    const reference = await execa(python, ['-m', 'tirflow_py.greedy_reference'], {
      cwd: pythonProjectDir,
      input: JSON.stringify({ model: hfDir, prompts, newTokens: 40 }),
    });
    const expected = (JSON.parse(reference.stdout) as { tokens: number[][] }).tokens;
    // The hand-built graph has new_key_values outputs, the traced one the convention's present.
    for (const [graph, kvOutputs] of [
      ['built', 'new'],
      ['traced', 'present'],
    ]) {
      const dir = join(scratch, `base-${graph}`);
      const exported = await execa(python, ['-m', 'tirflow_py.onnx_export', hfDir, dir, '--graph', graph!], {
        cwd: pythonProjectDir,
      });
      assert.equal((JSON.parse(exported.stdout) as { kvOutputs: string }).kvOutputs, kvOutputs);
      const engine = new OnnxEngine(dir, { maxBatchSize: 2 });
      const results = await Promise.all(
        prompts.map((promptTokenIds) =>
          engine.complete({
            promptTokenIds,
            stop: [],
            maxTokens: 40,
            temperature: 0,
            topP: 1,
            seed: 0,
            ignoreEos: true,
          }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.tokenIds),
        expected,
        graph,
      );
    }
  });

  it('keeps serving while sessions beyond the cache size are evicted', async () => {
    // Each batch size is its own session; only two idle ones are kept, the rest released.
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(
        [1, 3, 5, 7, 9].map((maxBatchSize) =>
          new OnnxEngine(fixture.onnxDir, { maxBatchSize }).complete(requests(7)[1]!),
        ),
      );
      for (const r of results) assert.deepEqual(r, results[0]);
    }
  });

  it('keeps to max tokens, ends on EOS or a stop string, and reports which', async () => {
    const engine = new OnnxEngine(fixture.onnxDir, { maxBatchSize: 8 });
    const results = await Promise.all(requests(300, 12).map((r) => engine.complete(r)));
    for (const c of results) {
      assert.ok(c.tokenIds.length >= 1 && c.tokenIds.length <= 12);
      if (c.finishReason === 'length') assert.equal(c.tokenIds.length, 12);
      const last = c.tokenIds[c.tokenIds.length - 1]!;
      if (c.finishReason === 'stop' && c.stopString === null) assert.ok(tokenizer.eosTokenIds.includes(last));
      if (c.stopString) assert.ok(tokenizer.decode(c.tokenIds).includes(c.stopString));
    }
    // Greedy decoding is the argmax path: deterministic without any seed.
    const greedy = { ...requests(0)[0]!, temperature: 0, stop: [] };
    assert.deepEqual(
      await engine.complete({ ...greedy, seed: 1 }),
      await engine.complete({ ...greedy, seed: 2 }),
    );
  });

  it('stops at a stop string the model produces, keeping the token that completed it', async () => {
    const engine = new OnnxEngine(fixture.onnxDir, { maxBatchSize: 8 });
    // Find a seed whose free run contains some text, then stop on a piece of that text.
    const free = await engine.complete({ ...requests(0)[0]!, stop: [], maxTokens: 40, seed: 5 });
    const text = tokenizer.decode(free.tokenIds);
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 2);
    assert.ok(stop.length === 2 && !stop.includes('\uFFFD'), `usable stop in ${JSON.stringify(text)}`);
    const stopped = await engine.complete({ ...requests(0)[0]!, stop: [stop], maxTokens: 40, seed: 5 });
    assert.equal(stopped.stopString, stop);
    assert.deepEqual(
      stopped.tokenIds,
      free.tokenIds.slice(0, stopped.tokenIds.length),
      'same seed, same prefix',
    );
    const decoded = tokenizer.decode(stopped.tokenIds);
    assert.ok(decoded.includes(stop));
    assert.ok(
      !tokenizer.decode(stopped.tokenIds.slice(0, -1)).includes(stop),
      'stopped at the first completion',
    );
  });

  it('refuses prompt ids outside the vocabulary, non-retryably, before they reach the graph', async () => {
    const engine = new OnnxEngine(fixture.onnxDir, { maxBatchSize: 4 });
    for (const bad of [tokenizer.vocabSize + 1000, -1]) {
      await assert.rejects(
        engine.complete({ ...requests(0)[0]!, promptTokenIds: [1, bad, 2] }),
        (err: unknown) => {
          assert.ok(err instanceof ApplicationFailure && err.nonRetryable, String(err));
          assert.match(err.message, new RegExp(`token id ${bad} is not in this model's vocabulary`));
          return true;
        },
      );
    }
    // The session is unharmed: the next request is served.
    assert.ok((await engine.complete(requests(0)[0]!)).tokenIds.length > 0);
  });

  it('refuses a folder without tokenizer.json, non-retryably and naming it', async () => {
    const dir = join(scratch, 'no-tokenizer');
    await cp(fixture.onnxDir, dir, { recursive: true });
    await rm(join(dir, 'tokenizer.json'));
    await assert.rejects(loadModelTokenizer(dir), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure && err.nonRetryable);
      assert.match(err.message, /tokenizer\.json/);
      return true;
    });
    await assert.rejects(
      new OnnxEngine(dir, { maxBatchSize: 2 }).complete(requests(0)[0]!),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure && err.nonRetryable);
        assert.match(err.message, /tokenizer\.json/);
        return true;
      },
    );
  });

  it('refuses an ONNX graph whose signature does not match its layout, naming what is missing', async () => {
    const dir = join(scratch, 'mismatch');
    await cp(fixture.onnxDir, dir, { recursive: true });
    const layoutPath = join(dir, 'tirflow-onnx.json');
    const layout = JSON.parse(await readFile(layoutPath, 'utf8')) as { numLayers: number };
    await writeFile(layoutPath, JSON.stringify({ ...layout, numLayers: layout.numLayers + 1 }));
    await assert.rejects(
      new OnnxEngine(dir, { maxBatchSize: 2 }).complete(requests(0)[0]!),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure && err.nonRetryable, String(err));
        assert.match(err.message, new RegExp(`past_key_values\\.${layout.numLayers}\\.key`));
        return true;
      },
    );
    const noGraph = join(scratch, 'no-graph');
    await cp(fixture.onnxDir, noGraph, { recursive: true });
    await rm(join(noGraph, 'model.onnx'));
    await assert.rejects(
      new OnnxEngine(noGraph, { maxBatchSize: 2 }).complete(requests(0)[0]!),
      /model\.onnx/,
    );
    await writeFile(join(noGraph, 'model.onnx'), 'not a graph');
    await assert.rejects(
      new OnnxEngine(noGraph, { maxBatchSize: 2 }).complete(requests(0)[0]!),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure && err.nonRetryable, String(err));
        assert.match(err.message, /model\.onnx cannot be loaded/);
        return true;
      },
    );
  });
});

describe('openai engine against tirflow serve', () => {
  it('gives the same tokens as the in-process onnx engine for the same seeds', async () => {
    const served = await startServe(fixture.onnxDir, 'fixture');
    try {
      const baseUrl = served.baseUrl;
      const client = new OpenAIEngine({ baseUrl, model: 'fixture', requestTimeoutS: 60 });
      const local = new OnnxEngine(fixture.onnxDir, { maxBatchSize: 8 });
      const remote = await Promise.all(requests(400).map((r) => client.complete(r)));
      const inProcess = await Promise.all(requests(400).map((r) => local.complete(r)));
      assertSameCompletions(remote, inProcess);
      assert.equal(
        client.tokensGenerated(),
        remote.reduce((n, c) => n + c.tokenIds.length, 0),
      );

      // Greedy: the client asks the server for no log-probs and reports the point mass's 0s.
      const greedy = { ...requests(0)[0]!, temperature: 0 };
      const [greedyRemote, greedyLocal] = await Promise.all([
        client.complete(greedy),
        local.complete(greedy),
      ]);
      assert.deepEqual(greedyRemote, greedyLocal);
      assert.ok(greedyRemote.logprobs.every((l) => l === 0));

      // A wrong model name is the caller's mistake: non-retryable, not retried.
      const wrong = new OpenAIEngine({ baseUrl, model: 'other', requestTimeoutS: 60, retryBaseMs: 1 });
      await assert.rejects(
        wrong.complete(requests(0)[0]!),
        (err: unknown) => err instanceof ApplicationFailure && err.nonRetryable === true,
      );

      // The plain OpenAI surface answers too: text prompt, n choices.
      const response = await fetch(`${baseUrl}/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'Solve', max_tokens: 5, n: 2, seed: 1 }),
      });
      const body = (await response.json()) as { choices: { text: string; token_ids: number[] }[] };
      assert.equal(body.choices.length, 2);
      for (const choice of body.choices) assert.equal(choice.text, tokenizer.decode(choice.token_ids));
    } finally {
      await served.stop();
    }
  });

  it('retries connection errors, then gives up', async () => {
    const port = await freePort(); // nothing listens here
    const client = new OpenAIEngine({
      baseUrl: `http://127.0.0.1:${port}/v1`,
      model: 'x',
      requestTimeoutS: 5,
      maxRetries: 2,
      retryBaseMs: 1,
    });
    await assert.rejects(client.complete(requests(0)[0]!), /failed/);
  });
});
