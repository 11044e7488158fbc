/**
 * The base model folder checked before a run starts: the files a run reads exist, the weights
 * are whole, the tokenizer loads, and every dataset prompt fits the model's context. Each
 * problem is a non-retryable failure naming the file (and row), because retrying cannot fix
 * a model folder, and a broken one found later turns into a retry loop or silent garbage.
 */
import { existsSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { TaskRow } from '../../common/dataset';
import { renderPrompt, type PromptTemplate } from '../../common/toolProtocol';
import type { ModelTokenizer } from '../generation/modelFolder';

const MODEL_FILES = [
  ['config.json', 'the model config'],
  ['tokenizer.json', 'the tokenizer'],
] as const;

const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'] as const;

/** A safetensors JSON header longer than this is garbage, not a header (real ones are kilobytes). */
const MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024;

const incomplete = (message: string): ApplicationFailure =>
  ApplicationFailure.nonRetryable(message, 'ModelIncomplete');

export function checkModelFiles(modelDir: string): void {
  if (!existsSync(modelDir)) {
    const hubId = /^[\w.-]+\/[\w.-]+$/.test(modelDir);
    throw ApplicationFailure.nonRetryable(
      hubId
        ? `model ${modelDir} is not a local folder: download it first (huggingface-cli download ${modelDir} --local-dir DIR) and set model: DIR`
        : `model folder not found: ${modelDir}`,
      'ModelMissing',
    );
  }
  for (const [file, what] of MODEL_FILES) {
    if (!existsSync(join(modelDir, file))) {
      throw incomplete(`model folder ${modelDir} has no ${file} (${what})`);
    }
  }
  if (!WEIGHT_FILES.some((f) => existsSync(join(modelDir, f)))) {
    throw incomplete(`model folder ${modelDir} has no weights (model.safetensors or pytorch_model.bin)`);
  }
}

/**
 * Reads a safetensors file's header and checks that every tensor lies inside the file: catches
 * a truncated download, a Git LFS pointer or any other non-safetensors bytes without loading
 * the weights (torch would fail on them in the trainer, where the error looks transient).
 */
export async function checkSafetensors(path: string): Promise<void> {
  const broken = (why: string): ApplicationFailure =>
    ApplicationFailure.nonRetryable(`${path} is not a valid safetensors file: ${why}`, 'ModelWeightsInvalid');
  const size = (await stat(path)).size;
  const handle = await open(path, 'r');
  try {
    if (size < 8) throw broken(`only ${size} bytes`);
    const prefix = Buffer.alloc(8);
    await handle.read(prefix, 0, 8, 0);
    const headerLength = prefix.readBigUInt64LE(0);
    if (headerLength < 2n || headerLength > BigInt(Math.min(size - 8, MAX_SAFETENSORS_HEADER))) {
      throw broken(`header length ${headerLength} does not fit a ${size}-byte file`);
    }
    const headerBytes = Buffer.alloc(Number(headerLength));
    await handle.read(headerBytes, 0, headerBytes.length, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBytes.toString('utf8'));
    } catch {
      throw broken('the header is not JSON');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw broken('the header is not a JSON object');
    }
    const dataBytes = size - 8 - headerBytes.length;
    for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') continue;
      const offsets = (entry as { data_offsets?: unknown } | null)?.data_offsets;
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o))) {
        throw broken(`tensor ${name} has no data_offsets`);
      }
      const [begin, end] = offsets as [number, number];
      if (begin < 0 || end < begin || end > dataBytes) {
        throw broken(`tensor ${name} needs bytes ${begin}-${end} of ${dataBytes}: the file is truncated`);
      }
    }
  } finally {
    await handle.close();
  }
}

/** Every weight file the folder names is whole (safetensors) or at least of its format (torch zip). */
export async function checkWeights(modelDir: string): Promise<void> {
  const index = join(modelDir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    let weightMap: unknown;
    try {
      weightMap = (JSON.parse(await readFile(index, 'utf8')) as { weight_map?: unknown }).weight_map;
    } catch {
      throw ApplicationFailure.nonRetryable(`${index} is not valid JSON`, 'ModelWeightsInvalid');
    }
    if (typeof weightMap !== 'object' || weightMap === null) {
      throw ApplicationFailure.nonRetryable(`${index} has no weight_map`, 'ModelWeightsInvalid');
    }
    for (const shard of new Set(Object.values(weightMap as Record<string, string>))) {
      const path = join(modelDir, shard);
      if (!existsSync(path)) throw incomplete(`model folder ${modelDir} has no ${shard} (named in ${index})`);
      await checkSafetensors(path);
    }
    return;
  }
  const safetensors = join(modelDir, 'model.safetensors');
  if (existsSync(safetensors)) return checkSafetensors(safetensors);
  const bin = join(modelDir, 'pytorch_model.bin');
  if (!existsSync(bin)) {
    throw incomplete(`model folder ${modelDir} has no weights (model.safetensors or pytorch_model.bin)`);
  }
  const magic = Buffer.alloc(4);
  const handle = await open(bin, 'r');
  try {
    await handle.read(magic, 0, 4, 0);
  } finally {
    await handle.close();
  }
  // torch.save writes a zip archive (PK\3\4); the legacy format starts with a pickle opcode.
  if (!(magic.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1')) || magic[0] === 0x80)) {
    throw ApplicationFailure.nonRetryable(`${bin} is not a torch checkpoint`, 'ModelWeightsInvalid');
  }
}

/** The model's context length from config.json (also inside text_config), or null when unstated. */
export async function contextLength(modelDir: string): Promise<number | null> {
  const config = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')) as {
    max_position_embeddings?: unknown;
    text_config?: { max_position_embeddings?: unknown };
  };
  const value = config.max_position_embeddings ?? config.text_config?.max_position_embeddings;
  return typeof value === 'number' && value > 0 ? value : null;
}

export interface PromptFitSettings {
  template: PromptTemplate;
  maxResponseTokens: number;
}

/**
 * Every row's prompt leaves room for a whole response in the model's context. A longer prompt
 * would not fail: the engine would spend a prefill on it and stop with an empty or cut response,
 * every step, silently. Rows are tokenized only when a cheap bound (one token per UTF-8 byte of
 * the problem, byte-level BPE's worst case) says they might not fit.
 */
export async function checkPromptsFit(
  modelDir: string,
  tokenizer: ModelTokenizer,
  datasets: readonly { path: string; rows: readonly TaskRow[] }[],
  settings: PromptFitSettings,
): Promise<void> {
  const context = await contextLength(modelDir);
  if (context === null) return;
  const room = context - settings.maxResponseTokens;
  if (room <= 0) {
    throw ApplicationFailure.nonRetryable(
      `rollout.maxResponseTokens ${settings.maxResponseTokens} leaves no room for a prompt in the context of ${modelDir} (${context} positions)`,
      'PromptTooLong',
    );
  }
  // Pre-tokenization may split differently where the problem meets the template: a small margin.
  const frame = tokenizer.encode(renderPrompt(settings.template, '')).length + 4;
  for (const { path, rows } of datasets) {
    for (const [index, row] of rows.entries()) {
      if (frame + Buffer.byteLength(row.problem) <= room) continue;
      const tokens = tokenizer.encode(renderPrompt(settings.template, row.problem)).length;
      if (tokens > room) {
        throw ApplicationFailure.nonRetryable(
          `${path}: row ${index + 1} (id ${row.id}): its prompt is ${tokens} tokens, but ${modelDir} has a context of ${context} positions and rollout.maxResponseTokens is ${settings.maxResponseTokens}, so a prompt may be at most ${room} tokens: shorten or drop the row, or lower maxResponseTokens`,
          'PromptTooLong',
        );
      }
    }
  }
}
