/** Messages between the `onnx` engine and its worker thread (structured-clone friendly). */
import type { Completion, CompletionRequest, GeneratedToken } from './engine';
import type { OnnxSessionOptions } from './onnxBatch';

export type ToWorker =
  | {
      type: 'submit';
      id: number;
      dir: string;
      options: OnnxSessionOptions;
      request: CompletionRequest;
      /** Send a 'token' message for each token as it is made. */
      stream: boolean;
    }
  | { type: 'cancel'; id: number; dir: string; options: OnnxSessionOptions };

export type FromWorker =
  | { type: 'token'; id: number; token: GeneratedToken }
  | { type: 'done'; id: number; completion: Completion }
  | { type: 'failed'; id: number; message: string; nonRetryable: boolean; errorType: string | null }
  | { type: 'progress'; tokens: number };
