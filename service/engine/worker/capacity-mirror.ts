// The main thread's copy of the worker's queue and row accounting, so that `generate` refuses an
// overloaded request synchronously (429) with the same rule as the in-process scheduler. It is
// never optimistic: rows count as used from the submit until the worker reports them free, and a
// request counts as waiting until the worker reports its rows, so the worker never has to refuse
// what the mirror let through.
import { decideAdmission, overloaded, type Capacity } from '../scheduler/admission';
import type { EngineStats } from '../types';

export interface MirroredRequest {
  readonly rowsNeeded: number;
  readonly maxTokens: number;
  rowsHeld: number;
  waiting: boolean;
  /** Tokens delivered per choice, for the retry-after estimate. */
  readonly generated: number[];
}

export class CapacityMirror {
  private readonly requests = new Set<MirroredRequest>();
  private rowsInUse = 0;
  private waiting = 0;
  /** The worker's smoothed seconds per decode step. */
  stepSeconds = 0.05;

  constructor(private readonly capacity: Pick<Capacity, 'maxBatchSize' | 'maxQueue'>) {}

  /** Registers a request that runs now or waits; throws EngineOverloadedError when the queue is full. */
  admit(rowsNeeded: number, maxTokens: number): MirroredRequest {
    const decision = decideAdmission(this.waiting, this.rowsInUse, rowsNeeded, this.capacity);
    if (decision === 'refuse') {
      const running = [...this.requests].filter((r) => !r.waiting);
      throw overloaded({
        runningRemaining: running.map((r) => r.maxTokens - Math.max(0, ...r.generated)),
        queuedMaxTokens: [...this.requests].filter((r) => r.waiting).map((r) => r.maxTokens),
        maxBatchSize: this.capacity.maxBatchSize,
        stepSeconds: this.stepSeconds,
      });
    }
    const request: MirroredRequest = { rowsNeeded, maxTokens, rowsHeld: 0, waiting: decision === 'queue', generated: [] };
    if (decision === 'run') this.setRows(request, rowsNeeded);
    else this.waiting += 1;
    this.requests.add(request);
    return request;
  }

  /** The worker reports the rows the request holds (admitted from its queue, or choices finished). */
  setRows(request: MirroredRequest, rows: number): void {
    if (request.waiting) {
      request.waiting = false;
      this.waiting -= 1;
    }
    this.rowsInUse += rows - request.rowsHeld;
    request.rowsHeld = rows;
  }

  tokens(request: MirroredRequest, choice: number, count: number): void {
    request.generated[choice] = (request.generated[choice] ?? 0) + count;
  }

  end(request: MirroredRequest): void {
    if (!this.requests.delete(request)) return;
    if (request.waiting) this.waiting -= 1;
    this.rowsInUse -= request.rowsHeld;
  }

  /** Forgets every request (the worker is gone). */
  clear(): void {
    this.requests.clear();
    this.rowsInUse = 0;
    this.waiting = 0;
  }

  stats(): EngineStats {
    return { running: this.requests.size - this.waiting, waiting: this.waiting };
  }
}
