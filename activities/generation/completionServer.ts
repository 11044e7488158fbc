/**
 * The `onnx` engine behind the OpenAI-compatible completions API (`tirflow serve`), bound to
 * 127.0.0.1. Endpoints: GET /health, GET /v1/models, POST /v1/completions (no streaming).
 *
 * Request fields: model (optional; must match when given), prompt (string, token ids, or a
 * list of either), max_tokens (default 16), temperature (default 1), top_p (default 1),
 * seed, stop (string or list), n (choice i > 0 samples with seed derived from (seed, i)),
 * ignore_eos (vLLM's name: generate past EOS, for fixed-length benchmarks).
 *
 * Extension fields in each choice, the same names vLLM uses: `token_ids` (the generated ids,
 * always returned; clients must train on these, not on re-tokenized text) and `stop_reason`
 * (the matched stop string, or null for EOS/length). `text` is the decoding of `token_ids`
 * and so always includes the stop string and the rest of the token that completed it, as
 * vLLM's `include_stop_str_in_output: true` would.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomInt } from 'node:crypto';
import { basename } from 'node:path';
import { deriveSeed } from '../../common/schedule';
import type { Tokenizer } from '../../common/toolProtocol';
import type { CompletionRequest, GenerationEngine } from './engine';

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface CompletionServerOptions {
  engine: GenerationEngine;
  tokenizer: Tokenizer;
  /** Name clients send as `model`; defaults to the model folder's name. */
  modelName?: string;
}

function number(body: Record<string, unknown>, field: string, fallback: number): number {
  const value = body[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new BadRequest(`${field} must be a number`);
  return value;
}

function prompts(value: unknown, tokenizer: Tokenizer): number[][] {
  const isIds = (v: unknown): v is number[] =>
    Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x));
  if (typeof value === 'string') return [tokenizer.encode(value)];
  if (isIds(value)) return [value];
  if (Array.isArray(value) && value.length > 0) {
    return value.map((p) => {
      if (typeof p === 'string') return tokenizer.encode(p);
      if (isIds(p)) return p;
      throw new BadRequest('prompt must be a string, a list of token ids, or a list of those');
    });
  }
  throw new BadRequest('prompt must be a string, a list of token ids, or a list of those');
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

export function createCompletionServer(options: CompletionServerOptions): Server {
  const { engine, tokenizer } = options;
  const modelName = options.modelName ?? basename(engine.model);

  async function completions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (body.model !== undefined && body.model !== modelName) {
      throw new BadRequest(
        `model ${JSON.stringify(body.model)} is not served here (serving "${modelName}")`,
        404,
      );
    }
    if (body.stream) throw new BadRequest('stream is not supported');
    const stop =
      body.stop === undefined || body.stop === null ? [] : Array.isArray(body.stop) ? body.stop : [body.stop];
    if (!stop.every((s): s is string => typeof s === 'string' && s.length > 0))
      throw new BadRequest('stop must be strings');
    const n = number(body, 'n', 1);
    if (!Number.isInteger(n) || n < 1 || n > 128) throw new BadRequest('n must be an integer from 1 to 128');
    const seed = Math.trunc(number(body, 'seed', randomInt(2 ** 31)));
    const base = {
      stop,
      maxTokens: Math.trunc(number(body, 'max_tokens', 16)),
      temperature: number(body, 'temperature', 1),
      topP: number(body, 'top_p', 1),
      ignoreEos: body.ignore_eos === true,
    };
    if (base.maxTokens < 0) throw new BadRequest('max_tokens must be >= 0');
    if (base.temperature < 0 || base.topP <= 0 || base.topP > 1)
      throw new BadRequest('temperature >= 0 and 0 < top_p <= 1');
    const promptIds = prompts(body.prompt, tokenizer);
    const aborted = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) aborted.abort(new Error('client closed the connection'));
    });
    const requests: CompletionRequest[] = promptIds.flatMap((ids) =>
      Array.from({ length: n }, (_, i) => ({
        ...base,
        promptTokenIds: ids,
        seed: i === 0 ? seed : deriveSeed(seed, i),
      })),
    );
    const results = await Promise.all(requests.map((r) => engine.complete(r, aborted.signal)));
    const completionTokens = results.reduce((sum, r) => sum + r.tokenIds.length, 0);
    const promptTokens = promptIds.reduce((sum, ids) => sum + ids.length, 0);
    send(res, 200, {
      id: `cmpl-${randomInt(2 ** 47).toString(36)}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: modelName,
      choices: results.map((r, index) => ({
        index,
        text: tokenizer.decode(r.tokenIds),
        token_ids: r.tokenIds,
        finish_reason: r.finishReason,
        stop_reason: r.stopString,
        logprobs: null,
      })),
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    });
  }

  return createServer((req, res) => {
    const route = `${req.method} ${req.url?.split('?')[0]}`;
    const handle = async (): Promise<void> => {
      if (route === 'GET /health') return send(res, 200, { status: 'ok' });
      if (route === 'GET /v1/models') {
        return send(res, 200, {
          object: 'list',
          data: [{ id: modelName, object: 'model', owned_by: 'tirflow' }],
        });
      }
      if (route === 'POST /v1/completions') return completions(req, res);
      throw new BadRequest(`no route ${route}`, 404);
    };
    handle().catch((err: unknown) => {
      const status = err instanceof BadRequest ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent)
        send(res, status, {
          error: { message, type: status === 500 ? 'server_error' : 'invalid_request_error' },
        });
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
