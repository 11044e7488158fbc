/**
 * The body of a POST /v1/completions request to `tirflow serve`, checked field by field: every
 * parameter is either supported, accepted at its no-op value, or refused with a 400 that names
 * it. Silently ignoring a parameter would hand a client results it did not ask for.
 *
 * Supported: model, prompt (a string, token ids, or a list of either), max_tokens (default 16),
 * temperature (default 1), top_p (default 1), seed, stop, n, stream, stream_options
 * ({include_usage}), logprobs (0 to 20), and vLLM's and SGLang's extensions ignore_eos,
 * include_stop_str_in_output, no_stop_trim (SGLang's name for the same) and return_token_ids
 * (accepted; token ids are always returned). At their no-op values only: echo (false),
 * best_of (1 or n), presence_penalty and frequency_penalty (0), logit_bias ({}), suffix (null),
 * user (any string: it identifies the caller and changes nothing).
 */
import { randomInt } from 'node:crypto';
import type { Tokenizer } from '../../common/toolProtocol';

/** A client error: answered with this status and an OpenAI-shaped error naming `param`. */
export class BadRequest extends Error {
  constructor(
    message: string,
    readonly param: string | null = null,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface ParsedCompletionRequest {
  /** Model name the client asked for, if any. */
  model: string | null;
  prompts: number[][];
  n: number;
  seed: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  stop: string[];
  ignoreEos: boolean;
  /** null: no log-probs; k: the sampled token's, plus the k most probable alternatives when k > 0. */
  logprobs: number | null;
  /** Keep the matched stop string (and the rest of its token) in `text`. */
  includeStopString: boolean;
  stream: boolean;
  /** Streaming only: end with a chunk that carries the usage. */
  includeUsage: boolean;
}

/** What the served model accepts, to check prompts against. */
export interface ModelLimits {
  /** Positions the model can attend over; Infinity when the folder does not say. */
  contextLength: number;
  vocabSize: number;
}

/** The largest `logprobs` accepted (vLLM's default max_logprobs). */
export const MAX_LOGPROBS = 20;

type Check = (value: unknown, body: Record<string, unknown>) => boolean;

/** Parameters accepted only at a value that changes nothing, and the value's description. */
const NO_OP_VALUES: Record<string, [Check, string]> = {
  echo: [(v) => v === false, 'false'],
  best_of: [(v, body) => v === 1 || v === (body.n ?? 1), '1 (or n)'],
  presence_penalty: [(v) => v === 0, '0'],
  frequency_penalty: [(v) => v === 0, '0'],
  logit_bias: [(v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0, '{}'],
  suffix: [() => false, 'null'],
  user: [(v) => typeof v === 'string', 'a string'],
};

const SUPPORTED = new Set([
  'model',
  'prompt',
  'max_tokens',
  'temperature',
  'top_p',
  'seed',
  'stop',
  'n',
  'stream',
  'stream_options',
  'logprobs',
  'ignore_eos',
  'include_stop_str_in_output',
  'no_stop_trim',
  'return_token_ids',
]);

function present(body: Record<string, unknown>, field: string): boolean {
  return body[field] !== undefined && body[field] !== null;
}

function numberField(body: Record<string, unknown>, field: string, fallback: number): number {
  if (!present(body, field)) return fallback;
  const value = body[field];
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new BadRequest(`${field} must be a number`, field);
  return value;
}

function integerField(
  body: Record<string, unknown>,
  field: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = numberField(body, field, fallback);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BadRequest(
      `${field} must be an integer from ${min} to ${max}, got ${String(body[field])}`,
      field,
    );
  }
  return value;
}

function booleanField(body: Record<string, unknown>, field: string): boolean {
  if (!present(body, field)) return false;
  if (typeof body[field] !== 'boolean') throw new BadRequest(`${field} must be true or false`, field);
  return body[field];
}

function checkParameters(body: Record<string, unknown>): void {
  for (const [field, value] of Object.entries(body)) {
    if (SUPPORTED.has(field)) continue;
    const noOp = NO_OP_VALUES[field];
    if (noOp) {
      if (value === null || value === undefined || noOp[0](value, body)) continue;
      throw new BadRequest(
        `${field} is not supported by tirflow serve (only ${noOp[1]}, which changes nothing, is accepted)`,
        field,
      );
    }
    throw new BadRequest(`${field} is not a parameter tirflow serve supports`, field);
  }
}

/** One prompt as token ids: encoded from text, or ids checked against the vocabulary and context. */
function promptIds(value: unknown, tokenizer: Tokenizer, limits: ModelLimits): number[] {
  let ids: number[];
  if (typeof value === 'string') ids = tokenizer.encode(value);
  else if (Array.isArray(value) && value.every((x) => typeof x === 'number')) ids = value;
  else throw new BadRequest('prompt must be a string, a list of token ids, or a list of those', 'prompt');
  if (ids.length === 0) throw new BadRequest('prompt is empty: there is nothing to continue', 'prompt');
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= limits.vocabSize);
  if (bad !== undefined) {
    throw new BadRequest(
      `prompt token id ${bad} is not in the model's vocabulary (0 to ${limits.vocabSize - 1})`,
      'prompt',
    );
  }
  if (ids.length >= limits.contextLength) {
    throw new BadRequest(
      `prompt is ${ids.length} tokens but the model's context is ${limits.contextLength}: ` +
        `at most ${limits.contextLength - 1} leave room to generate`,
      'prompt',
    );
  }
  return ids;
}

function prompts(value: unknown, tokenizer: Tokenizer, limits: ModelLimits): number[][] {
  if (value === undefined || value === null) throw new BadRequest('prompt is required', 'prompt');
  // A list of strings or of id lists is a batch; a flat list of numbers is one tokenized prompt.
  const batch =
    Array.isArray(value) && value.length > 0 && value.every((p) => typeof p === 'string' || Array.isArray(p));
  return batch
    ? (value as unknown[]).map((p) => promptIds(p, tokenizer, limits))
    : [promptIds(value, tokenizer, limits)];
}

function stops(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  if (!list.every((s): s is string => typeof s === 'string' && s.length > 0))
    throw new BadRequest('stop must be a non-empty string or a list of them', 'stop');
  return list;
}

function streamOptions(body: Record<string, unknown>, stream: boolean): boolean {
  if (!present(body, 'stream_options')) return false;
  const value = body.stream_options;
  if (!stream) throw new BadRequest('stream_options is only allowed with stream: true', 'stream_options');
  if (typeof value !== 'object' || Array.isArray(value) || value === null)
    throw new BadRequest('stream_options must be an object', 'stream_options');
  const options = value as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (key !== 'include_usage')
      throw new BadRequest(`stream_options.${key} is not supported by tirflow serve`, 'stream_options');
  }
  return booleanField(options, 'include_usage');
}

export function parseCompletionRequest(
  body: Record<string, unknown>,
  tokenizer: Tokenizer,
  limits: ModelLimits,
): ParsedCompletionRequest {
  checkParameters(body);
  if (present(body, 'model') && typeof body.model !== 'string')
    throw new BadRequest('model must be a string', 'model');
  const stream = booleanField(body, 'stream');
  const temperature = numberField(body, 'temperature', 1);
  if (temperature < 0) throw new BadRequest('temperature must be >= 0', 'temperature');
  const topP = numberField(body, 'top_p', 1);
  booleanField(body, 'return_token_ids'); // checked only: token ids are always returned
  if (topP <= 0 || topP > 1) throw new BadRequest('top_p must be in (0, 1]', 'top_p');
  return {
    model: typeof body.model === 'string' ? body.model : null,
    prompts: prompts(body.prompt, tokenizer, limits),
    n: integerField(body, 'n', 1, 1, 128),
    seed: integerField(body, 'seed', randomInt(2 ** 31), -(2 ** 53) + 1, 2 ** 53 - 1),
    maxTokens: integerField(body, 'max_tokens', 16, 0, Number.MAX_SAFE_INTEGER),
    temperature,
    topP,
    stop: stops(body.stop),
    ignoreEos: booleanField(body, 'ignore_eos'),
    logprobs: present(body, 'logprobs') ? integerField(body, 'logprobs', 0, 0, MAX_LOGPROBS) : null,
    includeStopString: booleanField(body, 'include_stop_str_in_output') || booleanField(body, 'no_stop_trim'),
    stream,
    includeUsage: streamOptions(body, stream),
  };
}
