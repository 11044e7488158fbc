/**
 * The KV cache of the running sequences, kept by the engine rather than passed through
 * onnxruntime: each decode step feeds these buffers as the past (onnxruntime-node wraps them
 * without a copy) and appends the step's new keys and values in place, where the decoder
 * convention's `present` outputs would hand back a fresh copy of the whole cache every step.
 *
 * One buffer per layer and kind (key, value), [rows, kvHeads, capacity, headDim]. A row holds
 * its sequence's entries left-aligned in slots [0, length); the attention mask hides the slots
 * past a row's length (what they hold is finite and gets weight exactly 0). Capacity grows in
 * steps of CAPACITY_STEP slots: attention reads at most that many hidden slots per row, and a
 * regrow (a copy of the cache) happens once per CAPACITY_STEP tokens, not every token.
 */

export interface KvShape {
  numLayers: number;
  numKeyValueHeads: number;
  headDim: number;
}

/** Keys and values laid out [rows, kvHeads, time, headDim], key then value for each layer. */
export interface KvTensors {
  tensors: Float32Array[];
  time: number;
}

/** `length` entries of one row of a source, starting at time slot `start`. */
export interface RowSlice {
  from: KvTensors;
  row: number;
  start: number;
  length: number;
}

export const CAPACITY_STEP = 16;
/** Floats below which a plain loop copies faster than creating a subarray for set(). */
const SMALL_COPY = 256;

/** The smallest capacity (a multiple of CAPACITY_STEP) with room for `length` entries plus one. */
export function capacityFor(length: number): number {
  return Math.ceil((length + 1) / CAPACITY_STEP) * CAPACITY_STEP;
}

export class KvCache implements KvTensors {
  readonly tensors: Float32Array[];

  private constructor(
    readonly shape: KvShape,
    readonly rows: number,
    readonly capacity: number,
  ) {
    const size = rows * shape.numKeyValueHeads * capacity * shape.headDim;
    this.tensors = Array.from({ length: 2 * shape.numLayers }, () => new Float32Array(size));
  }

  get time(): number {
    return this.capacity;
  }

  /** A cache whose row r holds slices[r], left-aligned. */
  static gather(shape: KvShape, slices: RowSlice[], capacity: number): KvCache {
    const cache = new KvCache(shape, slices.length, capacity);
    slices.forEach((slice, r) => cache.copy(slice, r, 0));
    return cache;
  }

  /** Copies a slice into row `row` from slot `slot` on (the caller keeps within capacity). */
  copy(slice: RowSlice, row: number, slot: number): void {
    const { numKeyValueHeads: heads, headDim } = this.shape;
    const count = slice.length * headDim;
    if (count === 0) return;
    for (let t = 0; t < this.tensors.length; t++) {
      const src = slice.from.tensors[t]!;
      const dst = this.tensors[t]!;
      for (let h = 0; h < heads; h++) {
        const from = ((slice.row * heads + h) * slice.from.time + slice.start) * headDim;
        const to = ((row * heads + h) * this.capacity + slot) * headDim;
        if (count > SMALL_COPY) {
          dst.set(src.subarray(from, from + count), to);
        } else {
          // A decode step appends one slot per row and head: a loop, not a subarray per copy.
          for (let k = 0; k < count; k++) dst[to + k] = src[from + k]!;
        }
      }
    }
  }

  /** Row r's entries, for gathering them into another cache. */
  slice(row: number, length: number): RowSlice {
    return { from: this, row, start: 0, length };
  }
}
