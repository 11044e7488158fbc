/**
 * The `onnx` engine, main-thread side: forwards completion requests to the worker thread that
 * owns onnxruntime (one per process, shared by every engine instance, so concurrent
 * activities on the same policy are batched together).
 */
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ApplicationFailure } from '@temporalio/common';
import type { Completion, CompletionRequest, GenerationEngine, TokenListener } from './engine';
import type { OnnxSessionOptions } from './onnxBatch';
import type { FromWorker, ToWorker } from './onnxMessages';

interface Pending {
  resolve: (completion: Completion) => void;
  reject: (err: Error) => void;
  onToken?: TokenListener;
}

class EngineThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  tokens = 0;

  constructor() {
    // The worker is TypeScript: register tsx's loader in it first, whatever started this process.
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./onnxWorker.ts', import.meta.url).href;
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    this.worker = new Worker(boot, { eval: true });
    this.worker.unref();
    this.worker.on('message', (message: FromWorker) => this.receive(message));
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => {
      this.failAll(new Error(`onnx engine thread exited with code ${code}`));
      if (thread === this) thread = null;
    });
  }

  private receive(message: FromWorker): void {
    if (message.type === 'progress') {
      this.tokens = message.tokens;
      return;
    }
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    if (message.type === 'token') {
      waiter.onToken?.(message.token);
      return;
    }
    this.settle(message.id);
    if (message.type === 'done') waiter.resolve(message.completion);
    else if (message.nonRetryable)
      waiter.reject(ApplicationFailure.nonRetryable(message.message, message.errorType));
    else waiter.reject(new Error(message.message));
  }

  private settle(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref(); // an idle engine must not keep the process alive
  }

  private failAll(err: Error): void {
    for (const [id, waiter] of this.pending) {
      this.settle(id);
      waiter.reject(err);
    }
  }

  submit(
    dir: string,
    options: OnnxSessionOptions,
    request: CompletionRequest,
    signal?: AbortSignal,
    onToken?: TokenListener,
  ): Promise<Completion> {
    const id = this.nextId++;
    return new Promise<Completion>((resolvePromise, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      this.pending.set(id, { resolve: resolvePromise, reject, ...(onToken ? { onToken } : {}) });
      this.worker.ref();
      this.post({ type: 'submit', id, dir, options, request, stream: onToken !== undefined });
      signal?.addEventListener(
        'abort',
        () => {
          if (!this.pending.has(id)) return;
          this.settle(id);
          this.post({ type: 'cancel', id, dir, options });
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

let thread: EngineThread | null = null;

function engineThread(): EngineThread {
  thread ??= new EngineThread();
  return thread;
}

/** Stops the shared engine thread (sessions are dropped); the next request starts a new one. */
export async function stopOnnxEngineThread(): Promise<void> {
  const current = thread;
  thread = null;
  await current?.terminate();
}

export class OnnxEngine implements GenerationEngine {
  readonly model: string;
  private readonly startTokens: number;

  constructor(
    dir: string,
    private readonly options: OnnxSessionOptions,
  ) {
    this.model = resolve(dir);
    this.startTokens = engineThread().tokens;
  }

  complete(request: CompletionRequest, signal?: AbortSignal, onToken?: TokenListener): Promise<Completion> {
    return engineThread().submit(this.model, this.options, request, signal, onToken);
  }

  /** Tokens the shared thread generated since this engine was made (all its users' tokens). */
  tokensGenerated(): number {
    return engineThread().tokens - this.startTokens;
  }

  async close(): Promise<void> {
    // Sessions stay cached in the shared thread for the next activity on the same policy.
  }
}
