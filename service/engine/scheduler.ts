// Continuous batching over one model: owns the session (through ModelRunner) and the batch's KV
// cache; requests join at step boundaries after their prompt is prefilled and leave as they finish.
import type { Logger } from 'pino';
import { type ForwardResult, type ModelRunner } from './batch';
import { BeamSearch } from './beam-search';
import { ChoiceOutput, type ChoiceTokenizer } from './choice-output';
import { ContextLengthExceededError, EngineClosedError, EngineOverloadedError, InvalidParameterError } from './errors';
import { EventChannel } from './event-channel';
import { KvCache, type RowSource } from './kv-cache';
import { createLogitsPipeline, logSoftmax, Sampler, topKIndices, type LogitsPipeline } from './sampling';
import type { EngineStats, GenerationEvent, GenerationRequest, SamplingParams, TokenInfo } from './types';

export interface SchedulerOptions {
  readonly runner: ModelRunner;
  /** Sequences (choices or beams) decoded together at most. */
  readonly maxBatchSize: number;
  /** Requests waiting for rows at most; beyond it `submit` throws EngineOverloadedError. */
  readonly maxQueue: number;
  readonly contextLength: number;
  readonly eosTokenId: number;
  /** Turns sampled tokens into text: the model's tokenizer. */
  readonly tokenizer: ChoiceTokenizer;
  /**
   * Padded prompt tokens per prefill run (prompts arriving together share a run; a longer prompt
   * runs in chunks): bounds the `[rows, tokens, vocab]` logits buffer to 256 x 50257 floats (51 MB).
   * @default 256
   */
  readonly prefillTokens?: number;
  /**
   * How an idle engine waits for a burst: until no request arrived for `gapMs`, `maxMs` passed, or
   * the batch is full. @default { gapMs: 1, maxMs: 10 }
   */
  readonly arrivalWait?: { readonly gapMs: number; readonly maxMs: number };
  readonly log?: Logger;
}

/** One sequence of the batch: a sampled choice or a beam, fed `nextToken` at the next step. */
interface Row {
  readonly request: ActiveRequest;
  /** Choice index (sampling) or beam index (beam search). */
  readonly slot: number;
  nextToken: number;
}

/** A row for the next step and the cache row its past comes from. */
interface PlannedRow {
  readonly row: Row;
  readonly source: RowSource;
}

interface SampledChoice {
  readonly sampler: Sampler;
  readonly output: ChoiceOutput;
  readonly generatedIds: number[];
}

interface ActiveRequest {
  readonly promptIds: readonly number[];
  /** The prompt as the caller gave it (empty when the engine started from EOS). */
  readonly userPromptIds: readonly number[];
  readonly params: SamplingParams;
  readonly channel: EventChannel<GenerationEvent>;
  /** Batch rows reserved for it while it runs: n choices, or numBeams beams. */
  readonly rowsNeeded: number;
  readonly choices: SampledChoice[];
  readonly beam: BeamSearch | undefined;
  /** Logit bias and penalties applied to every beam's logits before its log-softmax. */
  readonly beamPipeline: LogitsPipeline | undefined;
  rowsHeld: number;
  cancelled: boolean;
  done: boolean;
  /** Removes the abort listener once the request is done. */
  detach: (() => void) | undefined;
}

const DEFAULT_PREFILL_TOKENS = 256;

/**
 * An idle engine waits `gapMs` after a request arrives, and again while more keep arriving (up to
 * `maxMs`, or until the batch is full), so that a burst of requests shares one prefill run. Without
 * it the first request's prefill blocks the event loop (onnxruntime runs on this thread) while the
 * rest of the burst waits to be read, and each straggler group then needs its own prefill. A lone
 * request pays about `gapMs`.
 */
const DEFAULT_ARRIVAL_WAIT = { gapMs: 1, maxMs: 10 } as const;
const STEP_TIME_SMOOTHING = 0.1;

export class Scheduler {
  private readonly runner: ModelRunner;
  private readonly queue: ActiveRequest[] = [];
  /** Admitted (rows reserved) but not prefilled yet. */
  private readonly admitted: ActiveRequest[] = [];
  private readonly running = new Set<ActiveRequest>();
  private planned: PlannedRow[] = [];
  private rows: Row[] = [];
  private cache: KvCache | undefined;
  private rowsInUse = 0;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private closing = false;
  /** Requests submitted so far: the idle wait watches it to see a burst still arriving. */
  private arrivals = 0;
  /** Smoothed seconds per decode step, for the overload retry-after estimate. */
  private stepSeconds = 0.05;
  private readonly beamScratch: Float32Array[] = [];

  constructor(private readonly options: SchedulerOptions) {
    this.runner = options.runner;
  }

  stats(): EngineStats {
    return { running: this.running.size + this.admitted.length, waiting: this.queue.length };
  }

  /** Validates synchronously, queues the request, and returns its events. */
  submit(request: GenerationRequest): AsyncIterable<GenerationEvent> {
    if (this.closing) throw new EngineClosedError('The engine is shutting down and takes no new requests.');
    const { params } = request;
    const { contextLength, maxBatchSize, eosTokenId } = this.options;
    const promptIds = request.promptIds.length > 0 ? request.promptIds : [eosTokenId];
    if (promptIds.length + params.maxTokens > contextLength) {
      throw new ContextLengthExceededError(promptIds.length, params.maxTokens, contextLength);
    }
    const rowsNeeded = params.numBeams > 1 ? params.numBeams : params.n;
    if (rowsNeeded > maxBatchSize) {
      const param = params.numBeams > 1 ? 'num_beams' : 'n';
      throw new InvalidParameterError(param, `${param}=${rowsNeeded} exceeds the engine's batch size (${maxBatchSize}); ask for fewer sequences.`);
    }
    const fitsNow = this.queue.length === 0 && this.rowsInUse + rowsNeeded <= maxBatchSize;
    if (!fitsNow && this.queue.length >= this.options.maxQueue) throw new EngineOverloadedError(this.retryAfterSeconds());

    const active: ActiveRequest = {
      promptIds,
      userPromptIds: request.promptIds,
      params,
      channel: new EventChannel<GenerationEvent>(() => this.cancel(active)),
      rowsNeeded,
      choices: [],
      beam:
        params.numBeams > 1
          ? new BeamSearch({
              numBeams: params.numBeams,
              lengthPenalty: params.lengthPenalty,
              maxTokens: params.maxTokens,
              eosTokenId: params.stopOnEos ? eosTokenId : undefined,
            })
          : undefined,
      beamPipeline: params.numBeams > 1 ? createLogitsPipeline(params) : undefined,
      rowsHeld: 0,
      cancelled: false,
      done: false,
      detach: undefined,
    };
    if (params.numBeams === 1) {
      for (let choice = 0; choice < params.n; choice++) {
        active.choices.push({
          sampler: new Sampler(params, { choice }),
          output: new ChoiceOutput(choice, params, eosTokenId, this.options.tokenizer, request.promptIds),
          generatedIds: [],
        });
      }
    }
    const { signal } = request;
    if (signal) {
      if (signal.aborted) active.cancelled = true;
      const onAbort = (): void => this.cancel(active);
      signal.addEventListener('abort', onAbort, { once: true });
      active.detach = () => signal.removeEventListener('abort', onAbort);
    }
    if (fitsNow) this.reserve(active);
    else this.queue.push(active);
    this.arrivals += 1;
    this.ensureLoop();
    return active.channel;
  }

  /** Stops taking requests and resolves once the running and queued ones have finished. */
  async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    await this.loop;
  }

  private reserve(request: ActiveRequest): void {
    request.rowsHeld = request.rowsNeeded;
    this.rowsInUse += request.rowsNeeded;
    this.admitted.push(request);
  }

  private cancel(request: ActiveRequest): void {
    if (request.done) return;
    request.cancelled = true;
    this.wake?.();
  }

  /** Rows of a finished or cancelled request go back to the pool; its channel ends. */
  private finishRequest(request: ActiveRequest, error?: unknown): void {
    if (request.done) return;
    request.done = true;
    this.rowsInUse -= request.rowsHeld;
    request.rowsHeld = 0;
    this.running.delete(request);
    request.detach?.();
    if (error === undefined) request.channel.end();
    else request.channel.fail(error);
  }

  private retryAfterSeconds(): number {
    const remaining = [...this.running].map((r) => r.params.maxTokens - Math.max(0, ...r.choices.map((c) => c.generatedIds.length)));
    const soonest = remaining.length > 0 ? Math.min(...remaining) : 0;
    const queuedTokens = this.queue.reduce((sum, r) => sum + r.params.maxTokens, 0) / this.options.maxBatchSize;
    return Math.max(1, Math.ceil(this.stepSeconds * (soonest + queuedTokens)));
  }

  private ensureLoop(): void {
    if (this.wake) {
      this.wake();
      return;
    }
    this.loop ??= this.arrivalsSettled()
      .then(() => this.runLoop())
      .catch((error: unknown) => {
        // A bug, not a model error (those fail only their batch): fail everything rather than hang callers.
        this.options.log?.error({ err: error }, 'scheduler loop failed');
        for (const request of [...this.running, ...this.admitted.splice(0), ...this.queue.splice(0)]) this.finishRequest(request, error);
        this.rows = [];
        this.planned = [];
        this.cache = undefined;
      })
      .finally(() => {
        this.loop = undefined;
      });
  }

  private async runLoop(): Promise<void> {
    for (;;) {
      this.admitQueued();
      const arrivals = this.admitted.splice(0);
      const newRows: PlannedRow[] = [];
      for (const request of arrivals) {
        this.running.add(request);
        if (request.cancelled) this.finishRequest(request);
      }
      for (const group of this.prefillGroups(arrivals.filter((r) => !r.done))) {
        try {
          newRows.push(...(await this.prefill(group)));
        } catch (error) {
          this.options.log?.error({ err: error }, 'prefill failed');
          for (const request of group) this.finishRequest(request, error);
        }
        for (const request of group) if (request.cancelled) this.finishRequest(request);
      }
      this.recompose(newRows);
      if (this.rows.length === 0) {
        if (this.admitted.length > 0 || this.queue.length > 0) continue;
        if (this.closing) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        await this.arrivalsSettled();
        continue;
      }
      try {
        await this.decodeStep();
      } catch (error) {
        this.options.log?.error({ err: error }, 'decode step failed; failing the batch');
        for (const row of this.rows) this.finishRequest(row.request, error);
        this.rows = [];
        this.planned = [];
        this.cache = undefined;
      }
    }
  }

  /** Resolves once no request arrived for `gapMs`, the batch is full, or `maxMs` passed (see DEFAULT_ARRIVAL_WAIT). */
  private async arrivalsSettled(): Promise<void> {
    const { gapMs, maxMs } = this.options.arrivalWait ?? DEFAULT_ARRIVAL_WAIT;
    const until = performance.now() + maxMs;
    let seen = -1;
    while (seen !== this.arrivals && this.rowsInUse < this.options.maxBatchSize && !this.closing && performance.now() < until) {
      seen = this.arrivals;
      await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  }

  private admitQueued(): void {
    for (let i = 0; i < this.queue.length; ) {
      const request = this.queue[i]!;
      if (request.cancelled) {
        this.queue.splice(i, 1);
        this.running.add(request);
        this.finishRequest(request);
        continue;
      }
      // First come, first served: a big request at the head is not overtaken by smaller ones.
      if (this.rowsInUse + request.rowsNeeded > this.options.maxBatchSize) return;
      this.queue.splice(i, 1);
      this.reserve(request);
    }
  }

  /**
   * Splits new arrivals into prefill runs of at most `prefillTokens` padded tokens: short prompts
   * arriving together share one left-padded run; a prompt longer than that runs alone, in chunks.
   */
  private prefillGroups(requests: readonly ActiveRequest[]): ActiveRequest[][] {
    const budget = this.options.prefillTokens ?? DEFAULT_PREFILL_TOKENS;
    const groups: ActiveRequest[][] = [];
    let group: ActiveRequest[] = [];
    let longest = 0;
    for (const request of requests) {
      const length = request.promptIds.length;
      if ((group.length + 1) * Math.max(longest, length) > budget && group.length > 0) {
        groups.push(group);
        group = [];
        longest = 0;
      }
      group.push(request);
      longest = Math.max(longest, length);
    }
    if (group.length > 0) groups.push(group);
    return groups;
  }

  /**
   * Runs the prompts of `group` and takes each choice's first token, or the beams' first step.
   * Returns the rows to add to the batch; the choices of one request share its prompt's cache row.
   */
  private async prefill(group: readonly ActiveRequest[]): Promise<PlannedRow[]> {
    const budget = this.options.prefillTokens ?? DEFAULT_PREFILL_TOKENS;
    const lengths = group.map((r) => r.promptIds.length);
    const longest = Math.max(...lengths);
    // Several prompts fit the budget together in one run; a lone prompt may need several chunks.
    const chunk = group.length === 1 ? budget : longest;
    let cache = KvCache.empty(this.runner.kvShape, group.length);
    let last: ForwardResult | undefined;
    const promptTokens = group.map((request) => {
      const { promptIds } = request;
      // An empty prompt (the engine started from EOS) has no prompt tokens to report.
      return request.params.promptLogprobs && request.userPromptIds.length > 0
        ? [{ tokenId: promptIds[0]!, text: this.options.tokenizer.tokenText(promptIds[0]!), logprob: null } as TokenInfo]
        : undefined;
    });
    const scratch = promptTokens.some(Boolean) ? new Float32Array(this.runner.vocabSize) : undefined;
    for (let start = 0; start < longest; start += chunk) {
      const seq = Math.min(chunk, longest - start);
      const ids = new BigInt64Array(group.length * seq);
      const real = lengths.map((length) => Math.min(seq, length - start));
      group.forEach((request, row) => {
        const padding = seq - real[row]!;
        for (let j = 0; j < real[row]!; j++) ids[row * seq + padding + j] = BigInt(request.promptIds[start + j]!);
      });
      last = await this.runner.forward(cache, ids, seq, real);
      cache = last.cache;
      if (!scratch) continue;
      group.forEach((request, row) => {
        const tokens = promptTokens[row];
        if (!tokens) return;
        const padding = seq - real[row]!;
        for (let j = 0; j < real[row]! && start + j + 1 < lengths[row]!; j++) {
          const logprobs = logSoftmax(this.runner.positionLogits(last!, row, padding + j), scratch);
          tokens.push(this.tokenInfoFrom(logprobs, request.promptIds[start + j + 1]!, request.params.logprobs ?? 0));
        }
      });
    }
    if (!last) throw new Error('prefill ran no tokens');
    const result = last;
    return group.flatMap((request, row) => {
      if (request.cancelled) return [];
      if (request.params.promptLogprobs) request.channel.push({ type: 'prompt', tokens: promptTokens[row] ?? [] });
      const logits = this.runner.lastLogits(result, row);
      const source: RowSource = { cache, row };
      if (request.beam) return this.beamStep(request, [logits], [source]);
      const rows: PlannedRow[] = [];
      request.choices.forEach((choice, slot) => {
        const next = this.sampleChoice(request, choice, logits);
        if (next !== undefined) rows.push({ row: { request, slot, nextToken: next }, source });
      });
      this.releaseFinishedChoices(request);
      return rows;
    });
  }

  /** Builds the batch for the next step: keeps live rows, adds new ones, and copies the cache only if the rows changed. */
  private recompose(newRows: readonly PlannedRow[]): void {
    const plan = [...this.planned.filter((p) => !p.row.request.cancelled && !p.row.request.done), ...newRows];
    for (const request of new Set(this.planned.map((p) => p.row.request))) {
      if (request.cancelled) this.finishRequest(request);
    }
    this.planned = [];
    // Rows that are exactly one cache's rows in order (the last step's, or a lone prefill's) reuse it.
    const first = plan[0]?.source.cache;
    const reusable = first !== undefined && plan.length === first.batchSize && plan.every((p, i) => p.source.cache === first && p.source.row === i);
    this.rows = plan.map((p) => p.row);
    this.cache = reusable ? first : plan.length === 0 ? undefined : KvCache.gather(this.runner.kvShape, plan.map((p) => p.source));
  }

  private async decodeStep(): Promise<void> {
    const rows = this.rows;
    const cache = this.cache;
    if (!cache) throw new Error('decode step without a cache');
    const ids = new BigInt64Array(rows.length);
    rows.forEach((row, i) => {
      ids[i] = BigInt(row.nextToken);
    });
    const started = performance.now();
    const result = await this.runner.forward(cache, ids, 1);
    this.stepSeconds += STEP_TIME_SMOOTHING * ((performance.now() - started) / 1000 - this.stepSeconds);
    this.cache = result.cache;
    const planned: PlannedRow[] = [];
    for (let i = 0; i < rows.length; ) {
      const row = rows[i]!;
      const request = row.request;
      if (request.cancelled) this.finishRequest(request);
      if (request.beam) {
        let end = i + 1;
        while (end < rows.length && rows[end]!.request === request) end++;
        if (!request.cancelled && !request.done) {
          const logits = rows.slice(i, end).map((_, k) => this.runner.lastLogits(result, i + k));
          const sources = logits.map((_, k) => ({ cache: result.cache, row: i + k }));
          planned.push(...this.beamStep(request, logits, sources));
        }
        i = end;
        continue;
      }
      const choice = request.choices[row.slot]!;
      if (!request.cancelled && !request.done) {
        const next = this.sampleChoice(request, choice, this.runner.lastLogits(result, i));
        if (next !== undefined) {
          row.nextToken = next;
          planned.push({ row, source: { cache: result.cache, row: i } });
        }
      }
      i++;
    }
    for (const request of new Set(rows.map((r) => r.request))) this.releaseFinishedChoices(request);
    this.planned = planned;
  }

  /** Samples the choice's next token and emits its events; the token to feed next, or undefined once finished. */
  private sampleChoice(request: ActiveRequest, choice: SampledChoice, logits: Float32Array): number | undefined {
    const sampled = choice.sampler.sample(logits, { promptIds: request.promptIds, generatedIds: choice.generatedIds });
    choice.generatedIds.push(sampled.tokenId);
    for (const event of choice.output.accept(sampled)) request.channel.push(event);
    return choice.output.finished ? undefined : sampled.tokenId;
  }

  /** Frees the rows of choices that finished; the request ends when all have. */
  private releaseFinishedChoices(request: ActiveRequest): void {
    if (request.beam || request.done) return;
    const live = request.choices.filter((c) => !c.output.finished).length;
    this.rowsInUse -= request.rowsHeld - live;
    request.rowsHeld = live;
    if (live === 0) this.finishRequest(request);
  }

  /** One beam-search step over the request's rows; emits the best beams when the search is done. */
  private beamStep(request: ActiveRequest, logits: readonly Float32Array[], sources: readonly RowSource[]): PlannedRow[] {
    const beam = request.beam!;
    const logprobs = logits.map((row, k) => {
      const scratch = (this.beamScratch[k] ??= new Float32Array(this.runner.vocabSize));
      scratch.set(row);
      request.beamPipeline?.process(scratch, { promptIds: request.promptIds, generatedIds: beam.tokensOf(k) });
      return logSoftmax(scratch, scratch);
    });
    const step = beam.step(logprobs);
    if (beam.done) {
      beam.best(request.params.n).forEach((hypothesis, index) => {
        const output = new ChoiceOutput(index, request.params, this.options.eosTokenId, this.options.tokenizer, request.userPromptIds);
        for (const event of output.acceptBeam(hypothesis)) request.channel.push(event);
      });
      this.finishRequest(request);
      return [];
    }
    return step.parents.map((parent, slot) => ({ row: { request, slot, nextToken: step.tokens[slot]! }, source: sources[parent]! }));
  }

  private tokenInfoFrom(logprobs: Float32Array, tokenId: number, top: number): TokenInfo {
    return {
      tokenId,
      text: this.options.tokenizer.tokenText(tokenId),
      logprob: logprobs[tokenId]!,
      topLogprobs: topKIndices(logprobs, top).map((id) => ({ tokenId: id, text: this.options.tokenizer.tokenText(id), logprob: logprobs[id]! })),
    };
  }
}
