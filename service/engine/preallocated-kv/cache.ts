// The preallocated KV cache: per layer one key buffer `[rows, heads, headDim, capacity]` (stored
// transposed, so the graph's attention reads it in place) and one value buffer `[rows, heads,
// capacity, headDim]`. Row r holds its `lengths[r]` tokens in slots 0..lengths[r]-1; a step's new keys
// and values are written into the next slots, and nothing of the past is copied until rows change.
import * as ort from 'onnxruntime-node';
import { float16Input } from '../float16';
import type { KvData, KvShape } from '../kv-cache';
import type { BatchCache } from '../scheduler/batch-model';

/** Where a row of a rebuilt cache comes from: row `row` of `cache`. */
export interface PreallocatedRowSource {
  readonly cache: PreallocatedCache;
  readonly row: number;
}

/** A step's new keys `[rows, heads, headDim, seq]` and values `[rows, heads, seq, headDim]` for one layer. */
export interface NewKeyValues {
  readonly keys: KvData;
  readonly values: KvData;
}

export class PreallocatedCache implements BatchCache {
  private stepped = false;

  /**
   * @param keys per layer, `[batchSize, heads, headDim, capacity]`
   * @param values per layer, `[batchSize, heads, capacity, headDim]`
   * @param lengths tokens each row holds, from slot 0
   */
  private constructor(
    readonly shape: KvShape,
    private readonly keys: readonly KvData[],
    private readonly values: readonly KvData[],
    readonly batchSize: number,
    readonly capacity: number,
    readonly lengths: readonly number[],
  ) {}

  /** Rows with no tokens and no buffers yet: the first step allocates them at the size it needs. */
  static empty(shape: KvShape, batchSize: number): PreallocatedCache {
    return PreallocatedCache.allocate(shape, batchSize, 0, new Array<number>(batchSize).fill(0));
  }

  /** A new cache of `capacity` slots whose row i is a copy of `sources[i]` (rows kept, dropped, duplicated or reordered). */
  static gather(shape: KvShape, sources: readonly PreallocatedRowSource[], capacity: number): PreallocatedCache {
    const lengths = sources.map((s) => s.cache.lengths[s.row] ?? 0);
    const longest = Math.max(0, ...lengths);
    if (longest > capacity) throw new Error(`a row of ${longest} tokens does not fit a cache of ${capacity} slots`);
    const cache = PreallocatedCache.allocate(shape, sources.length, capacity, lengths);
    const { nHead, headDim } = shape;
    sources.forEach((source, dstRow) => {
      const length = lengths[dstRow] ?? 0;
      if (length === 0) return;
      const from = source.cache;
      for (let layer = 0; layer < shape.nLayer; layer++) {
        const srcKeys = from.keys[layer] as KvData;
        const dstKeys = cache.keys[layer] as KvData;
        const srcValues = from.values[layer] as KvData;
        const dstValues = cache.values[layer] as KvData;
        for (let h = 0; h < nHead; h++) {
          for (let d = 0; d < headDim; d++) {
            const src = ((source.row * nHead + h) * headDim + d) * from.capacity;
            dstKeys.set(srcKeys.subarray(src, src + length), ((dstRow * nHead + h) * headDim + d) * capacity);
          }
          const src = (source.row * nHead + h) * from.capacity * headDim;
          dstValues.set(srcValues.subarray(src, src + length * headDim), (dstRow * nHead + h) * capacity * headDim);
        }
      }
    });
    return cache;
  }

  private static allocate(shape: KvShape, batchSize: number, capacity: number, lengths: readonly number[]): PreallocatedCache {
    const size = batchSize * shape.nHead * shape.headDim * capacity;
    const buffer = () => (shape.dtype === 'float32' ? new Float32Array(size) : new Uint16Array(size));
    const keys = Array.from({ length: shape.nLayer }, buffer);
    const values = Array.from({ length: shape.nLayer }, buffer);
    return new PreallocatedCache(shape, keys, values, batchSize, capacity, lengths);
  }

  /** Layer `layer`'s buffers as graph inputs (views, not copies). */
  inputs(layer: number): readonly [ort.Tensor, ort.Tensor] {
    const { nHead, headDim, dtype } = this.shape;
    const tensor = (data: KvData, dims: number[]) =>
      dtype === 'float32' ? new ort.Tensor('float32', data as Float32Array, dims) : float16Input(new ort.Tensor('float16', data as Uint16Array, dims));
    return [
      tensor(this.keys[layer] as KvData, [this.batchSize, nHead, headDim, this.capacity]),
      tensor(this.values[layer] as KvData, [this.batchSize, nHead, this.capacity, headDim]),
    ];
  }

  /**
   * Claims this cache for one forward pass. A cache steps once: the step writes its tokens into the
   * shared buffers after each row's last slot, so a second step from the same cache would overwrite
   * the first step's tokens. (Gathering rows from it stays safe: that reads only its own slots.)
   */
  claim(): void {
    if (this.stepped) throw new Error('this preallocated KV cache was already stepped: run the next step from the cache the last step returned');
    this.stepped = true;
  }

  /**
   * Writes a step's new keys and values of every layer into the slots after each row's tokens and
   * returns the cache that holds them (the same buffers). Row r's first `padding[r]` new positions
   * are left padding and are not kept.
   */
  append(step: readonly NewKeyValues[], seq: number, padding: readonly number[]): PreallocatedCache {
    const { nHead, headDim } = this.shape;
    const capacity = this.capacity;
    const lengths = this.lengths.map((length, r) => length + seq - (padding[r] ?? 0));
    if (Math.max(0, ...lengths) > capacity) throw new Error(`the step's tokens do not fit the cache's ${capacity} slots (grow it first)`);
    step.forEach(({ keys: newKeys, values: newValues }, layer) => {
      const keys = this.keys[layer] as KvData;
      const values = this.values[layer] as KvData;
      for (let r = 0; r < this.batchSize; r++) {
        const skip = padding[r] ?? 0;
        const real = seq - skip;
        const start = this.lengths[r] ?? 0;
        for (let h = 0; h < nHead; h++) {
          const head = r * nHead + h;
          for (let d = 0; d < headDim; d++) {
            const src = (head * headDim + d) * seq + skip;
            const dst = (head * headDim + d) * capacity + start;
            for (let j = 0; j < real; j++) keys[dst + j] = newKeys[src + j] as number;
          }
          const src = (head * seq + skip) * headDim;
          values.set(newValues.subarray(src, src + real * headDim), (head * capacity + start) * headDim);
        }
      }
    });
    return new PreallocatedCache(this.shape, this.keys, this.values, this.batchSize, capacity, lengths);
  }
}
