/**
 * The generation engine interface: one completion request per trajectory segment, answered
 * with the generated token ids and each one's behaviour log-prob. `onnx` (in-process,
 * onnxruntime-node in a worker thread) and `openai` (an OpenAI-compatible server: vLLM,
 * SGLang or `tirflow serve`) implement it.
 *
 * Behaviour log-probs are the log-probability of each sampled token under the distribution
 * it was actually drawn from: logits / temperature, softmax, then the top-p nucleus
 * renormalised (tokens outside it have probability 0). The trainer's off-policy correction
 * divides by exactly this probability, so it must be the sampler's, not the model's raw
 * temperature-1 distribution. Greedy decoding (temperature 0) draws from a point mass on the
 * argmax, so its behaviour log-prob is 0 for every token: the token was chosen with
 * probability 1. (The raw temperature-1 log-prob that some servers report under greedy
 * decoding describes a distribution nothing was sampled from.)
 */

export interface CompletionRequest {
  /** The whole context so far as token ids: prompt, response, observations. Never re-tokenized. */
  promptTokenIds: number[];
  /** Stop strings, matched on decoded text of the new tokens. */
  stop: string[];
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  /** Seeds this request's own PRNG: same seed + prompt → same tokens. */
  seed: number;
  /** Keep generating past end-of-sequence tokens (benchmarks: fixed-length runs; vLLM's ignore_eos). */
  ignoreEos?: boolean;
  /**
   * Also return, per generated token, this many most probable tokens of the sampling
   * distribution with their log-probs (`tirflow serve`'s `logprobs: k`). 0 or absent: none.
   */
  topLogprobs?: number;
}

/** One alternative at a generated position: a token and its log-prob under the sampling distribution. */
export interface TokenLogprob {
  tokenId: number;
  /** -Infinity for tokens the nucleus (top-p) or greedy decoding excludes. */
  logprob: number;
}

/**
 * The token that completes a stop string (or is EOS) is kept whole in `tokenIds`, even when
 * its text runs past the stop string: ids are what the policy is trained on.
 */
export interface Completion {
  tokenIds: number[];
  /** Same length as tokenIds: each token's behaviour log-prob (see the top of this file; 0 when greedy). */
  logprobs: number[];
  /** Only when the request asked for topLogprobs: per token, the most probable first (ties by id). */
  topLogprobs?: TokenLogprob[][];
  /** 'stop': a stop string or an end-of-sequence token; 'length': maxTokens or the context ran out. */
  finishReason: 'stop' | 'length';
  /** The stop string that ended it; null for EOS and length. */
  stopString: string | null;
}

/** Called with each token as it is generated (streaming), before the completion resolves. */
export type TokenListener = (token: GeneratedToken) => void;

export interface GeneratedToken {
  tokenId: number;
  logprob: number;
  topLogprobs?: TokenLogprob[];
}

export interface GenerationEngine {
  /** Which model this engine serves (a folder path or a server's model name). */
  readonly model: string;
  /** `onToken`, where an engine supports it, sees every token of the completion in order as it is made. */
  complete(request: CompletionRequest, signal?: AbortSignal, onToken?: TokenListener): Promise<Completion>;
  /** Tokens generated since the engine was created: progress for heartbeats. */
  tokensGenerated(): number;
  close(): Promise<void>;
}
