// The attempts of one request towards the upstreams: each attempt goes where the router says, with
// a first-byte timeout for streams, under the request's total timeout. A failed attempt is retried
// (on the next upstream at once, on the same one after exponential backoff with full jitter or its
// Retry-After) while retries are left and another attempt can help; the last failure is what the
// client gets, with `x-should-retry: false` so its SDK does not repeat what the proxy already did.
import type { Logger } from 'pino';
import type { ProxyConfig } from './config';
import type { ProxyMetrics } from './metrics';
import type { Target, UpstreamRouter } from './router';
import {
  type AbortCause,
  type AttemptFailure,
  classifyFailure,
  type FinalError,
  UpstreamAbort,
  UpstreamStatusError,
  upstreamRequestId,
  withHeaders,
} from './upstream-errors';

/**
 * One client request's lifetime towards the upstream: aborted when the client disconnects, when the
 * total timeout passes, or when the proxy closes. Attempts and the streamed body hang off its signal.
 */
export class RequestDeadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onClientAbort = () => this.abort('client');
  readonly startedAt = Date.now();

  constructor(
    private readonly clientSignal: AbortSignal,
    readonly totalMs: number,
  ) {
    this.timer = setTimeout(() => this.abort('total_timeout'), totalMs);
    if (clientSignal.aborted) this.abort('client');
    else clientSignal.addEventListener('abort', this.onClientAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the request was aborted, if it was. */
  get cause(): AbortCause | undefined {
    const reason: unknown = this.controller.signal.reason;
    return reason instanceof UpstreamAbort ? reason.abortCause : undefined;
  }

  remainingMs(): number {
    return this.totalMs - (Date.now() - this.startedAt);
  }

  abort(cause: AbortCause): void {
    if (!this.controller.signal.aborted) this.controller.abort(new UpstreamAbort(cause));
  }

  /** Stops the timer and the client listener; call once the request is finished either way. */
  dispose(): void {
    clearTimeout(this.timer);
    this.clientSignal.removeEventListener('abort', this.onClientAbort);
  }
}

/** An attempt in flight: its signal, and `abort` to stop its body (the client stopped reading, the stream went idle). */
export interface Attempt {
  readonly signal: AbortSignal;
  abort(cause: AbortCause): void;
  /** Why the attempt was aborted, if it was. */
  cause(): AbortCause | undefined;
}

export interface AttemptStart {
  readonly target: Target;
  /** 1 for the first attempt. */
  readonly number: number;
}

/** Told of each attempt (for the access log's upstream, attempts and upstream request id). */
export interface AttemptObserver {
  /** Before the attempt is sent. */
  attempted(start: AttemptStart): void;
  /** The upstream request id of a failed attempt's response. */
  sawUpstreamRequestId(id: string | undefined): void;
}

export interface CallOptions {
  readonly stream: boolean;
  readonly log: Logger;
  readonly observer: AttemptObserver;
}

export interface CallResult<T> {
  readonly value: T;
  readonly attempt: Attempt;
  readonly target: Target;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

type NextStep = { readonly retry: true; readonly target: Target; readonly delayMs: number } | { readonly retry: false; readonly error: FinalError };

const FINAL = { 'x-should-retry': 'false' } as const;

export interface UpstreamCallerDeps {
  readonly router: UpstreamRouter;
  readonly metrics: ProxyMetrics;
  /** The upstream keys, redacted from whatever is relayed or logged. */
  readonly secrets: readonly string[];
  /** Source of jitter; tests pin it. */
  readonly random?: () => number;
}

export class UpstreamCaller {
  private readonly random: () => number;

  constructor(
    private readonly config: Pick<ProxyConfig, 'timeouts' | 'retries'>,
    private readonly deps: UpstreamCallerDeps,
  ) {
    this.random = deps.random ?? Math.random;
  }

  /**
   * Runs `send` until an attempt reaches its first byte (`send` resolves) or no attempt is left;
   * throws the FinalError the client gets. For streams, `send` must resolve only once the first
   * event is in hand, so nothing has reached the client while another attempt is still possible.
   */
  async call<T>(
    targets: readonly Target[],
    deadline: RequestDeadline,
    options: CallOptions,
    send: (target: Target, signal: AbortSignal) => Promise<T>,
  ): Promise<CallResult<T>> {
    const { router, metrics } = this.deps;
    const tried = new Set<Target>();
    let target = router.pick(targets, tried);
    for (let retry = 0; ; retry += 1) {
      tried.add(target);
      options.observer.attempted({ target, number: retry + 1 });
      const attempt = this.startAttempt(deadline, options.stream);
      const labels = { upstream: target.client.name, model: target.model };
      const stopLatency = metrics.upstreamLatency.startTimer(labels);
      try {
        const value = await send(target, attempt.signal);
        // An abort racing the answer's arrival (e.g. the first-byte timeout) still means this attempt failed.
        if (attempt.signal.aborted) throw attempt.signal.reason;
        attempt.firstByteArrived();
        stopLatency();
        router.succeeded(target);
        return { value, attempt, target };
      } catch (error) {
        attempt.firstByteArrived();
        const failure = classifyFailure(error, attempt.cause(), this.deps.secrets);
        attempt.abort('closed');
        const requestId = error instanceof UpstreamStatusError ? upstreamRequestId(error.headers) : undefined;
        options.observer.sawUpstreamRequestId(requestId);
        if (failure.metricStatus === 'aborted') router.released(target);
        else router.failed(target, failure);
        metrics.upstreamErrors.inc({ upstream: target.client.name, status: failure.metricStatus });
        const step = this.nextStep(failure, retry, target, targets, tried, deadline);
        options.log.warn(
          {
            upstream: target.client.name,
            upstreamStatus: failure.metricStatus,
            upstream_request_id: requestId,
            attempt: retry + 1,
            next: step.retry ? step.target.client.name : undefined,
            retryInMs: step.retry ? step.delayMs : undefined,
          },
          step.retry ? 'upstream attempt failed; retrying' : 'upstream attempt failed',
        );
        if (!step.retry) throw requestId === undefined ? step.error : withHeaders(step.error, { 'x-upstream-request-id': requestId });
        metrics.upstreamRetries.inc({ model: target.model });
        if (step.delayMs > 0) await sleep(step.delayMs, deadline.signal);
        if (deadline.signal.aborted) {
          router.released(step.target);
          throw withHeaders(classifyFailure(undefined, deadline.cause, this.deps.secrets).error, FINAL);
        }
        target = step.target;
      }
    }
  }

  /** Full jitter (a uniform wait up to base * 2^retry), or the upstream's Retry-After; both capped. */
  retryDelayMs(retry: number, retryAfterMs: number | undefined): number {
    const cap = this.config.retries.maxDelayMs;
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, cap);
    return Math.floor(this.random() * Math.min(cap, this.config.retries.baseDelayMs * 2 ** retry));
  }

  private nextStep(
    failure: AttemptFailure,
    retry: number,
    failed: Target,
    targets: readonly Target[],
    tried: ReadonlySet<Target>,
    deadline: RequestDeadline,
  ): NextStep {
    const stop = (error: FinalError = withHeaders(failure.error, FINAL)): NextStep => ({ retry: false, error });
    if (failure.next === 'final' || retry >= this.config.retries.max || deadline.signal.aborted) return stop();
    const target = this.deps.router.pick(targets, tried);
    const giveBack = (error?: FinalError): NextStep => {
      this.deps.router.released(target);
      return stop(error);
    };
    if (target !== failed) return { retry: true, target, delayMs: 0 };
    if (failure.next === 'elsewhere') return giveBack();
    // Waiting longer than the proxy would is the client's call: the 429 goes back at once, with the
    // upstream's Retry-After and without x-should-retry, so an SDK waits as the upstream asked.
    if (failure.retryAfterMs !== undefined && failure.retryAfterMs > this.config.retries.maxDelayMs) return giveBack(failure.error);
    const delayMs = this.retryDelayMs(retry, failure.retryAfterMs);
    if (delayMs >= deadline.remainingMs()) return giveBack();
    return { retry: true, target, delayMs };
  }

  private startAttempt(deadline: RequestDeadline, stream: boolean): Attempt & { firstByteArrived(): void } {
    // A non-streaming answer's first byte comes when the generation is complete: a first-byte
    // timeout there would only cut off (and a retry re-run) a slow generation, so only the total
    // timeout bounds it, and the attempt can share the request's signal (its body is read whole
    // before the attempt ends, so it never needs stopping on its own).
    if (!stream) return { signal: deadline.signal, abort: () => undefined, firstByteArrived: () => undefined, cause: () => deadline.cause };
    const controller = new AbortController();
    const abort = (cause: AbortCause) => {
      if (!controller.signal.aborted) controller.abort(new UpstreamAbort(cause));
    };
    const onDeadline = () => abort(deadline.cause ?? 'closed');
    if (deadline.signal.aborted) onDeadline();
    else deadline.signal.addEventListener('abort', onDeadline, { once: true });
    const firstByteTimer = setTimeout(() => abort('first_byte_timeout'), this.config.timeouts.firstByteMs);
    controller.signal.addEventListener('abort', () => deadline.signal.removeEventListener('abort', onDeadline), { once: true });
    return {
      signal: controller.signal,
      abort,
      firstByteArrived: () => clearTimeout(firstByteTimer),
      cause: (): AbortCause | undefined => {
        const reason: unknown = controller.signal.reason;
        return reason instanceof UpstreamAbort ? reason.abortCause : undefined;
      },
    };
  }
}
