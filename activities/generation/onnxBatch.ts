/**
 * Continuous batching over one exported policy (model.onnx with KV cache) in onnxruntime-node.
 * Runs inside the engine's worker thread, because session.run blocks the thread it runs on.
 *
 * The engine keeps the KV cache of all running sequences itself (kvCache.ts): rows
 * left-aligned in fixed-capacity buffers that every decode step feeds as the past and extends
 * in place with the step's new keys and values. Graphs with new_key_values outputs hand back
 * only those; graphs with the decoder convention's present outputs (traced exports) hand back
 * the whole cache, of which the engine reads the new slot. A sequence that stops leaves the
 * batch; waiting requests are prefilled (left-padded, in chunks of similar length) and merged
 * in by a repack that also drops finished rows.
 */
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { findStop } from '../../common/toolProtocol';
import { ApplicationFailure } from '@temporalio/common';
import type { Completion, CompletionRequest, GeneratedToken, TokenLogprob } from './engine';
import { IncrementalDecoder } from './incrementalDecoder';
import { capacityFor, KvCache, type KvTensors, type RowSlice } from './kvCache';
import {
  loadModelTokenizer,
  loadOnnxLayout,
  modelFolderError,
  ONNX_FILE,
  type OnnxLayout,
} from './modelFolder';
import { sampleToken, seededRandom, topLogprobs, type Random } from './sampling';
import { existsSync } from 'node:fs';

export interface OnnxSessionOptions {
  maxBatchSize: number;
  /** Threads for one session.run; default: onnxruntime's choice (all physical cores). */
  intraOpNumThreads?: number;
  executionProvider?: 'cpu' | 'cuda';
}

/** Bound on prefill logits (rows × prompt length × vocab floats) so long prompts prefill in chunks. */
const PREFILL_LOGIT_BUDGET = 48_000_000;
/**
 * Padding tokens a prefill chunk may add to take one more prompt. A padded slot costs as much
 * compute as a real token; a separate session.run costs a fixed overhead of about this many
 * tokens of the tiny model (less for larger ones, where this bound errs on the side of runs).
 */
const PREFILL_PADDING_SLACK = 16;

interface Sequence {
  id: number;
  request: CompletionRequest;
  random: Random;
  decoder: IncrementalDecoder;
  generated: number[];
  /** Behaviour log-prob of each generated token. */
  logprobs: number[];
  /** Per generated token, when the request asked for top log-probs. */
  topLogprobs: TokenLogprob[][] | null;
  /** Report each token as it is made (a streaming client). */
  stream: boolean;
  /** Tokens of this sequence in the KV cache. */
  cached: number;
  /** Sampled, not yet fed: the next step's input. */
  nextToken: number;
  done: boolean;
}

/** Where a batch reports: each finished completion, and each token of streaming sequences. */
export interface BatchListener {
  finish(id: number, completion: Completion): void;
  token(id: number, token: GeneratedToken): void;
}

interface Waiting {
  id: number;
  request: CompletionRequest;
  stream: boolean;
}

/** The graph's kv outputs: only this call's entries (hand-built export), or past + new (traced). */
type KvOutputs = 'new_key_values' | 'present';

const EMPTY = new Float32Array(0);

/** The running batch: its cache and, per cache row, the sequence it holds (null = finished row). */
interface Running {
  cache: KvCache;
  rows: (Sequence | null)[];
}

/** A live sequence and where its cache entries are, to be gathered into the next cache. */
interface Placed {
  sequence: Sequence;
  slice: RowSlice;
}

export class OnnxBatch {
  private waiting: Waiting[] = [];
  private running: Running;
  private generatedTotal = 0;
  private released = false;
  /** What each run fetches: logits, then the kv outputs, key then value per layer. */
  private readonly fetches: string[];

  private constructor(
    readonly dir: string,
    private readonly session: ort.InferenceSession,
    private readonly layout: OnnxLayout,
    private readonly tokenizer: Awaited<ReturnType<typeof loadModelTokenizer>>,
    private readonly options: OnnxSessionOptions,
    kvOutputs: KvOutputs,
  ) {
    this.running = this.emptyBatch();
    this.fetches = ['logits'];
    for (let i = 0; i < layout.numLayers; i++)
      this.fetches.push(`${kvOutputs}.${i}.key`, `${kvOutputs}.${i}.value`);
  }

  static async load(dir: string, options: OnnxSessionOptions): Promise<OnnxBatch> {
    const tokenizer = await loadModelTokenizer(dir);
    const layout = await loadOnnxLayout(dir);
    const path = join(dir, ONNX_FILE);
    if (!existsSync(path)) {
      throw modelFolderError(
        `model folder ${dir} has no ${ONNX_FILE} (export it with python -m tirflow_py.onnx_export)`,
      );
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, {
        executionProviders: [options.executionProvider ?? 'cpu'],
        graphOptimizationLevel: 'all',
        ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
      });
    } catch (err) {
      throw modelFolderError(`${path} cannot be loaded by onnxruntime: ${(err as Error).message}`);
    }
    const kvOutputs = checkSignature(session, layout, dir);
    return new OnnxBatch(dir, session, layout, tokenizer, options, kvOutputs);
  }

  /** Frees the session's memory; the batch must not be used afterwards. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.waiting = [];
    this.running = this.emptyBatch();
    await this.session.release();
  }

  get idle(): boolean {
    return this.waiting.length === 0 && this.running.rows.every((r) => r === null);
  }

  get tokensGenerated(): number {
    return this.generatedTotal;
  }

  /** Queues a request; a prompt this model cannot read is refused here, before it reaches the graph. */
  submit(id: number, request: CompletionRequest, stream = false): void {
    const vocab = this.layout.vocabSize;
    const bad = request.promptTokenIds.find((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
    if (bad !== undefined) {
      throw ApplicationFailure.nonRetryable(
        `prompt token id ${bad} is not in this model's vocabulary (0 to ${vocab - 1})`,
        'BadRequest',
      );
    }
    this.waiting.push({ id, request, stream });
  }

  /** Drops a request, waiting or running; its completion is never reported. */
  cancel(id: number): void {
    this.waiting = this.waiting.filter((w) => w.id !== id);
    // In place: a decode step awaiting its run holds this same array and must see the change.
    const rows = this.running.rows;
    rows.forEach((row, r) => {
      if (row?.id === id) rows[r] = null;
    });
  }

  /** One scheduling step: admit waiting requests when there is room, then decode one token for every row. */
  async step(listener: BatchListener): Promise<void> {
    const live = this.running.rows.filter((r) => r !== null).length;
    const free = this.options.maxBatchSize - live;
    const dead = this.running.rows.length - live;
    // Admitting costs a prefill and a cache repack, so wait for a few free slots unless idle.
    const admitAt = live === 0 ? 1 : Math.max(1, Math.ceil(this.options.maxBatchSize / 8));
    if (this.waiting.length > 0 && free >= Math.min(admitAt, this.waiting.length)) {
      const admitted = this.waiting.splice(0, free);
      const prefilled = await this.prefill(admitted, listener);
      this.running = this.repack([...this.livePlaced(), ...prefilled]);
    } else if (dead > 0 && dead >= live) {
      this.running = this.repack(this.livePlaced()); // shrink: half the rows are finished
    }
    if (this.running.rows.some((r) => r !== null)) await this.decode(listener);
  }

  private emptyBatch(): Running {
    return { cache: KvCache.gather(this.layout, [], 0), rows: [] };
  }

  private livePlaced(): Placed[] {
    const placed: Placed[] = [];
    this.running.rows.forEach((sequence, row) => {
      if (sequence) placed.push({ sequence, slice: this.running.cache.slice(row, sequence.cached) });
    });
    return placed;
  }

  /** A new running batch of exactly these sequences, with room for each one's next token. */
  private repack(placed: Placed[]): Running {
    const longest = Math.max(0, ...placed.map((p) => p.slice.length));
    const cache = KvCache.gather(
      this.layout,
      placed.map((p) => p.slice),
      capacityFor(longest),
    );
    return { cache, rows: placed.map((p) => p.sequence) };
  }

  private feeds(
    inputIds: BigInt64Array,
    mask: BigInt64Array,
    positions: BigInt64Array,
    rows: number,
    seq: number,
    past: KvTensors | null,
  ): Record<string, ort.Tensor> {
    const { numLayers, numKeyValueHeads: heads, headDim } = this.layout;
    const pastLength = past?.time ?? 0;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', inputIds, [rows, seq]),
      attention_mask: new ort.Tensor('int64', mask, [rows, pastLength + seq]),
      position_ids: new ort.Tensor('int64', positions, [rows, seq]),
    };
    const dims = [rows, heads, pastLength, headDim];
    for (let i = 0; i < numLayers; i++) {
      feeds[`past_key_values.${i}.key`] = new ort.Tensor('float32', past?.tensors[2 * i] ?? EMPTY, dims);
      feeds[`past_key_values.${i}.value`] = new ort.Tensor(
        'float32',
        past?.tensors[2 * i + 1] ?? EMPTY,
        dims,
      );
    }
    return feeds;
  }

  /** Runs the graph; returns the logits and the kv outputs (time = their time dimension). */
  private async run(
    feeds: Record<string, ort.Tensor>,
  ): Promise<{ logits: Float32Array; kv: Float32Array[]; kvTime: number }> {
    const outputs = await this.session.run(feeds, this.fetches);
    const kv = this.fetches.slice(1).map((name) => outputs[name]!.data as Float32Array);
    const kvTime = outputs[this.fetches[1]!]!.dims[2]!;
    return { logits: outputs.logits!.data as Float32Array, kv, kvTime };
  }

  /** Prefills new requests (left-padded, in chunks), samples each one's first token. */
  private async prefill(admitted: Waiting[], listener: BatchListener): Promise<Placed[]> {
    const placed: Placed[] = [];
    const vocab = this.layout.vocabSize;
    // Shortest prompt first (ties in arrival order), so a chunk pads each prompt only to its
    // neighbours' length; a new chunk starts where joining would pad too much.
    const byLength = [...admitted].sort(
      (a, b) => a.request.promptTokenIds.length - b.request.promptTokenIds.length,
    );
    let start = 0;
    while (start < byLength.length) {
      let end = start + 1;
      let width = byLength[start]!.request.promptTokenIds.length;
      while (end < byLength.length) {
        const w = byLength[end]!.request.promptTokenIds.length;
        const rows = end - start;
        if ((rows + 1) * w * vocab > PREFILL_LOGIT_BUDGET) break;
        if (rows * (w - width) > PREFILL_PADDING_SLACK) break;
        width = w;
        end++;
      }
      const chunk = byLength.slice(start, end);
      start = end;
      const rows = chunk.length;
      const ids = new BigInt64Array(rows * width);
      const mask = new BigInt64Array(rows * width);
      const positions = new BigInt64Array(rows * width);
      chunk.forEach(({ request }, r) => {
        const prompt = request.promptTokenIds;
        const pad = width - prompt.length;
        for (let j = 0; j < prompt.length; j++) {
          ids[r * width + pad + j] = BigInt(prompt[j]!);
          mask[r * width + pad + j] = 1n;
          positions[r * width + pad + j] = BigInt(j);
        }
      });
      // With no past, new_key_values and present are the same: the chunk's own entries.
      const { logits, kv } = await this.run(this.feeds(ids, mask, positions, rows, width, null));
      const entries: KvTensors = { tensors: kv, time: width };
      chunk.forEach(({ id, request, stream }, r) => {
        const length = request.promptTokenIds.length;
        const sequence: Sequence = {
          id,
          request,
          random: seededRandom(request.seed),
          decoder: new IncrementalDecoder(this.tokenizer.decode),
          generated: [],
          logprobs: [],
          topLogprobs: (request.topLogprobs ?? 0) > 0 ? [] : null,
          stream,
          cached: length,
          nextToken: -1,
          done: false,
        };
        this.accept(sequence, logits, (r * width + width - 1) * vocab, listener);
        if (!sequence.done)
          placed.push({ sequence, slice: { from: entries, row: r, start: width - length, length } });
      });
    }
    return placed;
  }

  private async decode(listener: BatchListener): Promise<void> {
    const longest = Math.max(...this.running.rows.map((row) => row?.cached ?? 0));
    if (longest >= this.running.cache.capacity) this.running = this.repack(this.livePlaced()); // grow
    const { cache, rows } = this.running;
    const count = rows.length;
    const total = cache.capacity + 1;
    const ids = new BigInt64Array(count);
    const positions = new BigInt64Array(count);
    const mask = new BigInt64Array(count * total);
    rows.forEach((row, r) => {
      // Cached entries, then the slots nobody has filled, then the token fed now. A finished
      // row sees only that token: it computes garbage nobody reads.
      if (row) mask.fill(1n, r * total, r * total + row.cached);
      mask[r * total + total - 1] = 1n;
      ids[r] = BigInt(row ? row.nextToken : 0);
      positions[r] = BigInt(row ? row.cached : 0);
    });
    const { logits, kv, kvTime } = await this.run(this.feeds(ids, mask, positions, count, 1, cache));
    // new_key_values hold just this step (slot 0); present holds the past first, then it.
    const produced: KvTensors = { tensors: kv, time: kvTime };
    const newSlot = kvTime - 1;
    rows.forEach((row, r) => {
      if (!row) return;
      cache.copy({ from: produced, row: r, start: newSlot, length: 1 }, r, row.cached);
      row.cached += 1;
      this.accept(row, logits, r * this.layout.vocabSize, listener);
      if (row.done) rows[r] = null;
    });
  }

  /** Samples a sequence's next token and decides whether it stops there. */
  private accept(sequence: Sequence, logits: Float32Array, offset: number, listener: BatchListener): void {
    const { request } = sequence;
    const end = (finishReason: Completion['finishReason'], stopString: string | null): void => {
      sequence.done = true;
      listener.finish(sequence.id, {
        tokenIds: sequence.generated,
        logprobs: sequence.logprobs,
        ...(sequence.topLogprobs ? { topLogprobs: sequence.topLogprobs } : {}),
        finishReason,
        stopString,
      });
    };
    const contextRoom = this.layout.maxPositionEmbeddings > 0 ? this.layout.maxPositionEmbeddings : Infinity;
    if (request.maxTokens <= 0 || sequence.cached >= contextRoom) return end('length', null);
    const vocab = this.layout.vocabSize;
    const { token, logprob } = sampleToken(logits, offset, vocab, request, sequence.random);
    sequence.generated.push(token);
    sequence.logprobs.push(logprob);
    const top = sequence.topLogprobs
      ? topLogprobs(logits, offset, vocab, request, request.topLogprobs ?? 0)
      : undefined;
    if (top) sequence.topLogprobs?.push(top);
    if (sequence.stream)
      listener.token(sequence.id, { tokenId: token, logprob, ...(top ? { topLogprobs: top } : {}) });
    sequence.nextToken = token;
    this.generatedTotal += 1;
    if (!request.ignoreEos && this.tokenizer.eosTokenIds.includes(token)) return end('stop', null);
    const before = sequence.decoder.text.length;
    if (sequence.decoder.push(token) !== '' && request.stop.length > 0) {
      const matched = findStop(sequence.decoder.text, request.stop, before);
      if (matched) return end('stop', matched.stop);
    }
    if (sequence.generated.length >= request.maxTokens || sequence.cached + 1 >= contextRoom)
      end('length', null);
  }
}

/**
 * The graph must take and give exactly what the layout file promises; returns which kv outputs
 * it has (new_key_values when both are there).
 */
function checkSignature(session: ort.InferenceSession, layout: OnnxLayout, dir: string): KvOutputs {
  const expectedInputs = ['input_ids', 'attention_mask', 'position_ids'];
  for (let i = 0; i < layout.numLayers; i++) {
    expectedInputs.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
  }
  const outputsFor = (kind: KvOutputs): string[] => {
    const names = ['logits'];
    for (let i = 0; i < layout.numLayers; i++) names.push(`${kind}.${i}.key`, `${kind}.${i}.value`);
    return names;
  };
  const kvOutputs: KvOutputs = session.outputNames.includes('new_key_values.0.key')
    ? 'new_key_values'
    : 'present';
  const expectedOutputs = outputsFor(kvOutputs);
  const missingInputs = expectedInputs.filter((n) => !session.inputNames.includes(n));
  const missingOutputs = expectedOutputs.filter((n) => !session.outputNames.includes(n));
  const extraInputs = session.inputNames.filter((n) => !expectedInputs.includes(n));
  const problems: string[] = [];
  if (missingInputs.length) problems.push(`missing inputs ${missingInputs.join(', ')}`);
  if (missingOutputs.length) problems.push(`missing outputs ${missingOutputs.join(', ')}`);
  if (extraInputs.length) problems.push(`unexpected inputs ${extraInputs.join(', ')}`);
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) continue;
    const wantType = meta.name.startsWith('past_key_values') ? 'float32' : 'int64';
    if (expectedInputs.includes(meta.name) && meta.type !== wantType) {
      problems.push(`input ${meta.name} is ${meta.type}, expected ${wantType}`);
    }
    if (meta.name.startsWith('past_key_values') && meta.shape.length === 4) {
      const [, kvHeads, , dim] = meta.shape;
      if (
        (typeof kvHeads === 'number' && kvHeads !== layout.numKeyValueHeads) ||
        (typeof dim === 'number' && dim !== layout.headDim)
      ) {
        problems.push(
          `input ${meta.name} has shape [${meta.shape.join(', ')}], expected [batch, ${layout.numKeyValueHeads}, past, ${layout.headDim}]`,
        );
      }
    }
  }
  if (problems.length) {
    throw modelFolderError(
      `${join(dir, ONNX_FILE)} does not match the KV-cache decoder signature: ${problems.join('; ')}`,
    );
  }
  return kvOutputs;
}
