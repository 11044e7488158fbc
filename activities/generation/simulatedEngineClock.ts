/**
 * The pace of one simulated inference replica: `tokensPerSecond` generated tokens per second,
 * shared equally by the requests in flight (processor sharing, as continuous batching shares a
 * GPU among its sequences). A request for n tokens ends when it has received n tokens of service:
 * alone it takes n / rate seconds; with k requests in flight each progresses at rate / k.
 *
 * Kept as virtual time: V grows at rate / k per second while k > 0, and a request that arrives at
 * V0 ends when V reaches V0 + n. A binary heap orders the finish tags; one timer waits for the
 * earliest.
 */

interface Waiter {
  finishTag: number;
  resolve: () => void;
  done: boolean;
}

export class ReplicaClock {
  private virtual = 0;
  private lastUpdate = performance.now();
  private readonly heap: Waiter[] = [];
  private active = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly tokensPerSecond: number) {
    if (!(tokensPerSecond > 0))
      throw new RangeError(`tokensPerSecond must be positive, got ${tokensPerSecond}`);
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.active;
  }

  /** Resolves when `tokens` tokens have been generated for this request; rejects when aborted. */
  serve(tokens: number, signal?: AbortSignal): Promise<void> {
    if (tokens <= 0) return Promise.resolve();
    signal?.throwIfAborted();
    this.advance();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { finishTag: this.virtual + tokens, resolve: () => undefined, done: false };
      const onAbort = (): void => {
        this.advance();
        if (waiter.done) return;
        waiter.done = true;
        this.active -= 1;
        this.reschedule();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('generation aborted'));
      };
      waiter.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.push(waiter);
      this.active += 1;
      this.reschedule();
    });
  }

  /** Moves virtual time to now and releases every request whose service is complete. */
  private advance(): void {
    const now = performance.now();
    if (this.active > 0)
      this.virtual += ((now - this.lastUpdate) / 1000) * (this.tokensPerSecond / this.active);
    this.lastUpdate = now;
    // A small tolerance: a timer never fires early by more than a rounding error.
    while (this.heap.length > 0 && this.heap[0]!.finishTag <= this.virtual + 1e-6) {
      const waiter = this.pop();
      if (waiter.done) continue;
      waiter.done = true;
      this.active -= 1;
      waiter.resolve();
    }
  }

  private reschedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.heap.length > 0 && this.heap[0]!.done) this.pop();
    const next = this.heap[0];
    if (!next || this.active === 0) return;
    const seconds = ((next.finishTag - this.virtual) * this.active) / this.tokensPerSecond;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.advance();
        this.reschedule();
      },
      Math.max(0, Math.ceil(seconds * 1000)),
    );
  }

  private push(waiter: Waiter): void {
    const heap = this.heap;
    heap.push(waiter);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.finishTag <= heap[i]!.finishTag) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  private pop(): Waiter {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && heap[left]!.finishTag < heap[smallest]!.finishTag) smallest = left;
        if (right < heap.length && heap[right]!.finishTag < heap[smallest]!.finishTag) smallest = right;
        if (smallest === i) break;
        [heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!];
        i = smallest;
      }
    }
    return top;
  }
}

const replicas = new Map<number, ReplicaClock>();

/** This process's replica at `tokensPerSecond`: every engine of the process shares it. */
export function replicaClock(tokensPerSecond: number): ReplicaClock {
  let clock = replicas.get(tokensPerSecond);
  if (!clock) {
    clock = new ReplicaClock(tokensPerSecond);
    replicas.set(tokensPerSecond, clock);
  }
  return clock;
}
