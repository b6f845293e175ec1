// Batch planning: which rows the next decode step runs and the KV cache they read. The cache is
// rebuilt (rows copied) only when the rows changed; a step that keeps every row reuses the last one.
import type { BatchCache, RowSource } from './batch-model';
import type { BatchModel } from './batch-model';
import type { ActiveRequest } from './request';

/** One sequence of the batch: a sampled choice or a beam, fed `nextToken` at the next step. */
export interface Row {
  readonly request: ActiveRequest;
  /** Choice index (sampling) or beam index (beam search). */
  readonly slot: number;
  nextToken: number;
}

/** A row for the next step and the cache row its past comes from. */
export interface PlannedRow {
  readonly row: Row;
  readonly source: RowSource;
}

export class BatchPlan {
  /** The rows the next decode step runs, in cache order. */
  rows: Row[] = [];
  cache: BatchCache | undefined;
  /** What the last decode step planned; becomes `rows` at the next `compose`. */
  private planned: PlannedRow[] = [];

  constructor(private readonly model: BatchModel) {}

  /** The last decode step left rows to continue (read before `compose`). */
  get decoding(): boolean {
    return this.planned.length > 0;
  }

  /** Requests with planned rows (for a cancellation sweep). */
  plannedRequests(): Set<ActiveRequest> {
    return new Set(this.planned.map((p) => p.row.request));
  }

  setPlanned(planned: PlannedRow[]): void {
    this.planned = planned;
  }

  /** Builds the next step's batch from the rows still live plus `joining` ones. */
  compose(joining: readonly PlannedRow[]): void {
    const plan = [...this.planned.filter((p) => !p.row.request.cancelled && !p.row.request.done), ...joining];
    this.planned = [];
    // Rows that are exactly one cache's rows in order (the last step's, or a lone prefill's) reuse it.
    const first = plan[0]?.source.cache;
    const reusable = first !== undefined && plan.length === first.batchSize && plan.every((p, i) => p.source.cache === first && p.source.row === i);
    this.rows = plan.map((p) => p.row);
    this.cache = reusable ? first : plan.length === 0 ? undefined : this.model.gatherRows(plan.map((p) => p.source));
  }

  /** Forgets every row (their requests failed). */
  clear(): Row[] {
    const rows = this.rows;
    this.rows = [];
    this.planned = [];
    this.cache = undefined;
    return rows;
  }
}
