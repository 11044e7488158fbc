/**
 * The generation engine interface: one completion request per trajectory segment, answered
 * with the generated token ids. `onnx` (in-process, onnxruntime-node in a worker thread)
 * and `openai` (an OpenAI-compatible server: vLLM, SGLang or `tirflow serve`) implement it.
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
}

/**
 * The token that completes a stop string (or is EOS) is kept whole in `tokenIds`, even when
 * its text runs past the stop string: ids are what the policy is trained on.
 */
export interface Completion {
  tokenIds: number[];
  /** 'stop': a stop string or an end-of-sequence token; 'length': maxTokens or the context ran out. */
  finishReason: 'stop' | 'length';
  /** The stop string that ended it; null for EOS and length. */
  stopString: string | null;
}

export interface GenerationEngine {
  /** Which model this engine serves (a folder path or a server's model name). */
  readonly model: string;
  complete(request: CompletionRequest, signal?: AbortSignal): Promise<Completion>;
  /** Tokens generated since the engine was created: progress for heartbeats. */
  tokensGenerated(): number;
  close(): Promise<void>;
}
