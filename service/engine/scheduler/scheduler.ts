// Continuous batching with chunked prefill over one model: requests wait for batch rows
// (admission.ts), their prompts are prefilled in chunks (prefill.ts) interleaved with the running
// rows' decode steps (decode.ts), and they join the batch at a step boundary and leave as they finish.
import type { Logger } from 'pino';
import type { ChoiceTokenizer } from '../choice-output';
import { DEFAULT_PREFILL_CHUNK_TOKENS, DEFAULT_PREFILL_TOKENS } from '../defaults';
import { EngineClosedError } from '../errors';
import type { EngineStats, GenerationRequest, HostDeviceTransfers } from '../types';
import { Admission, checkRequest, overloaded, type Capacity, type LoadSnapshot } from './admission';
import type { BatchModel } from './batch-model';
import { BatchPlan, type PlannedRow } from './batch-plan';
import { BeamStepper } from './beam-rows';
import { ChunkBudget, type PrefillChunking } from './chunk-budget';
import { decodeStep } from './decode';
import { groupPrompts, PrefillJob } from './prefill';
import { ActiveRequest, type RequestOutput } from './request';

export interface SchedulerOptions extends Capacity {
  readonly runner: BatchModel;
  /** Turns sampled and prompt tokens into text: the model's tokenizer. */
  readonly tokenizer: ChoiceTokenizer;
  /**
   * Padded prompt tokens per prefill run while no sequence decodes (prompts arriving together share
   * a run; a longer prompt runs in chunks). @default DEFAULT_PREFILL_TOKENS
   */
  readonly prefillTokens?: number;
  /**
   * Padded prompt tokens prefilled per step while other sequences decode: each step runs one decode
   * step for the running rows, then at most one prefill chunk this big, so a long prompt delays
   * running streams by one chunk per token instead of by its whole prefill. 'auto' sizes the chunk
   * so such a step takes about twice a decode step (chunk-budget.ts); 0 prefills new prompts whole
   * before the next decode step (their first token comes sooner; running streams stall).
   * @default DEFAULT_PREFILL_CHUNK_TOKENS
   */
  readonly prefillChunkTokens?: PrefillChunking;
  /**
   * How an idle engine waits for a burst: until no request arrived for `gapMs`, `maxMs` passed, or
   * the batch is full. @default { gapMs: 1, maxMs: 10 }
   */
  readonly arrivalWait?: { readonly gapMs: number; readonly maxMs: number };
  /** Called after every forward pass: the worker's heartbeat and step report. */
  readonly onStep?: (step: StepReport) => void;
  readonly log?: Logger;
}

export interface StepReport {
  /** Smoothed seconds per decode step so far (for the overload retry-after estimate). */
  readonly decodeStepSeconds: number;
  /** Bytes between host and device and forward passes so far. */
  readonly transfers: HostDeviceTransfers;
}

/** What `submit` returns: the caller's way to stop the request (its rows free at the next step). */
export interface SubmittedRequest {
  cancel(): void;
}

/**
 * An idle engine waits `gapMs` after a request arrives, and again while more keep arriving (up to
 * `maxMs`, or until the batch is full), so that a burst of requests shares one prefill run instead
 * of each straggler group needing its own. A lone request pays about `gapMs`.
 */
const DEFAULT_ARRIVAL_WAIT = { gapMs: 1, maxMs: 10 } as const;
const STEP_TIME_SMOOTHING = 0.1;

export class Scheduler {
  private readonly runner: BatchModel;
  private readonly admission: Admission<ActiveRequest>;
  /** Requests holding rows (prefilling, waiting to join, or decoding) and not done. */
  private readonly active = new Set<ActiveRequest>();
  /** Admitted since the loop last grouped prompts into prefill jobs. */
  private admitted: ActiveRequest[] = [];
  /** Prefill jobs in arrival order; the head runs first. */
  private readonly prefills: PrefillJob[] = [];
  /** Prefilled rows waiting to join the batch. */
  private ready: PlannedRow[] = [];
  private readonly batch: BatchPlan;
  private readonly beams: BeamStepper;
  private readonly prefillTokens: number;
  private readonly chunks: ChunkBudget;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private closing = false;
  /** Requests submitted so far: the idle wait watches it to see a burst still arriving. */
  private arrivals = 0;
  /** Smoothed seconds per decode step, for the overload retry-after estimate. */
  private stepSeconds = 0.05;
  /** Forward passes run (decode steps and prefill chunks). */
  private passes = 0;

  constructor(private readonly options: SchedulerOptions) {
    this.runner = options.runner;
    this.admission = new Admission(options);
    this.batch = new BatchPlan(options.runner);
    this.beams = new BeamStepper(options.runner.vocabSize);
    this.prefillTokens = options.prefillTokens ?? DEFAULT_PREFILL_TOKENS;
    this.chunks = new ChunkBudget(options.prefillChunkTokens ?? DEFAULT_PREFILL_CHUNK_TOKENS, this.prefillTokens);
  }

  stats(): EngineStats {
    return { running: this.active.size, waiting: this.admission.queue.length, transfers: this.transfers() };
  }

  private transfers(): HostDeviceTransfers {
    return { toDevice: this.runner.transfers.toDevice, toHost: this.runner.transfers.toHost, passes: this.passes };
  }

  private reportStep(): void {
    this.passes += 1;
    this.options.onStep?.({ decodeStepSeconds: this.stepSeconds, transfers: this.transfers() });
  }

  /** Validates synchronously (typed errors), then queues the request; its events go to `output`. */
  submit(request: GenerationRequest, output: RequestOutput): SubmittedRequest {
    if (this.closing) throw new EngineClosedError('The engine is shutting down and takes no new requests.');
    const { promptIds, rowsNeeded } = checkRequest(request, this.options);
    const decision = this.admission.decide(rowsNeeded);
    if (decision === 'refuse') throw overloaded(this.load());
    const active = new ActiveRequest(promptIds, request.promptIds, request.params, output, this.options);
    const { signal } = request;
    if (signal) {
      if (signal.aborted) active.cancelled = true;
      const onAbort = (): void => this.cancel(active);
      signal.addEventListener('abort', onAbort, { once: true });
      active.detach = () => signal.removeEventListener('abort', onAbort);
    }
    if (decision === 'run') this.admit(active);
    else this.admission.enqueue(active);
    this.arrivals += 1;
    this.ensureLoop();
    return { cancel: () => this.cancel(active) };
  }

  /** Stops taking requests and resolves once the running and queued ones have finished. */
  async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    await this.loop;
  }

  /** The load the retry-after estimate of a refusal is based on. */
  private load(): LoadSnapshot {
    return {
      runningRemaining: [...this.active].map((request) => request.remainingTokens),
      queuedMaxTokens: this.admission.queue.map((request) => request.params.maxTokens),
      maxBatchSize: this.options.maxBatchSize,
      stepSeconds: this.stepSeconds,
    };
  }

  private admit(request: ActiveRequest): void {
    this.admission.reserve(request);
    this.active.add(request);
    this.admitted.push(request);
  }

  private cancel(request: ActiveRequest): void {
    if (request.done) return;
    request.cancelled = true;
    this.wake?.();
  }

  /** Its rows go back to the pool and its output ends (with `error`, if it failed). */
  private finish(request: ActiveRequest, error?: unknown): void {
    if (request.done) return;
    request.done = true;
    this.admission.hold(request, 0);
    this.active.delete(request);
    request.detach?.();
    if (error === undefined) request.output.end();
    else request.output.fail(error);
  }

  /** After a step: finished choices give their rows back; a request ends when all choices (or its beam search) have. */
  private settle(request: ActiveRequest): void {
    if (request.done) return;
    if (request.cancelled) return this.finish(request);
    if (request.beam) {
      if (request.beam.done) this.finish(request);
      return;
    }
    const live = request.liveChoices;
    if (live === 0) this.finish(request);
    else this.admission.hold(request, live);
  }

  private ensureLoop(): void {
    if (this.wake) {
      this.wake();
      return;
    }
    this.loop ??= this.arrivalsSettled()
      .then(() => this.runLoop())
      .catch((error: unknown) => {
        // A bug, not a model error (those fail only their batch or prefill): fail everything rather than hang callers.
        this.options.log?.error({ err: error }, 'scheduler loop failed');
        const everyone = [...this.active, ...this.admission.drainQueue()];
        this.admitted = [];
        this.prefills.length = 0;
        this.ready = [];
        this.batch.clear();
        for (const request of everyone) this.finish(request, error);
      })
      .finally(() => {
        this.loop = undefined;
      });
  }

  /**
   * One iteration per step. The prefill policy: while rows decode, a step is one decode step and at
   * most one prefill chunk (of `prefillChunkTokens`); prompts that finished prefill join at the next
   * step. While nothing decodes, prompts are prefilled in runs of `prefillTokens` and their rows
   * wait until every admitted prompt is prefilled, so requests arriving together start decoding as
   * one batch (at most MAX_BATCH_SIZE rows, since only admitted prompts are prefilled).
   */
  private async runLoop(): Promise<void> {
    for (;;) {
      const decoding = this.batch.decoding;
      this.startPrefills(decoding);
      this.sweepCancelled();
      this.batch.compose(decoding || this.prefills.length === 0 ? this.ready.splice(0) : []);
      if (this.batch.rows.length > 0) {
        await this.decode();
        if (this.chunks.interleaves) await this.prefillChunk(this.chunks.next(), true);
        else while (this.prefills.length > 0) await this.prefillChunk(this.prefillTokens, false);
        continue;
      }
      if (this.prefills.length > 0) {
        await this.prefillChunk(this.prefillTokens, false);
        continue;
      }
      if (this.admitted.length > 0 || this.admission.queue.length > 0) continue;
      if (this.closing) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
      await this.arrivalsSettled();
    }
  }

  /** Admits what fits from the queue and groups the newly admitted prompts into prefill jobs. */
  private startPrefills(decoding: boolean): void {
    const { admitted, cancelled } = this.admission.admitQueued();
    for (const request of cancelled) this.finish(request);
    for (const request of admitted) this.active.add(request);
    const fresh = [...this.admitted.splice(0), ...admitted];
    for (const request of fresh) if (request.cancelled) this.finish(request);
    const budget = decoding && this.chunks.interleaves ? this.chunks.next() : this.prefillTokens;
    for (const group of groupPrompts(fresh.filter((request) => !request.done), budget)) this.prefills.push(new PrefillJob(this.runner, group));
  }

  /** Cancelled requests leave wherever they are: prefill jobs nobody waits for, prefilled rows, the batch. */
  private sweepCancelled(): void {
    for (let i = this.prefills.length - 1; i >= 0; i--) {
      const job = this.prefills[i]!;
      if (!job.abandoned) continue;
      this.prefills.splice(i, 1);
      for (const request of job.requests) this.finish(request);
    }
    const readyCancelled = this.ready.filter((p) => p.row.request.cancelled);
    if (readyCancelled.length > 0) this.ready = this.ready.filter((p) => !p.row.request.cancelled);
    for (const request of new Set([...readyCancelled.map((p) => p.row.request), ...this.batch.plannedRequests()])) {
      if (request.cancelled) this.finish(request);
    }
  }

  private async decode(): Promise<void> {
    const rows = this.batch.rows;
    const cache = this.batch.cache;
    if (!cache) throw new Error('decode step without a cache');
    try {
      const step = await decodeStep(this.runner, rows, cache, this.beams);
      this.stepSeconds += STEP_TIME_SMOOTHING * (step.seconds - this.stepSeconds);
      this.batch.setPlanned(step.planned);
      for (const request of step.requests) this.settle(request);
      this.reportStep();
    } catch (error) {
      this.options.log?.error({ err: error }, 'decode step failed; failing the batch');
      for (const row of this.batch.clear()) this.finish(row.request, error);
    }
  }

  /**
   * Runs the next chunk of the oldest prefill job; a finished job's rows wait in `ready`.
   * `interleaved`: it runs between decode steps, and its time sizes the next such chunk.
   */
  private async prefillChunk(maxTokens: number, interleaved: boolean): Promise<void> {
    const job = this.prefills[0];
    if (!job) return;
    const started = performance.now();
    try {
      const tokens = await job.runChunk(maxTokens);
      const seconds = (performance.now() - started) / 1000;
      if (interleaved) this.chunks.observe(tokens, seconds, this.stepSeconds);
      this.reportStep();
    } catch (error) {
      this.options.log?.error({ err: error }, 'prefill failed');
      this.prefills.shift();
      for (const request of job.requests) this.finish(request, error);
      return;
    }
    if (!job.done) return;
    this.prefills.shift();
    this.ready.push(...job.joiningRows(this.beams));
    for (const request of job.requests) this.settle(request);
  }

  /** Resolves once no request arrived for `gapMs`, the batch is full, or `maxMs` passed (see DEFAULT_ARRIVAL_WAIT). */
  private async arrivalsSettled(): Promise<void> {
    const { gapMs, maxMs } = this.options.arrivalWait ?? DEFAULT_ARRIVAL_WAIT;
    const until = performance.now() + maxMs;
    let seen = -1;
    while (seen !== this.arrivals && this.admission.freeRows > 0 && !this.closing && performance.now() < until) {
      seen = this.arrivals;
      await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  }
}
