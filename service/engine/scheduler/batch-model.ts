// What the scheduler needs from the model and its KV cache, and nothing more: one forward pass,
// empty and gathered caches, and views of the logits. The scheduler holds caches and step results
// opaquely and hands them back only to the model that made them, so each cache strategy (the host
// Concat cache of ModelRunner, a preallocated or a device-resident cache) implements this with its
// own cache and result types, and the scheduler does not change.

/** A batch's cache as the scheduler sees it: how many rows, and each row's real (unpadded) length. */
export interface BatchCache {
  readonly batchSize: number;
  readonly lengths: readonly number[];
}

/** Where a row of a rebuilt cache comes from: row `row` of `cache`. */
export interface RowSource {
  readonly cache: BatchCache;
  readonly row: number;
}

/** One forward pass's outcome: the grown cache, and logits read through the model's views. */
export interface ForwardStep {
  readonly cache: BatchCache;
}

export interface BatchModel {
  readonly vocabSize: number;
  /**
   * Runs `seq` new tokens for every row of `past` (`inputIds` is `[rows, seq]`); `newLengths[r]`
   * real tokens of row r, left-padded, are allowed only on an empty past.
   */
  forward(past: BatchCache, inputIds: BigInt64Array, seq: number, newLengths?: readonly number[]): Promise<ForwardStep>;
  emptyCache(rows: number): BatchCache;
  gatherRows(sources: readonly RowSource[]): BatchCache;
  lastLogits(result: ForwardStep, row: number): Float32Array;
  positionLogits(result: ForwardStep, row: number, position: number): Float32Array;
}
