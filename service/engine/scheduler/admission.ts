// Queueing and admission: whether a request fits the model at all, which requests hold batch rows,
// which wait (first come, first served), and when a new one is refused. The checks are pure
// functions so that the worker's main-thread client makes exactly the same decisions synchronously.
import { ContextLengthExceededError, EngineOverloadedError, InvalidParameterError } from '../errors';
import type { GenerationRequest } from '../types';

export interface Capacity {
  /** Sequences (choices or beams) decoded together at most. */
  readonly maxBatchSize: number;
  /** Requests waiting for rows at most. */
  readonly maxQueue: number;
  readonly contextLength: number;
  readonly eosTokenId: number;
}

export interface CheckedRequest {
  /** What the model runs: the prompt, or EOS alone for an empty prompt. */
  readonly promptIds: readonly number[];
  readonly rowsNeeded: number;
}

/** Throws ContextLengthExceededError or InvalidParameterError for a request that can never run. */
export function checkRequest(request: GenerationRequest, capacity: Capacity): CheckedRequest {
  const { params } = request;
  const promptIds = request.promptIds.length > 0 ? request.promptIds : [capacity.eosTokenId];
  if (promptIds.length + params.maxTokens > capacity.contextLength) {
    throw new ContextLengthExceededError(promptIds.length, params.maxTokens, capacity.contextLength);
  }
  const rowsNeeded = params.numBeams > 1 ? params.numBeams : params.n;
  if (rowsNeeded > capacity.maxBatchSize) {
    const param = params.numBeams > 1 ? 'num_beams' : 'n';
    throw new InvalidParameterError(param, `${param}=${rowsNeeded} exceeds the engine's batch size (${capacity.maxBatchSize}); ask for fewer sequences.`);
  }
  return { promptIds, rowsNeeded };
}

/** `run`: rows are free and nobody waits; `queue`: it waits its turn; `refuse`: the queue is full. */
export type AdmissionDecision = 'run' | 'queue' | 'refuse';

export function decideAdmission(queued: number, rowsInUse: number, rowsNeeded: number, capacity: Pick<Capacity, 'maxBatchSize' | 'maxQueue'>): AdmissionDecision {
  if (queued === 0 && rowsInUse + rowsNeeded <= capacity.maxBatchSize) return 'run';
  return queued >= capacity.maxQueue ? 'refuse' : 'queue';
}

export interface LoadSnapshot {
  /** Tokens each running request may still generate. */
  readonly runningRemaining: readonly number[];
  /** max_tokens of each waiting request. */
  readonly queuedMaxTokens: readonly number[];
  readonly maxBatchSize: number;
  /** Smoothed seconds per decode step. */
  readonly stepSeconds: number;
}

/** Seconds until rows likely free up: the soonest running request's end, plus the queue ahead, in decode steps. */
export function retryAfterSeconds(load: LoadSnapshot): number {
  const soonest = load.runningRemaining.length > 0 ? Math.min(...load.runningRemaining) : 0;
  const queuedSteps = load.queuedMaxTokens.reduce((sum, tokens) => sum + tokens, 0) / load.maxBatchSize;
  return Math.max(1, Math.ceil(load.stepSeconds * (soonest + queuedSteps)));
}

export function overloaded(load: LoadSnapshot): EngineOverloadedError {
  return new EngineOverloadedError(retryAfterSeconds(load));
}

interface Seated {
  readonly rowsNeeded: number;
  readonly cancelled: boolean;
  setRowsHeld(rows: number): void;
  readonly rowsHeld: number;
}

/** The waiting queue and the batch rows in use. */
export class Admission<T extends Seated> {
  readonly queue: T[] = [];
  private rowsInUse = 0;

  constructor(private readonly capacity: Pick<Capacity, 'maxBatchSize' | 'maxQueue'>) {}

  get freeRows(): number {
    return this.capacity.maxBatchSize - this.rowsInUse;
  }

  decide(rowsNeeded: number): AdmissionDecision {
    return decideAdmission(this.queue.length, this.rowsInUse, rowsNeeded, this.capacity);
  }

  reserve(request: T): void {
    this.rowsInUse += request.rowsNeeded;
    request.setRowsHeld(request.rowsNeeded);
  }

  enqueue(request: T): void {
    this.queue.push(request);
  }

  /**
   * Drops cancelled requests from the queue (they give their place back at once), then takes waiting
   * requests in order while their rows fit (a big request at the head is not overtaken by smaller
   * ones) and reserves their rows.
   */
  admitQueued(): { admitted: T[]; cancelled: T[] } {
    const cancelled = this.queue.filter((request) => request.cancelled);
    if (cancelled.length > 0) this.queue.splice(0, this.queue.length, ...this.queue.filter((request) => !request.cancelled));
    const admitted: T[] = [];
    while (this.queue.length > 0 && this.rowsInUse + this.queue[0]!.rowsNeeded <= this.capacity.maxBatchSize) {
      const request = this.queue.shift()!;
      this.reserve(request);
      admitted.push(request);
    }
    return { admitted, cancelled };
  }

  /** The request holds `rows` rows from now on (fewer as its choices finish, 0 when it is done). */
  hold(request: T, rows: number): void {
    this.rowsInUse -= request.rowsHeld - rows;
    request.setRowsHeld(rows);
  }

  /** Empties the queue (the loop failed): the caller fails what comes back. */
  drainQueue(): T[] {
    return this.queue.splice(0);
  }
}
