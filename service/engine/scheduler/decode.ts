// Decode: one forward pass of one new token for every running row, then the next token of each
// sampled choice and the next beams of each beam search.
import type { BatchCache, BatchModel } from './batch-model';
import type { BeamStepper } from './beam-rows';
import type { PlannedRow, Row } from './batch-plan';
import { sampleChoice } from './choice-step';
import type { ActiveRequest } from './request';

export interface DecodeResult {
  /** Rows for the next step, each reading its row of the new cache. */
  readonly planned: PlannedRow[];
  /** Requests that had rows in this step (some may have finished choices now). */
  readonly requests: Set<ActiveRequest>;
  readonly seconds: number;
}

/** Runs `rows` (in `cache` order) one token further. Rows of requests cancelled meanwhile plan nothing. */
export async function decodeStep(model: BatchModel, rows: readonly Row[], cache: BatchCache, beams: BeamStepper): Promise<DecodeResult> {
  const ids = new BigInt64Array(rows.length);
  rows.forEach((row, i) => {
    ids[i] = BigInt(row.nextToken);
  });
  const started = performance.now();
  const result = await model.forward(cache, ids, 1);
  const now = performance.now();
  const planned: PlannedRow[] = [];
  for (let i = 0; i < rows.length; ) {
    const row = rows[i]!;
    const request = row.request;
    const live = !request.cancelled && !request.done;
    if (request.beam) {
      // A request's beams sit next to each other in the batch.
      let end = i + 1;
      while (end < rows.length && rows[end]!.request === request) end++;
      if (live) {
        const logits = rows.slice(i, end).map((_, k) => model.lastLogits(result, i + k));
        planned.push(...beams.step(request, logits, logits.map((_, k) => ({ cache: result.cache, row: i + k })), now));
      }
      i = end;
      continue;
    }
    if (live) {
      const next = sampleChoice(request, request.choices[row.slot]!, model.lastLogits(result, i), now);
      if (next !== undefined) {
        row.nextToken = next;
        planned.push({ row, source: { cache: result.cache, row: i } });
      }
    }
    i++;
  }
  return { planned, requests: new Set(rows.map((row) => row.request)), seconds: (now - started) / 1000 };
}
