/**
 * Continuous batching over one exported policy (model.onnx with KV cache) in onnxruntime-node.
 * Runs inside the engine's worker thread, because session.run blocks the thread it runs on.
 *
 * The KV cache of all running sequences is one tensor per layer, [rows, kvHeads, T, headDim].
 * Sequences have different lengths, so each row is right-aligned and left-padded; the
 * attention mask hides the padding and position ids count only real tokens. A sequence that
 * stops leaves the batch; waiting requests are prefilled together and merged in by a repack
 * that also drops finished rows and trims padding every row shares.
 */
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { findStop } from '../../common/toolProtocol';
import type { Completion, CompletionRequest } from './engine';
import { IncrementalDecoder } from './incrementalDecoder';
import {
  loadModelTokenizer,
  loadOnnxLayout,
  modelFolderError,
  ONNX_FILE,
  type OnnxLayout,
} from './modelFolder';
import { sampleToken, seededRandom, type Random } from './sampling';
import { existsSync } from 'node:fs';

export interface OnnxSessionOptions {
  maxBatchSize: number;
  /** Threads for one session.run; default: onnxruntime's choice (all physical cores). */
  intraOpNumThreads?: number;
  executionProvider?: 'cpu' | 'cuda';
}

/** Bound on prefill logits (rows × prompt length × vocab floats) so long prompts prefill in chunks. */
const PREFILL_LOGIT_BUDGET = 48_000_000;

interface Sequence {
  id: number;
  request: CompletionRequest;
  random: Random;
  decoder: IncrementalDecoder;
  generated: number[];
  /** Tokens of this sequence in the KV cache. */
  cached: number;
  /** Sampled, not yet fed: the next step's input. */
  nextToken: number;
  done: boolean;
}

type Finish = (id: number, completion: Completion) => void;

/** A past tensor set with its length and, per row, the sequence it holds (null = finished row). */
interface CacheBlock {
  past: Float32Array[];
  length: number;
  rows: (Sequence | null)[];
}

export class OnnxBatch {
  private waiting: { id: number; request: CompletionRequest }[] = [];
  private running: CacheBlock = { past: [], length: 0, rows: [] };
  private generatedTotal = 0;
  private released = false;

  private constructor(
    readonly dir: string,
    private readonly session: ort.InferenceSession,
    private readonly layout: OnnxLayout,
    private readonly tokenizer: Awaited<ReturnType<typeof loadModelTokenizer>>,
    private readonly options: OnnxSessionOptions,
  ) {}

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
    checkSignature(session, layout, dir);
    return new OnnxBatch(dir, session, layout, tokenizer, options);
  }

  /** Frees the session's memory; the batch must not be used afterwards. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.waiting = [];
    this.running = { past: [], length: 0, rows: [] };
    await this.session.release();
  }

  get idle(): boolean {
    return this.waiting.length === 0 && this.running.rows.every((r) => r === null);
  }

  get tokensGenerated(): number {
    return this.generatedTotal;
  }

  submit(id: number, request: CompletionRequest): void {
    this.waiting.push({ id, request });
  }

  /** Drops a request, waiting or running; its completion is never reported. */
  cancel(id: number): void {
    this.waiting = this.waiting.filter((w) => w.id !== id);
    this.running.rows = this.running.rows.map((row) => (row?.id === id ? null : row));
  }

  /** One scheduling step: admit waiting requests when there is room, then decode one token for every row. */
  async step(finish: Finish): Promise<void> {
    const live = this.running.rows.filter((r) => r !== null).length;
    const free = this.options.maxBatchSize - live;
    const dead = this.running.rows.length - live;
    // Admitting costs a prefill and a cache repack, so wait for a few free slots unless idle.
    const admitAt = live === 0 ? 1 : Math.max(1, Math.ceil(this.options.maxBatchSize / 8));
    if (this.waiting.length > 0 && free >= Math.min(admitAt, this.waiting.length)) {
      const admitted = this.waiting.splice(0, free);
      const blocks = await this.prefill(admitted, finish);
      this.running = this.repack([this.running, ...blocks]);
    } else if (dead > 0 && dead >= live) {
      this.running = this.repack([this.running]); // shrink: half the rows are finished
    }
    if (this.running.rows.some((r) => r !== null)) await this.decode(finish);
  }

  private feeds(
    inputIds: BigInt64Array,
    mask: BigInt64Array,
    positions: BigInt64Array,
    rows: number,
    seq: number,
    block: CacheBlock,
  ): Record<string, ort.Tensor> {
    const { numLayers, numKeyValueHeads: heads, headDim } = this.layout;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', inputIds, [rows, seq]),
      attention_mask: new ort.Tensor('int64', mask, [rows, block.length + seq]),
      position_ids: new ort.Tensor('int64', positions, [rows, seq]),
    };
    for (let i = 0; i < numLayers; i++) {
      const dims = [rows, heads, block.length, headDim];
      feeds[`past_key_values.${i}.key`] = new ort.Tensor(
        'float32',
        block.past[2 * i] ?? new Float32Array(0),
        dims,
      );
      feeds[`past_key_values.${i}.value`] = new ort.Tensor(
        'float32',
        block.past[2 * i + 1] ?? new Float32Array(0),
        dims,
      );
    }
    return feeds;
  }

  private presents(outputs: ort.InferenceSession.ReturnType): Float32Array[] {
    const past: Float32Array[] = [];
    for (let i = 0; i < this.layout.numLayers; i++) {
      past.push(
        outputs[`present.${i}.key`]!.data as Float32Array,
        outputs[`present.${i}.value`]!.data as Float32Array,
      );
    }
    return past;
  }

  /** Prefills new requests (left-padded, in chunks), samples each one's first token. */
  private async prefill(
    admitted: { id: number; request: CompletionRequest }[],
    finish: Finish,
  ): Promise<CacheBlock[]> {
    const blocks: CacheBlock[] = [];
    const vocab = this.layout.vocabSize;
    let start = 0;
    while (start < admitted.length) {
      let end = start + 1;
      let width = admitted[start]!.request.promptTokenIds.length;
      while (end < admitted.length) {
        const w = Math.max(width, admitted[end]!.request.promptTokenIds.length);
        if ((end - start + 1) * w * vocab > PREFILL_LOGIT_BUDGET) break;
        width = w;
        end++;
      }
      const chunk = admitted.slice(start, end);
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
      const empty: CacheBlock = { past: [], length: 0, rows: [] };
      const outputs = await this.session.run(this.feeds(ids, mask, positions, rows, width, empty));
      const logits = outputs.logits!.data as Float32Array;
      const block: CacheBlock = { past: this.presents(outputs), length: width, rows: [] };
      chunk.forEach(({ id, request }, r) => {
        const sequence: Sequence = {
          id,
          request,
          random: seededRandom(request.seed),
          decoder: new IncrementalDecoder(this.tokenizer.decode),
          generated: [],
          cached: request.promptTokenIds.length,
          nextToken: -1,
          done: false,
        };
        block.rows.push(sequence);
        this.accept(sequence, logits, (r * width + width - 1) * vocab, finish);
        if (sequence.done) block.rows[r] = null;
      });
      blocks.push(block);
    }
    return blocks;
  }

  private async decode(finish: Finish): Promise<void> {
    const block = this.running;
    const rows = block.rows.length;
    const total = block.length + 1;
    const ids = new BigInt64Array(rows);
    const positions = new BigInt64Array(rows);
    const mask = new BigInt64Array(rows * total);
    block.rows.forEach((row, r) => {
      const real = row ? row.cached + 1 : total; // a finished row computes garbage nobody reads
      ids[r] = BigInt(row ? row.nextToken : 0);
      positions[r] = BigInt(row ? row.cached : 0);
      mask.fill(1n, r * total + (total - real), (r + 1) * total);
    });
    const outputs = await this.session.run(this.feeds(ids, mask, positions, rows, 1, block));
    const logits = outputs.logits!.data as Float32Array;
    this.running = { past: this.presents(outputs), length: total, rows: block.rows };
    this.running.rows.forEach((row, r) => {
      if (!row) return;
      row.cached += 1;
      this.accept(row, logits, r * this.layout.vocabSize, finish);
      if (row.done) this.running.rows[r] = null;
    });
  }

  /** Samples a sequence's next token and decides whether it stops there. */
  private accept(sequence: Sequence, logits: Float32Array, offset: number, finish: Finish): void {
    const { request } = sequence;
    const end = (finishReason: Completion['finishReason'], stopString: string | null): void => {
      sequence.done = true;
      finish(sequence.id, { tokenIds: sequence.generated, finishReason, stopString });
    };
    const contextRoom = this.layout.maxPositionEmbeddings > 0 ? this.layout.maxPositionEmbeddings : Infinity;
    if (request.maxTokens <= 0 || sequence.cached >= contextRoom) return end('length', null);
    const token = sampleToken(logits, offset, this.layout.vocabSize, request, sequence.random);
    sequence.generated.push(token);
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

  /**
   * Merges cache blocks into one: live rows only, each right-aligned, padded on the left to
   * the longest live row (which trims padding that every row had).
   */
  private repack(blocks: CacheBlock[]): CacheBlock {
    const { numLayers, numKeyValueHeads: heads, headDim } = this.layout;
    const sources: { block: CacheBlock; row: number; sequence: Sequence }[] = [];
    for (const block of blocks) {
      block.rows.forEach((sequence, row) => {
        if (sequence) sources.push({ block, row, sequence });
      });
    }
    const length = Math.max(0, ...sources.map((s) => s.sequence.cached));
    const rows = sources.length;
    const past = Array.from(
      { length: 2 * numLayers },
      () => new Float32Array(rows * heads * length * headDim),
    );
    for (let t = 0; t < 2 * numLayers; t++) {
      sources.forEach(({ block, row, sequence }, r) => {
        const keep = sequence.cached * headDim;
        const src = block.past[t]!;
        for (let h = 0; h < heads; h++) {
          const srcEnd = ((row * heads + h) * block.length + block.length) * headDim;
          const dstEnd = ((r * heads + h) * length + length) * headDim;
          past[t]!.set(src.subarray(srcEnd - keep, srcEnd), dstEnd - keep);
        }
      });
    }
    return { past, length, rows: sources.map((s) => s.sequence) };
  }
}

/** The graph must take and give exactly what the layout file promises. */
function checkSignature(session: ort.InferenceSession, layout: OnnxLayout, dir: string): void {
  const expectedInputs = ['input_ids', 'attention_mask', 'position_ids'];
  const expectedOutputs = ['logits'];
  for (let i = 0; i < layout.numLayers; i++) {
    expectedInputs.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
    expectedOutputs.push(`present.${i}.key`, `present.${i}.value`);
  }
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
}
