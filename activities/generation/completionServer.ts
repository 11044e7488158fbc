/**
 * The `onnx` engine behind the OpenAI-compatible completions API (`tirflow serve`), bound to
 * 127.0.0.1, as a stand-in for vLLM. Endpoints: GET /health, GET /v1/models (with vLLM's
 * max_model_len), POST /v1/completions (the parameters are in completionRequest.ts; anything
 * else is a 400 naming it).
 *
 * Each choice carries the fields vLLM adds: `token_ids` (the generated ids, always returned:
 * clients must train on these, not on re-tokenized text) and `stop_reason` (the matched stop
 * string, or null for EOS and length). `text` ends before the matched stop string unless
 * `include_stop_str_in_output` (or SGLang's `no_stop_trim`) is true; then it is the decoding
 * of every generated token, the stop string and the rest of the token that completed it.
 *
 * `logprobs: k` returns, per generated token (all of them, trimmed text or not), its text, its
 * log-prob under the distribution it was sampled from (temperature and top-p applied, as
 * vLLM's `--logprobs-mode processed_logprobs`; 0 under greedy decoding, a point mass), its
 * offset in the untrimmed text, and for k > 0 the k most probable tokens of that distribution
 * plus the sampled one. -inf (outside the nucleus) is sent as -9999.0, as vLLM does: JSON has
 * no infinity.
 *
 * `stream: true` answers with server-sent events: one chunk per generated token (its text may
 * be empty while a character is incomplete or while text could still turn into a stop string),
 * a last chunk per choice with its finish_reason, a usage chunk if stream_options asks, then
 * `data: [DONE]`.
 *
 * Errors: 400 for what the client got wrong (a prompt that is empty, too long for the context,
 * or holds an id outside the vocabulary; a bad or unsupported parameter), 404 for another
 * model name or path, 500 only for the server's own failures.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomInt } from 'node:crypto';
import { basename } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { deriveSeed } from '../../common/schedule';
import { findStop, type Tokenizer } from '../../common/toolProtocol';
import {
  BadRequest,
  parseCompletionRequest,
  type ModelLimits,
  type ParsedCompletionRequest,
} from './completionRequest';
import type { Completion, CompletionRequest, GeneratedToken, GenerationEngine, TokenLogprob } from './engine';
import { IncrementalDecoder } from './incrementalDecoder';

export interface CompletionServerOptions {
  engine: GenerationEngine;
  tokenizer: Tokenizer;
  /** The served model's context and vocabulary, to refuse prompts it cannot read. */
  limits: ModelLimits;
  /** Name clients send as `model`; defaults to the model folder's name. */
  modelName?: string;
}

/** vLLM's stand-in for -inf in JSON. */
const NEG_INF_LOGPROB = -9999.0;

/** The OpenAI completions `logprobs` object of one choice (or of one streamed chunk). */
interface LogprobsBody {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[] | null;
  text_offset: number[];
}

const finite = (logprob: number): number => (Number.isFinite(logprob) ? logprob : NEG_INF_LOGPROB);

/** Builds a choice's `logprobs` token by token, tracking each token's text and its offset. */
class LogprobsBuilder {
  private readonly decoder: IncrementalDecoder;
  readonly body: LogprobsBody;

  constructor(
    private readonly tokenizer: Tokenizer,
    withTop: boolean,
  ) {
    this.decoder = new IncrementalDecoder(tokenizer.decode);
    this.body = { tokens: [], token_logprobs: [], top_logprobs: withTop ? [] : null, text_offset: [] };
  }

  get text(): string {
    return this.decoder.text;
  }

  /** Adds one token; returns the entry it added, as a one-token logprobs body. */
  add(token: GeneratedToken): LogprobsBody {
    const offset = this.decoder.text.length;
    const piece = this.decoder.push(token.tokenId);
    const entry: LogprobsBody = {
      tokens: [piece],
      token_logprobs: [finite(token.logprob)],
      top_logprobs: null,
      text_offset: [offset],
    };
    this.body.tokens.push(piece);
    this.body.token_logprobs.push(entry.token_logprobs[0]!);
    this.body.text_offset.push(offset);
    if (this.body.top_logprobs) {
      const top = this.topEntry(token);
      entry.top_logprobs = [top];
      this.body.top_logprobs.push(top);
    }
    return entry;
  }

  /** The k alternatives and the sampled token itself (as OpenAI and vLLM include it), by text. */
  private topEntry(token: GeneratedToken): Record<string, number> {
    const entries: TokenLogprob[] = [...(token.topLogprobs ?? [])];
    if (!entries.some((e) => e.tokenId === token.tokenId))
      entries.push({ tokenId: token.tokenId, logprob: token.logprob });
    return Object.fromEntries(entries.map((e) => [this.tokenizer.decode([e.tokenId]), finite(e.logprob)]));
  }
}

/** The completion's text: cut before the matched stop string unless the client keeps it. */
function choiceText(tokenizer: Tokenizer, completion: Completion, includeStopString: boolean): string {
  const text = tokenizer.decode(completion.tokenIds);
  if (includeStopString || completion.stopString === null) return text;
  const at = text.indexOf(completion.stopString);
  return at >= 0 ? text.slice(0, at) : text;
}

function engineRequests(request: ParsedCompletionRequest): CompletionRequest[] {
  return request.prompts.flatMap((promptTokenIds) =>
    Array.from({ length: request.n }, (_, i) => ({
      promptTokenIds,
      stop: request.stop,
      maxTokens: request.maxTokens,
      temperature: request.temperature,
      topP: request.topP,
      ignoreEos: request.ignoreEos,
      seed: i === 0 ? request.seed : deriveSeed(request.seed, i),
      ...(request.logprobs ? { topLogprobs: request.logprobs } : {}),
    })),
  );
}

function usage(request: ParsedCompletionRequest, results: Completion[]): Record<string, number> {
  const completionTokens = results.reduce((sum, r) => sum + r.tokenIds.length, 0);
  const promptTokens = request.prompts.reduce((sum, ids) => sum + ids.length * request.n, 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error();
    return value as Record<string, unknown>;
  } catch {
    throw new BadRequest('request body must be a JSON object');
  }
}

/** A request the engine refused as malformed (the engine's own checks) is the client's error too. */
function clientError(err: unknown): BadRequest | null {
  if (err instanceof BadRequest) return err;
  if (err instanceof ApplicationFailure && err.type === 'BadRequest') return new BadRequest(err.message);
  return null;
}

function errorBody(err: unknown): { status: number; body: unknown } {
  const bad = clientError(err);
  const status = bad ? bad.status : 500;
  const message = err instanceof Error ? err.message : String(err);
  const type = status === 500 ? 'server_error' : status === 404 ? 'not_found_error' : 'invalid_request_error';
  return { status, body: { error: { message, type, param: bad?.param ?? null, code: status } } };
}

export function createCompletionServer(options: CompletionServerOptions): Server {
  const { engine, tokenizer, limits } = options;
  const modelName = options.modelName ?? basename(engine.model);

  function header(): Record<string, unknown> {
    return {
      id: `cmpl-${randomInt(2 ** 47).toString(36)}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: modelName,
    };
  }

  async function complete(
    request: ParsedCompletionRequest,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const results = await Promise.all(engineRequests(request).map((r) => engine.complete(r, signal)));
    send(res, 200, {
      ...header(),
      choices: results.map((completion, index) => {
        const builder = new LogprobsBuilder(tokenizer, (request.logprobs ?? 0) > 0);
        completion.tokenIds.forEach((tokenId, t) =>
          builder.add({
            tokenId,
            logprob: completion.logprobs[t]!,
            ...(completion.topLogprobs ? { topLogprobs: completion.topLogprobs[t]! } : {}),
          }),
        );
        return {
          index,
          text: choiceText(tokenizer, completion, request.includeStopString),
          token_ids: completion.tokenIds,
          finish_reason: completion.finishReason,
          stop_reason: completion.stopString,
          logprobs: request.logprobs === null ? null : builder.body,
        };
      }),
      usage: usage(request, results),
    });
  }

  async function stream(
    request: ParsedCompletionRequest,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const top = header();
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const open = (): boolean => !res.writableEnded && !res.destroyed && !signal.aborted;
    const event = (data: unknown): void => {
      if (open()) res.write(`data: ${JSON.stringify(data)}\n\n`);
    };
    // Text that could still become the start of a stop string is held back until it cannot.
    const trimsStop = !request.includeStopString && request.stop.length > 0;
    const holdBack = trimsStop ? Math.max(...request.stop.map((s) => s.length - 1)) : 0;
    const requests = engineRequests(request);
    try {
      const results = await Promise.all(
        requests.map(async (engineRequest, index) => {
          const builder = new LogprobsBuilder(tokenizer, (request.logprobs ?? 0) > 0);
          let sent = 0;
          const onToken = (token: GeneratedToken): void => {
            const before = builder.text.length;
            const entry = builder.add(token);
            // The token that completes a stop string arrives before the engine stops on it.
            const completed = trimsStop ? findStop(builder.text, request.stop, before) : null;
            const safe = completed ? completed.index : builder.text.length - holdBack;
            const upTo = Math.max(sent, safe);
            event({
              ...top,
              choices: [
                {
                  index,
                  text: builder.text.slice(sent, upTo),
                  token_ids: [token.tokenId],
                  logprobs: request.logprobs === null ? null : entry,
                  finish_reason: null,
                  stop_reason: null,
                },
              ],
            });
            sent = upTo;
          };
          const completion = await engine.complete(engineRequest, signal, onToken);
          event({
            ...top,
            choices: [
              {
                index,
                text: choiceText(tokenizer, completion, request.includeStopString).slice(sent),
                token_ids: [],
                logprobs: null,
                finish_reason: completion.finishReason,
                stop_reason: completion.stopString,
              },
            ],
          });
          return completion;
        }),
      );
      if (request.includeUsage) event({ ...top, choices: [], usage: usage(request, results) });
      if (open()) res.end('data: [DONE]\n\n');
    } catch (err) {
      if (signal.aborted) return; // the client left; nobody to tell
      // Headers are out: the error travels as an event, as vLLM sends it.
      event(errorBody(err).body);
      if (open()) res.end('data: [DONE]\n\n');
      if (!clientError(err)) console.error('tirflow serve: streaming failed:', err);
    }
  }

  async function completions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const request = parseCompletionRequest(body, tokenizer, limits);
    if (request.model !== null && request.model !== modelName) {
      throw new BadRequest(
        `model ${JSON.stringify(request.model)} is not served here (serving "${modelName}")`,
        'model',
        404,
      );
    }
    const aborted = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) aborted.abort(new Error('client closed the connection'));
    });
    if (request.stream) return stream(request, res, aborted.signal);
    return complete(request, res, aborted.signal);
  }

  return createServer((req, res) => {
    const route = `${req.method} ${req.url?.split('?')[0]}`;
    const handle = async (): Promise<void> => {
      if (route === 'GET /health') return send(res, 200, { status: 'ok' });
      if (route === 'GET /v1/models') {
        return send(res, 200, {
          object: 'list',
          data: [
            {
              id: modelName,
              object: 'model',
              owned_by: 'tirflow',
              // vLLM's field: the longest prompt plus completion the model can attend over.
              ...(Number.isFinite(limits.contextLength) ? { max_model_len: limits.contextLength } : {}),
            },
          ],
        });
      }
      if (route === 'POST /v1/completions') return completions(req, res);
      throw new BadRequest(`no route ${route}`, null, 404);
    };
    handle().catch((err: unknown) => {
      const { status, body } = errorBody(err);
      if (res.destroyed) return; // the client left mid-request: its work was cancelled, nothing failed
      if (status === 500) console.error('tirflow serve: request failed:', err);
      if (!res.headersSent) send(res, status, body);
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Starts listening on 127.0.0.1 only: the server runs untrusted-looking prompts, never expose it. */
export async function listenLocal(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}
