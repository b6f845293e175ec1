// The connection to the OpenAI-compatible upstream: our client over an undici pool with a connect
// timeout, and the proxy's retry loop with first-byte and total timeouts, exponential backoff with
// full jitter, and the upstream's Retry-After (capped).
import type { Logger } from 'pino';
import { Agent } from 'undici';
import type { ApiError } from '../http/api-error';
import type { UpstreamConfig } from './config';
import type { ProxyMetrics } from './metrics';
import { type AbortCause, classifyFailure, UpstreamAbort } from './upstream-errors';
import { UpstreamClient } from './upstream-client';

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

/** An attempt in flight: its signal, and `abort` to stop its body (e.g. when the client stops reading). */
export interface Attempt {
  readonly signal: AbortSignal;
  abort(cause: AbortCause): void;
}

export interface UpstreamDeps {
  readonly metrics: ProxyMetrics;
  /** Source of jitter; tests pin it. */
  readonly random?: () => number;
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

export class Upstream {
  readonly client: UpstreamClient;
  private readonly agent: Agent;
  private readonly random: () => number;

  constructor(
    private readonly config: UpstreamConfig,
    private readonly deps: UpstreamDeps,
  ) {
    this.random = deps.random ?? Math.random;
    this.agent = new Agent({ connect: { timeout: config.connectTimeoutMs }, keepAliveTimeout: 30_000 });
    this.client = new UpstreamClient(config, this.agent);
  }

  /**
   * Runs `send` until it reaches its first byte (`send` resolves), retrying 429s, 5xx, timeouts and
   * network errors; throws the last attempt's ApiError. For streams, `send` must resolve only once
   * the first chunk is in hand, so nothing has reached the client while a retry is still possible.
   */
  async call<T>(
    model: string,
    deadline: RequestDeadline,
    log: Logger,
    send: (signal: AbortSignal) => Promise<T>,
  ): Promise<{ value: T; attempt: Attempt }> {
    for (let retry = 0; ; retry += 1) {
      const attempt = this.startAttempt(deadline);
      const stopLatency = this.deps.metrics.upstreamLatency.startTimer({ model });
      try {
        const value = await send(attempt.signal);
        // An abort racing the answer's arrival (e.g. the first-byte timeout) still means this attempt failed.
        if (attempt.signal.aborted) throw attempt.signal.reason;
        attempt.firstByteArrived();
        stopLatency();
        return { value, attempt };
      } catch (error) {
        attempt.firstByteArrived();
        const failure = classifyFailure(error, attempt.cause(), this.config.apiKey);
        attempt.abort('closed');
        this.deps.metrics.upstreamErrors.inc({ status: failure.metricStatus });
        const delayMs = this.retryDelayMs(retry, failure.retryAfterMs);
        const canRetry =
          failure.retryable && retry < this.config.maxRetries && delayMs < deadline.remainingMs() && !deadline.signal.aborted;
        log.warn(
          { upstreamStatus: failure.metricStatus, attempt: retry + 1, retryInMs: canRetry ? delayMs : undefined },
          canRetry ? 'upstream attempt failed; retrying' : 'upstream attempt failed',
        );
        if (!canRetry) throw failure.error satisfies ApiError;
        this.deps.metrics.upstreamRetries.inc({ model });
        await sleep(delayMs, deadline.signal);
        if (deadline.signal.aborted) throw classifyFailure(undefined, deadline.cause, this.config.apiKey).error;
      }
    }
  }

  /** Full jitter (a uniform wait up to base * 2^retry), or the upstream's Retry-After; both capped. */
  retryDelayMs(retry: number, retryAfterMs: number | undefined): number {
    const cap = this.config.retryMaxDelayMs;
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, cap);
    return Math.floor(this.random() * Math.min(cap, this.config.retryBaseDelayMs * 2 ** retry));
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private startAttempt(deadline: RequestDeadline) {
    const controller = new AbortController();
    const abort = (cause: AbortCause) => {
      if (!controller.signal.aborted) controller.abort(new UpstreamAbort(cause));
    };
    const onDeadline = () => abort(deadline.cause ?? 'closed');
    if (deadline.signal.aborted) onDeadline();
    else deadline.signal.addEventListener('abort', onDeadline, { once: true });
    const firstByteTimer = setTimeout(() => abort('first_byte_timeout'), this.config.firstByteTimeoutMs);
    controller.signal.addEventListener('abort', () => deadline.signal.removeEventListener('abort', onDeadline), {
      once: true,
    });
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
