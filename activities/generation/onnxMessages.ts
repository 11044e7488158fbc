/** Messages between the `onnx` engine and its worker thread (structured-clone friendly). */
import type { Completion, CompletionRequest } from './engine';
import type { OnnxSessionOptions } from './onnxBatch';

export type ToWorker =
  | { type: 'submit'; id: number; dir: string; options: OnnxSessionOptions; request: CompletionRequest }
  | { type: 'cancel'; id: number; dir: string; options: OnnxSessionOptions };

export type FromWorker =
  | { type: 'done'; id: number; completion: Completion }
  | { type: 'failed'; id: number; message: string; nonRetryable: boolean; errorType: string | null }
  | { type: 'progress'; tokens: number };
