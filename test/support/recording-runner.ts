// A BatchModel over the real ModelRunner that records every forward pass (rows, new tokens, past
// length), so scheduler tests can assert on the order of prefill chunks and decode steps.
import { ModelRunner } from '../../service/engine/batch';
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
  const runner: BatchModel = {
    vocabSize: inner.vocabSize,
    emptyCache: (rows) => inner.emptyCache(rows),
    gatherRows: (sources) => inner.gatherRows(sources),
    lastLogits: (result, row) => inner.lastLogits(result, row),
    positionLogits: (result, row, position) => inner.positionLogits(result, row, position),
    forward: (past, ids, seq, newLengths) => {
      // Decode steps carry no new-token lengths; prefill chunks always do.
      passes.push({ rows: ids.length / seq, seq, pastLength: past.pastLength, kind: newLengths ? 'prefill' : 'decode' });
      return inner.forward(past, ids, seq, newLengths);
    },
  };
  return { runner, passes };
}
