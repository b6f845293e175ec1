// What the scheduler needs from the model and its KV cache, and nothing more: one forward pass,
// empty and gathered caches, and views of the logits. ModelRunner implements it; another cache
// strategy (a preallocated or device-resident cache) can too, without the scheduler changing.
import type { ForwardResult } from '../batch';
import type { KvCache, RowSource } from '../kv-cache';

export interface BatchModel {
  readonly vocabSize: number;
  /**
   * Runs `seq` new tokens for every row of `past` (`inputIds` is `[rows, seq]`); `newLengths[r]`
   * real tokens of row r, left-padded, are allowed only on an empty past.
   */
  forward(past: KvCache, inputIds: BigInt64Array, seq: number, newLengths?: readonly number[]): Promise<ForwardResult>;
  emptyCache(rows: number): KvCache;
  gatherRows(sources: readonly RowSource[]): KvCache;
  lastLogits(result: ForwardResult, row: number): Float32Array;
  positionLogits(result: ForwardResult, row: number, position: number): Float32Array;
}
