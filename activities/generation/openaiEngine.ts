/**
 * The `openai` engine: the OpenAI-compatible /v1/completions API of vLLM, SGLang or
 * `tirflow serve`. One request per trajectory segment (n = 1, so each trajectory samples from
 * its own seed), the prompt sent as token ids, and the generated token ids read back from the
 * response (`choices[].token_ids`, returned by vLLM ≥ 0.10.2 for `return_token_ids: true` and by
 * `tirflow serve` always), so ids are never re-tokenized from text.
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
    };
    return this.semaphore.run(() => this.withRetries(body, signal));
  }

  private async withRetries(body: object, signal?: AbortSignal): Promise<Completion> {
    const maxRetries = this.options.maxRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        const completion = await this.post(body, signal);
        this.generated += completion.tokenIds.length;
        return completion;
      } catch (err) {
        if (signal?.aborted || !(err instanceof RetryableHttpError) || attempt >= maxRetries) throw err;
        const delay = (this.options.retryBaseMs ?? 500) * 2 ** attempt;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async post(body: object, signal?: AbortSignal): Promise<Completion> {
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
      finishReason: choice.finish_reason === 'length' ? 'length' : 'stop',
      stopString: typeof choice.stop_reason === 'string' ? choice.stop_reason : null,
    };
  }
}
