// One forward pass of the model over a batch on the host cache: feeds the step's inputs and the past
// from a KvCache, runs the session, and returns the logits with the grown cache (the present, as read back).
import * as ort from 'onnxruntime-node';
import { float16Input, float32Values } from './float16';
import { KvCache, type KvShape, type RowSource } from './kv-cache';
import type { LoadedModel } from './model';
import type { BatchModel, TransferTotals } from './scheduler/batch-model';
import { feedBytes, stepFeeds } from './step-feeds';

export interface ForwardResult {
  /** `[batch, seq, vocab]` logits, row-major; take views with `lastLogits`/`positionLogits`. */
  readonly logits: Float32Array;
  readonly seqLength: number;
  /** The cache including the tokens just run (the session's `present`, not copied). */
  readonly cache: KvCache;
}

export class ModelRunner implements BatchModel {
  readonly kvShape: KvShape;
  readonly vocabSize: number;
  /** Every feed goes to onnxruntime as host memory and every output comes back as host memory. */
  readonly transfers: TransferTotals = { toDevice: 0, toHost: 0 };
  private readonly presentNames: readonly (readonly [string, string])[];
  private readonly pastNames: readonly (readonly [string, string])[];

  constructor(private readonly model: LoadedModel) {
    const { nLayer, nHead, nEmbd, vocabSize } = model.config;
    this.kvShape = { nLayer, nHead, headDim: nEmbd / nHead, dtype: model.kvDtype };
    this.vocabSize = vocabSize;
    this.pastNames = Array.from({ length: nLayer }, (_, i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`] as const);
    this.presentNames = Array.from({ length: nLayer }, (_, i) => [`present.${i}.key`, `present.${i}.value`] as const);
  }

  /**
   * Runs `seq` new tokens for every row of `past` (`inputIds` is `[batch, seq]` row-major). The
   * past's left padding is masked out and does not count in position ids. `newLengths[r]` (default
   * `seq`) says how many of row r's new tokens are real, the rest being left padding; that is only
   * allowed on an empty past, so that every row's real tokens stay contiguous at the right.
   */
  async forward(past: KvCache, inputIds: BigInt64Array, seq: number, newLengths?: readonly number[]): Promise<ForwardResult> {
    const { feeds, lengths } = stepFeeds(past, inputIds, seq, newLengths, this.model);
    const input = this.kvShape.dtype === 'float16' ? float16Input : (tensor: ort.Tensor) => tensor;
    this.pastNames.forEach(([keyName, valueName], layer) => {
      const pair = past.tensors[layer];
      if (!pair) throw new Error(`cache has no layer ${layer}`);
      feeds[keyName] = input(pair[0]);
      feeds[valueName] = input(pair[1]);
    });
    const outputs = await this.model.session.run(feeds);
    this.transfers.toDevice += feedBytes(feeds);
    this.transfers.toHost += feedBytes(outputs);
    const logits = outputs.logits;
    if (!logits) throw new Error('the model returned no logits output');
    const present = this.presentNames.map(([keyName, valueName]) => {
      const key = outputs[keyName];
      const value = outputs[valueName];
      if (!key || !value) throw new Error(`the model returned no ${keyName}/${valueName} output`);
      return [key, value] as const;
    });
    // loadModel accepted only float32 or float16 logits; sampling works on float32.
    const values = float32Values(logits);
    return { logits: values, seqLength: seq, cache: KvCache.fromPresent(this.kvShape, present, lengths) };
  }

  /** A cache with no past for `rows` new sequences. */
  emptyCache(rows: number): KvCache {
    return KvCache.empty(this.kvShape, rows);
  }

  /** A new cache whose row i is a copy of `sources[i]` (rows kept, dropped or duplicated). */
  gatherRows(sources: readonly RowSource[]): KvCache {
    return KvCache.gather(this.kvShape, sources);
  }

  /** View (no copy) of the logits at position `position` of row `row`. */
  positionLogits(result: ForwardResult, row: number, position: number): Float32Array {
    const start = (row * result.seqLength + position) * this.vocabSize;
    return result.logits.subarray(start, start + this.vocabSize);
  }

  /** View (no copy) of the logits after the last token of row `row`. */
  lastLogits(result: ForwardResult, row: number): Float32Array {
    return this.positionLogits(result, row, result.seqLength - 1);
  }
}
