// The BatchModel of a preallocated-kv graph: feeds the cache buffers as they are, runs the session,
// writes the step's new keys and values into the buffers, and grows them in blocks when a row would
// not fit. Per step nothing of the past is copied, neither by the graph nor by the binding.
import * as ort from 'onnxruntime-node';
import { float32Values } from '../float16';
import { kvData, type KvShape } from '../kv-cache';
import type { LoadedModel } from '../model';
import type { BatchModel, TransferTotals } from '../scheduler/batch-model';
import { feedBytes } from '../step-feeds';
import { PreallocatedCache, type NewKeyValues, type PreallocatedRowSource } from './cache';

/**
 * Slots a cache grows by. Attention reads (masked) every slot each step, so a cache sized to the
 * full context from the start would make short sequences pay for 1024 positions; a block bounds
 * that waste, and growing copies the rows once per block rather than the whole past every step.
 */
export const DEFAULT_CACHE_BLOCK_TOKENS = 128;

export interface PreallocatedKvOptions {
  /** @default DEFAULT_CACHE_BLOCK_TOKENS */
  readonly blockTokens?: number;
}

export interface PreallocatedStep {
  /** `[batch, seq, vocab]` logits, row-major. */
  readonly logits: Float32Array;
  readonly seqLength: number;
  readonly cache: PreallocatedCache;
}

export class PreallocatedKvRunner implements BatchModel {
  readonly kvShape: KvShape;
  readonly vocabSize: number;
  /** The cache buffers are host memory handed to onnxruntime every step: on cpu they cross only the binding. */
  readonly transfers: TransferTotals = { toDevice: 0, toHost: 0 };
  readonly blockTokens: number;
  private readonly contextLength: number;
  /** Feed and output names per layer, built once: every step uses them. */
  private readonly cacheNames: readonly (readonly [string, string])[];
  private readonly newNames: readonly (readonly [string, string])[];

  constructor(
    private readonly model: LoadedModel,
    options: PreallocatedKvOptions = {},
  ) {
    if (model.kvCache !== 'preallocated') throw new Error(`${model.onnxPath} takes a ${model.kvCache} KV cache, not a preallocated one`);
    const { nLayer, nHead, nEmbd, vocabSize, nPositions } = model.config;
    this.kvShape = { nLayer, nHead, headDim: nEmbd / nHead, dtype: model.kvDtype };
    this.vocabSize = vocabSize;
    this.contextLength = nPositions;
    this.cacheNames = Array.from({ length: nLayer }, (_, i) => [`cache.${i}.key`, `cache.${i}.value`] as const);
    this.newNames = Array.from({ length: nLayer }, (_, i) => [`new.${i}.key`, `new.${i}.value`] as const);
    this.blockTokens = options.blockTokens ?? DEFAULT_CACHE_BLOCK_TOKENS;
    if (!Number.isInteger(this.blockTokens) || this.blockTokens < 1) throw new Error(`blockTokens must be a positive integer, got ${this.blockTokens}`);
  }

  /**
   * Runs `seq` new tokens for every row of `past` (`inputIds` is `[batch, seq]`); `newLengths[r]`
   * (default `seq`) of row r's new tokens are real, the rest left padding, only on an empty past.
   */
  async forward(past: PreallocatedCache, inputIds: BigInt64Array, seq: number, newLengths?: readonly number[]): Promise<PreallocatedStep> {
    const batch = past.batchSize;
    if (newLengths && past.lengths.some((n) => n > 0) && newLengths.some((n) => n !== seq)) {
      throw new Error('left-padded new tokens need an empty past (the padding would split a row)');
    }
    past.claim();
    const padding = Array.from({ length: batch }, (_, r) => seq - (newLengths?.[r] ?? seq));
    const needed = Math.max(...past.lengths.map((length, r) => length + seq - (padding[r] ?? 0)));
    const cache = needed > past.capacity ? this.grow(past, needed) : past;
    const capacity = cache.capacity;

    const width = capacity + seq;
    const mask = new BigInt64Array(batch * width);
    const positions = new BigInt64Array(batch * seq);
    for (let r = 0; r < batch; r++) {
      const length = cache.lengths[r] ?? 0;
      const skip = padding[r] ?? 0;
      mask.fill(1n, r * width, r * width + length);
      mask.fill(1n, r * width + capacity + skip, (r + 1) * width);
      for (let j = skip; j < seq; j++) positions[r * seq + j] = BigInt(length + j - skip);
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', inputIds, [batch, seq]),
      attention_mask: new ort.Tensor('int64', mask, [batch, width]),
      position_ids: new ort.Tensor('int64', positions, [batch, seq]),
    };
    this.cacheNames.forEach(([keyName, valueName], layer) => {
      const [keys, values] = cache.inputs(layer);
      feeds[keyName] = keys;
      feeds[valueName] = values;
    });
    const outputs = await this.model.session.run(feeds);
    this.transfers.toDevice += feedBytes(feeds);
    this.transfers.toHost += feedBytes(outputs);
    const logits = outputs.logits;
    if (!logits) throw new Error('the model returned no logits output');
    const step: NewKeyValues[] = this.newNames.map(([keyName, valueName]) => {
      const keys = outputs[keyName];
      const values = outputs[valueName];
      if (!keys || !values) throw new Error(`the model returned no ${keyName}/${valueName} output`);
      return { keys: kvData(keys), values: kvData(values) };
    });
    const values = float32Values(logits);
    return { logits: values, seqLength: seq, cache: cache.append(step, seq, padding) };
  }

  emptyCache(rows: number): PreallocatedCache {
    return PreallocatedCache.empty(this.kvShape, rows);
  }

  /** A new cache whose row i is a copy of `sources[i]`, sized to the blocks its longest row needs. */
  gatherRows(sources: readonly PreallocatedRowSource[]): PreallocatedCache {
    const longest = Math.max(0, ...sources.map((s) => s.cache.lengths[s.row] ?? 0));
    return PreallocatedCache.gather(this.kvShape, sources, this.capacityFor(longest));
  }

  positionLogits(result: PreallocatedStep, row: number, position: number): Float32Array {
    const start = (row * result.seqLength + position) * this.vocabSize;
    return result.logits.subarray(start, start + this.vocabSize);
  }

  lastLogits(result: PreallocatedStep, row: number): Float32Array {
    return this.positionLogits(result, row, result.seqLength - 1);
  }

  /** Slots for `tokens`: whole blocks, but never more than the context (unless a row already needs more). */
  private capacityFor(tokens: number): number {
    if (tokens === 0) return 0;
    const blocks = Math.ceil(tokens / this.blockTokens) * this.blockTokens;
    return Math.max(tokens, Math.min(blocks, this.contextLength));
  }

  private grow(cache: PreallocatedCache, needed: number): PreallocatedCache {
    const rows = Array.from({ length: cache.batchSize }, (_, row) => ({ cache, row }));
    return PreallocatedCache.gather(this.kvShape, rows, this.capacityFor(needed));
  }
}
