// The batch's key/value cache: one [batch, heads, past, headDim] tensor per layer and per key/value,
// rows left-padded so that every row's real tokens end at the last column.
import * as ort from 'onnxruntime-node';
import { float16Bits } from './float16';

/** Float32Array for fp32 caches, Uint16Array for fp16 ones (copied as raw bits). */
export type KvData = Float32Array | Uint16Array;

export interface KvShape {
  readonly nLayer: number;
  readonly nHead: number;
  readonly headDim: number;
  readonly dtype: 'float32' | 'float16';
}

/** Where a row of a rebuilt cache comes from: row `row` of `cache`. */
export interface RowSource {
  readonly cache: KvCache;
  readonly row: number;
}

export class KvCache {
  /**
   * @param tensors per layer `[key, value]`, each `[batch, heads, pastLength, headDim]`
   * @param lengths real (unpadded) tokens of each row; row r occupies the last lengths[r] columns
   */
  private constructor(
    readonly shape: KvShape,
    readonly tensors: readonly (readonly [ort.Tensor, ort.Tensor])[],
    readonly batchSize: number,
    readonly pastLength: number,
    readonly lengths: readonly number[],
  ) {}

  /** A cache with no past, for the first run of a prompt (`batch` rows of length 0). */
  static empty(shape: KvShape, batchSize: number): KvCache {
    const tensors = Array.from({ length: shape.nLayer }, () => {
      const dims = [batchSize, shape.nHead, 0, shape.headDim];
      return [newTensor(shape.dtype, allocate(shape.dtype, 0), dims), newTensor(shape.dtype, allocate(shape.dtype, 0), dims)] as const;
    });
    return new KvCache(shape, tensors, batchSize, 0, new Array<number>(batchSize).fill(0));
  }

  /**
   * The cache after a run: the run's `present` outputs become the next `past` as they are (no copy);
   * `lengths` are the rows' real lengths including the tokens just run.
   */
  static fromPresent(
    shape: KvShape,
    present: readonly (readonly [ort.Tensor, ort.Tensor])[],
    lengths: readonly number[],
  ): KvCache {
    const first = present[0]?.[0];
    if (!first) throw new Error('the model returned no present key/value tensors');
    const [batchSize, , pastLength] = first.dims as [number, number, number, number];
    return new KvCache(shape, present, batchSize, pastLength, lengths);
  }

  /**
   * A new cache whose row i is a copy of `sources[i]`, right-aligned; its past length is the longest
   * source row, so leading columns that were padding in every kept row are dropped.
   */
  static gather(shape: KvShape, sources: readonly RowSource[]): KvCache {
    const lengths = sources.map((s) => s.cache.lengths[s.row] ?? 0);
    const pastLength = Math.max(0, ...lengths);
    const batchSize = sources.length;
    const { nHead, headDim } = shape;
    const tensors = Array.from({ length: shape.nLayer }, (_, layer) => {
      const pair = [0, 1].map((kv) => {
        const dst = allocate(shape.dtype, batchSize * nHead * pastLength * headDim);
        sources.forEach((source, dstRow) => {
          const length = lengths[dstRow] ?? 0;
          if (length === 0) return;
          const srcTensor = source.cache.tensors[layer]?.[kv];
          if (!srcTensor) throw new Error(`cache has no layer ${layer}`);
          const src = kvData(srcTensor);
          const srcPast = source.cache.pastLength;
          for (let h = 0; h < nHead; h++) {
            const from = ((source.row * nHead + h) * srcPast + (srcPast - length)) * headDim;
            const to = ((dstRow * nHead + h) * pastLength + (pastLength - length)) * headDim;
            dst.set(src.subarray(from, from + length * headDim), to);
          }
        });
        return newTensor(shape.dtype, dst, [batchSize, nHead, pastLength, headDim]);
      });
      return [pair[0], pair[1]] as [ort.Tensor, ort.Tensor];
    });
    return new KvCache(shape, tensors, batchSize, pastLength, lengths);
  }
}

/** A cache tensor's elements: float32 values, or float16 raw bits (whatever array type the runtime returned). */
/** A host cache tensor's data: float32 values, or float16 bits. */
export function kvData(tensor: ort.Tensor): KvData {
  return tensor.type === 'float16' ? float16Bits(tensor.data as Uint16Array) : (tensor.data as Float32Array);
}

function allocate(dtype: KvShape['dtype'], size: number): KvData {
  return dtype === 'float32' ? new Float32Array(size) : new Uint16Array(size);
}

function newTensor(dtype: KvShape['dtype'], data: KvData, dims: number[]): ort.Tensor {
  return dtype === 'float32' ? new ort.Tensor('float32', data as Float32Array, dims) : new ort.Tensor('float16', data as Uint16Array, dims);
}
