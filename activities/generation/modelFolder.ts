/**
 * A model folder as the generation engines need it: the tokenizer (tokenizer.json +
 * tokenizer_config.json, read with @huggingface/tokenizers), the end-of-sequence ids and,
 * for the `onnx` engine, the graph's layout from tirflow-onnx.json. Anything missing is a
 * permanent error that names the missing piece.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ApplicationFailure } from '@temporalio/common';
import type { Tokenizer } from '../../common/toolProtocol';

/** Written by python/tirflow_py/onnx_export.py next to model.onnx. */
export interface OnnxLayout {
  format: string;
  modelType: string;
  numLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  eosTokenIds: number[];
  parameters: number;
}

export const ONNX_FILE = 'model.onnx';
export const LAYOUT_FILE = 'tirflow-onnx.json';

/** Permanent: retrying cannot fix a model folder. */
export function modelFolderError(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'ModelFolderInvalid');
}

async function readJson(
  dir: string,
  name: string,
  required: boolean,
  why: string,
): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(join(dir, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!required) return null;
    throw modelFolderError(`model folder ${dir} has no ${name} (${why})`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw modelFolderError(`${join(dir, name)} is not valid JSON`);
  }
}

function idList(value: unknown): number[] {
  const items = Array.isArray(value) ? value : [value];
  return items.filter((v): v is number => typeof v === 'number' && Number.isInteger(v));
}

export interface ModelTokenizer extends Tokenizer {
  vocabSize: number;
}

/** Loads the folder's tokenizer; EOS ids come from the ONNX layout, generation_config or config. */
export async function loadModelTokenizer(dir: string): Promise<ModelTokenizer> {
  const tokenizerJson = await readJson(
    dir,
    'tokenizer.json',
    true,
    'the tokenizer the engines encode and decode with',
  );
  const tokenizerConfig = await readJson(
    dir,
    'tokenizer_config.json',
    true,
    'the tokenizer settings and special tokens',
  );
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(tokenizerJson!, tokenizerConfig!);
  } catch (err) {
    throw modelFolderError(`tokenizer.json in ${dir} cannot be loaded: ${(err as Error).message}`);
  }
  const eos = new Set<number>();
  const layout = await readJson(dir, LAYOUT_FILE, false, '');
  const generation = await readJson(dir, 'generation_config.json', false, '');
  const config = await readJson(dir, 'config.json', false, '');
  for (const source of [layout?.eosTokenIds, generation?.eos_token_id, config?.eos_token_id]) {
    for (const id of idList(source)) eos.add(id);
  }
  const eosToken = tokenizerConfig!.eos_token;
  if (typeof eosToken === 'string') {
    const id = hf.token_to_id(eosToken);
    if (id !== undefined) eos.add(id);
  }
  if (eos.size === 0) throw modelFolderError(`model folder ${dir} names no end-of-sequence token`);
  return {
    encode: (text) => hf.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => (ids.length === 0 ? '' : hf.decode([...ids], { skip_special_tokens: true })),
    eosTokenIds: [...eos],
    vocabSize: hf.get_vocab(true).size,
  };
}

/** Reads and checks tirflow-onnx.json; the graph itself is checked against it when loaded. */
export async function loadOnnxLayout(dir: string): Promise<OnnxLayout> {
  const raw = await readJson(dir, LAYOUT_FILE, true, 'written by `python -m tirflow_py.onnx_export`');
  const layout = raw as unknown as OnnxLayout;
  for (const field of ['numLayers', 'numKeyValueHeads', 'headDim', 'vocabSize'] as const) {
    if (!Number.isInteger(layout[field]) || layout[field] <= 0) {
      throw modelFolderError(`${join(dir, LAYOUT_FILE)}: field ${field} must be a positive integer`);
    }
  }
  return layout;
}
