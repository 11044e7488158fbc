/**
 * The `onnx` engine's worker thread: holds the loaded sessions (one OnnxBatch per model
 * folder and session options, the two most recently used kept) and runs their decode loops, so session.run never
 * blocks the activity worker's event loop and heartbeats keep flowing.
 */
import { parentPort } from 'node:worker_threads';
import { ApplicationFailure } from '@temporalio/common';
import { OnnxBatch, type OnnxSessionOptions } from './onnxBatch';
import type { FromWorker, ToWorker } from './onnxMessages';

const port = parentPort;
if (!port) throw new Error('onnxWorker.ts must run in a worker thread');

const KEEP_SESSIONS = 2;
const PROGRESS_EVERY_MS = 250;

const batches = new Map<string, Promise<OnnxBatch>>();
/** Request ids per folder, to fail them together when the folder cannot load or a run fails. */
const owners = new Map<string, Set<number>>();
let looping = false;
let lastProgress = 0;
let tokens = 0;

const send = (message: FromWorker): void => port.postMessage(message);

function fail(ids: Iterable<number>, err: unknown): void {
  const nonRetryable = err instanceof ApplicationFailure && err.nonRetryable === true;
  const errorType = err instanceof ApplicationFailure ? (err.type ?? null) : null;
  const message = err instanceof Error ? err.message : String(err);
  for (const id of ids) send({ type: 'failed', id, message, nonRetryable, errorType });
}

/** Sessions are keyed by folder and options: a different batch size or thread count is another session. */
function sessionKey(dir: string, options: OnnxSessionOptions): string {
  return JSON.stringify([
    dir,
    options.maxBatchSize,
    options.intraOpNumThreads ?? null,
    options.executionProvider ?? 'cpu',
  ]);
}

function batchFor(key: string, dir: string, options: OnnxSessionOptions): Promise<OnnxBatch> {
  let batch = batches.get(key);
  if (batch) {
    batches.delete(key); // re-insert: the map's order is least recently used first
    batches.set(key, batch);
    return batch;
  }
  batch = OnnxBatch.load(dir, options);
  batches.set(key, batch);
  batch.catch(() => batches.delete(key));
  return batch;
}

async function evictIdle(): Promise<void> {
  for (const [key, pending] of batches) {
    if (batches.size <= KEEP_SESSIONS) return;
    const batch = await pending.catch(() => null);
    // Another eviction pass may have handled this entry while we awaited it.
    if (batches.get(key) !== pending) continue;
    // Requests register as owners before their session has loaded: a session with owners is in use.
    if (!batch || (batch.idle && (owners.get(key)?.size ?? 0) === 0)) {
      batches.delete(key);
      await batch?.release();
    }
  }
}

async function loop(): Promise<void> {
  if (looping) return;
  looping = true;
  try {
    for (;;) {
      let worked = false;
      for (const [key, pending] of [...batches]) {
        const batch = await pending.catch(() => null);
        if (!batch || batch.idle) continue;
        worked = true;
        const before = batch.tokensGenerated;
        try {
          await batch.step({
            finish(id, completion) {
              owners.get(key)?.delete(id);
              send({ type: 'done', id, completion });
            },
            token(id, token) {
              send({ type: 'token', id, token });
            },
          });
        } catch (err) {
          // A failed run leaves the cache in an unknown state: drop the session, fail its requests.
          batches.delete(key);
          fail(owners.get(key) ?? [], err);
          owners.delete(key);
          await batch.release().catch(() => undefined);
        }
        tokens += batch.tokensGenerated - before;
      }
      if (Date.now() - lastProgress > PROGRESS_EVERY_MS) {
        lastProgress = Date.now();
        send({ type: 'progress', tokens });
      }
      if (!worked) break;
      // Let submissions and cancellations that arrived meanwhile be handled.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    looping = false;
    send({ type: 'progress', tokens });
  }
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    const key = sessionKey(message.dir, message.options);
    void batches
      .get(key)
      ?.then((b) => b.cancel(message.id))
      .catch(() => undefined);
    owners.get(key)?.delete(message.id);
    return;
  }
  const { id, dir, options, request, stream } = message;
  const key = sessionKey(dir, options);
  if (request.promptTokenIds.length === 0) {
    fail(
      [id],
      ApplicationFailure.nonRetryable('a completion request needs at least one prompt token', 'BadRequest'),
    );
    return;
  }
  let set = owners.get(key);
  if (!set) owners.set(key, (set = new Set()));
  set.add(id);
  batchFor(key, dir, options).then(
    (batch) => {
      try {
        batch.submit(id, request, stream);
      } catch (err) {
        set.delete(id);
        fail([id], err);
        return;
      }
      evictIdle().catch((err: unknown) =>
        console.error('onnx engine: releasing an idle session failed:', err),
      );
      void loop();
    },
    (err: unknown) => {
      set.delete(id);
      fail([id], err);
    },
  );
});
