// A BatchModel over the real ModelRunner that records every forward pass (rows, new tokens, past
// length), so scheduler tests can assert on the order of prefill chunks and decode steps.
import { ModelRunner, type ForwardResult } from '../../service/engine/batch';
import type { KvCache, RowSource } from '../../service/engine/kv-cache';
import type { LoadedModel } from '../../service/engine/model';
import type { BatchModel } from '../../service/engine/scheduler/batch-model';

export interface RecordedPass {
  readonly rows: number;
  /** New tokens per row: 1 for a decode step, more for a prefill chunk. */
  readonly seq: number;
  readonly pastLength: number;
  /** Whether it ran on an empty past with new rows (a prefill) rather than the batch (a decode step). */
  readonly kind: 'prefill' | 'decode';
}

export function recordingRunner(model: LoadedModel): { runner: BatchModel; passes: RecordedPass[] } {
  const inner = new ModelRunner(model);
  const passes: RecordedPass[] = [];
  // Method syntax: the scheduler hands each cache and result back to the model that made them, so
  // these take ModelRunner's own types where BatchModel names the opaque ones.
  const runner: BatchModel = {
    vocabSize: inner.vocabSize,
    transfers: inner.transfers,
    emptyCache(rows: number) {
      return inner.emptyCache(rows);
    },
    gatherRows(sources: readonly RowSource[]) {
      return inner.gatherRows(sources);
    },
    lastLogits(result: ForwardResult, row: number) {
      return inner.lastLogits(result, row);
    },
    positionLogits(result: ForwardResult, row: number, position: number) {
      return inner.positionLogits(result, row, position);
    },
    forward(past: KvCache, ids: BigInt64Array, seq: number, newLengths?: readonly number[]) {
      // Decode steps carry no new-token lengths; prefill chunks always do.
      passes.push({ rows: ids.length / seq, seq, pastLength: past.pastLength, kind: newLengths ? 'prefill' : 'decode' });
      return inner.forward(past, ids, seq, newLengths);
    },
  };
  return { runner, passes };
}
