/**
 * The `openai` engine: the OpenAI-compatible /v1/completions API of vLLM, SGLang or
 * `tirflow serve`. One request per trajectory segment (n = 1, so each trajectory samples from
 * its own seed), the prompt sent as token ids, and the generated token ids read back from the
 * response (`choices[].token_ids`, returned by vLLM ≥ 0.10.2 for `return_token_ids: true` and by
 * `tirflow serve` always), so ids are never re-tokenized from text.
 *
 * Behaviour log-probs come from the completions API's `logprobs` (`choices[].logprobs
 * .token_logprobs`, one per generated token). They must be the log-probs of the distribution
 * the server sampled from (temperature and top-p applied), which is not every server's default:
 * - vLLM (>= 0.10.2): start the server with `--logprobs-mode processed_logprobs`. Its default,
 *   `raw_logprobs`, reports the model's temperature-1 log-probs before any processing, which
 *   the off-policy correction would silently misread whenever temperature != 1 or top_p < 1.
 * - SGLang: output log-probs are computed in its sampler, after temperature and top-p (since
 *   sgl-project/sglang#2664, December 2024); leave SGLANG_RETURN_ORIGINAL_LOGPROB unset, as it
 *   switches them to the raw temperature-1 ones.
 * - `tirflow serve`: always the sampling distribution's.
 * At temperature 0 the engine asks for none and reports 0 per token: greedy decoding samples
 * from a point mass (engine.ts), whatever raw log-probs a server would report.
 *
 * Connection errors, 429 and 5xx are retried with exponential backoff; each attempt has a
 * timeout. In-flight requests are bounded by one semaphore per engine instance.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Completion, CompletionRequest, GenerationEngine } from './engine';

export interface OpenAIEngineOptions {
  /** Including the API prefix, e.g. http://127.0.0.1:8000/v1 */
  baseUrl: string;
  model: string;
  apiKey?: string;
  requestTimeoutS: number;
  maxRetries?: number;
  maxConcurrency?: number;
  /** First retry delay; doubles per attempt. */
  retryBaseMs?: number;
}

/** The parts of a completions response this client reads. */
interface CompletionChoice {
  text?: string;
  finish_reason?: string | null;
  /** vLLM and `tirflow serve`: the matched stop string, or the stop token id. */
  stop_reason?: string | number | null;
  token_ids?: number[] | null;
  logprobs?: { token_logprobs?: (number | null)[] | null } | null;
}

class RetryableHttpError extends Error {}

class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

export class OpenAIEngine implements GenerationEngine {
  readonly model: string;
  private readonly semaphore: Semaphore;
  private generated = 0;

  constructor(private readonly options: OpenAIEngineOptions) {
    this.model = options.model;
    this.semaphore = new Semaphore(options.maxConcurrency ?? 64);
  }

  tokensGenerated(): number {
    return this.generated;
  }

  async close(): Promise<void> {}

  complete(request: CompletionRequest, signal?: AbortSignal): Promise<Completion> {
    if ((request.topLogprobs ?? 0) > 0) {
      // Servers name alternatives by token text, not id; nothing in tirflow asks a server for them.
      throw ApplicationFailure.nonRetryable(
        'the openai engine does not return top log-probs',
        'EngineRequestRejected',
      );
    }
    const greedy = request.temperature <= 0;
    const body = {
      model: this.options.model,
      prompt: request.promptTokenIds,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      top_p: request.topP,
      seed: request.seed,
      stop: request.stop,
      n: 1,
      // vLLM: return the generated ids and keep the stop string in `text`; SGLang: same for text.
      return_token_ids: true,
      include_stop_str_in_output: true,
      no_stop_trim: true,
      // 0: the sampled tokens' log-probs and no alternatives (vLLM, SGLang and tirflow serve).
      ...(greedy ? {} : { logprobs: 0 }),
    };
    return this.semaphore.run(() => this.withRetries(body, greedy, signal));
  }

  private async withRetries(body: object, greedy: boolean, signal?: AbortSignal): Promise<Completion> {
    const maxRetries = this.options.maxRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        const completion = await this.post(body, greedy, signal);
        this.generated += completion.tokenIds.length;
        return completion;
      } catch (err) {
        if (signal?.aborted || !(err instanceof RetryableHttpError) || attempt >= maxRetries) throw err;
        const delay = (this.options.retryBaseMs ?? 500) * 2 ** attempt;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async post(body: object, greedy: boolean, signal?: AbortSignal): Promise<Completion> {
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}/completions`;
    const timeout = AbortSignal.timeout(this.options.requestTimeoutS * 1000);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      // Connection refused/reset and per-attempt timeouts: the server may be restarting.
      throw new RetryableHttpError(`POST ${url} failed: ${(err as Error).message}`);
    }
    const text = await response.text();
    if (response.status === 429 || response.status >= 500) {
      throw new RetryableHttpError(`POST ${url}: HTTP ${response.status} ${text.slice(0, 300)}`);
    }
    if (!response.ok) {
      // 4xx: the request itself is wrong (model name, parameters); retrying cannot help.
      throw ApplicationFailure.nonRetryable(
        `POST ${url}: HTTP ${response.status} ${text.slice(0, 500)}`,
        'EngineRequestRejected',
      );
    }
    const choice = (JSON.parse(text) as { choices?: CompletionChoice[] }).choices?.[0];
    if (!choice) throw new RetryableHttpError(`POST ${url}: response has no choices`);
    if (!Array.isArray(choice.token_ids)) {
      throw ApplicationFailure.nonRetryable(
        `${url} returned no choices[].token_ids: the openai engine needs the generated token ids ` +
          '(vLLM >= 0.10.2 returns them for return_token_ids: true; tirflow serve always does)',
        'EngineMissingTokenIds',
      );
    }
    return {
      tokenIds: choice.token_ids,
      logprobs: greedy ? choice.token_ids.map(() => 0) : behaviourLogprobs(choice, url),
      finishReason: choice.finish_reason === 'length' ? 'length' : 'stop',
      stopString: typeof choice.stop_reason === 'string' ? choice.stop_reason : null,
    };
  }
}

/** The sampled tokens' log-probs of a choice, one per token id, or a non-retryable error naming what is wrong. */
function behaviourLogprobs(choice: CompletionChoice, url: string): number[] {
  const ids = choice.token_ids ?? [];
  const values = choice.logprobs?.token_logprobs;
  if (!Array.isArray(values) || values.length !== ids.length || !values.every((v) => typeof v === 'number')) {
    const found = Array.isArray(values)
      ? `${values.length} log-probs (some missing) for ${ids.length} tokens`
      : 'no choices[].logprobs.token_logprobs';
    throw ApplicationFailure.nonRetryable(
      `${url} returned ${found}: the openai engine needs the log-prob of every generated token ` +
        '(vLLM: start it with --logprobs-mode processed_logprobs)',
      'EngineMissingLogprobs',
    );
  }
  return values;
}
