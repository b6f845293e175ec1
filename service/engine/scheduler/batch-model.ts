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

/**
 * Bytes moved between host memory and the execution provider so far (running totals): what the
 * engine hands onnxruntime as host tensors, and what comes back as host tensors.
 */
export interface TransferTotals {
  toDevice: number;
  toHost: number;
}

/** Which positions' logits a forward pass must make readable: only the last (sampling) or every one (prompt logprobs). */
export type LogitPositions = 'last' | 'all';

export interface BatchModel {
  readonly vocabSize: number;
  readonly transfers: TransferTotals;
  /**
   * Runs `seq` new tokens for every row of `past` (`inputIds` is `[rows, seq]`); `newLengths[r]`
   * real tokens of row r, left-padded, are allowed only on an empty past. `positionLogits` may be
   * read afterwards only when `logits` is 'all' (the default is 'last'). A device-resident model
   * consumes `past`: hand a cache to `forward` or `gatherRows` once.
   */
  forward(past: BatchCache, inputIds: BigInt64Array, seq: number, newLengths?: readonly number[], logits?: LogitPositions): Promise<ForwardStep>;
  emptyCache(rows: number): BatchCache;
  gatherRows(sources: readonly RowSource[]): BatchCache;
  lastLogits(result: ForwardStep, row: number): Float32Array;
  positionLogits(result: ForwardStep, row: number, position: number): Float32Array;
}
