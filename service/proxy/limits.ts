// Per-client-key limits: requests per minute and tokens per minute as token buckets that refill
// continuously over the window (as OpenAI's limits do), plus a cap on concurrent requests.
// Over a limit: ApiError 429 rate_limit_exceeded with Retry-After and OpenAI's x-ratelimit-* headers.
import { ApiError } from '../http/api-error';
import type { Limits } from './config';

export type Clock = () => number;

/** A bucket of `capacity` units that refills at capacity/windowMs; it may go negative when usage is reconciled. */
class TokenBucket {
  private level: number;
  private updatedAt: number;

  constructor(
    readonly capacity: number,
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {
    this.level = capacity;
    this.updatedAt = clock();
  }

  available(): number {
    const now = this.clock();
    this.level = Math.min(this.capacity, this.level + ((now - this.updatedAt) * this.capacity) / this.windowMs);
    this.updatedAt = now;
    return this.level;
  }

  take(amount: number): void {
    this.available();
    this.level -= amount;
  }

  /** Milliseconds until `amount` units are available (0 if they are now). */
  msUntil(amount: number): number {
    const missing = amount - this.available();
    return missing <= 0 ? 0 : Math.ceil((missing * this.windowMs) / this.capacity);
  }

  msUntilFull(): number {
    return this.msUntil(this.capacity);
  }
}

interface ClientState {
  readonly requests: TokenBucket | undefined;
  readonly tokens: TokenBucket | undefined;
  inFlight: number;
}

/** Held for the life of one admitted request. */
export interface Lease {
  /** The x-ratelimit-* headers as of admission. */
  readonly headers: Readonly<Record<string, string>>;
  /** Replaces the up-front token estimate with what the upstream reported. */
  reconcile(actualTokens: number): void;
  /** Ends the request's concurrency slot; idempotent. */
  release(): void;
}

/** OpenAI writes reset durations like `1s`, `6m0s`, `20ms`. */
export function formatResetDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const seconds = Math.ceil(ms / 100) / 10;
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${Math.round((seconds - minutes * 60) * 10) / 10}s`;
}

function rateLimitHeaders(state: ClientState): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [kind, bucket] of [
    ['requests', state.requests],
    ['tokens', state.tokens],
  ] as const) {
    if (bucket === undefined) continue;
    headers[`x-ratelimit-limit-${kind}`] = String(bucket.capacity);
    headers[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, Math.floor(bucket.available())));
    headers[`x-ratelimit-reset-${kind}`] = formatResetDuration(bucket.msUntilFull());
  }
  return headers;
}

export class RateLimiter {
  private readonly clients = new Map<string, ClientState>();

  /**
   * @param limitsFor the limits of a client key name (per-key, else the defaults)
   * @param windowMs the window the per-minute limits refill over; tests shorten it
   */
  constructor(
    private readonly limitsFor: (client: string) => Limits,
    private readonly clock: Clock = Date.now,
    private readonly windowMs = 60_000,
  ) {}

  /** Admits a request estimated at `estimatedTokens`, or throws ApiError 429 and takes nothing. */
  acquire(client: string, estimatedTokens: number): Lease {
    const state = this.stateOf(client);
    const limits = this.limitsFor(client);
    const rejection = this.check(state, limits, estimatedTokens);
    if (rejection !== undefined) {
      const headers = rateLimitHeaders(state);
      if (rejection.retryAfterMs !== undefined) {
        headers['retry-after'] = String(Math.max(1, Math.ceil(rejection.retryAfterMs / 1000)));
        headers['retry-after-ms'] = String(Math.max(1, rejection.retryAfterMs));
      }
      throw new ApiError({ status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded', message: rejection.message, headers });
    }
    state.requests?.take(1);
    state.tokens?.take(estimatedTokens);
    state.inFlight += 1;
    const headers = rateLimitHeaders(state);
    let released = false;
    let charged = estimatedTokens;
    return {
      headers,
      reconcile(actualTokens: number) {
        state.tokens?.take(actualTokens - charged);
        charged = actualTokens;
      },
      release() {
        if (released) return;
        released = true;
        state.inFlight -= 1;
      },
    };
  }

  private check(
    state: ClientState,
    limits: Limits,
    estimatedTokens: number,
  ): { message: string; retryAfterMs: number | undefined } | undefined {
    if (limits.maxConcurrent !== undefined && state.inFlight >= limits.maxConcurrent) {
      return {
        message: `Rate limit reached: ${limits.maxConcurrent} concurrent requests for this key. Retry when one finishes.`,
        retryAfterMs: 1000,
      };
    }
    if (state.requests !== undefined && state.requests.available() < 1) {
      return {
        message: `Rate limit reached: ${state.requests.capacity} requests per minute for this key. Retry after the Retry-After header's seconds.`,
        retryAfterMs: state.requests.msUntil(1),
      };
    }
    if (state.tokens !== undefined) {
      if (estimatedTokens > state.tokens.capacity) {
        return {
          message:
            `Request too large: about ${estimatedTokens} tokens (prompt/4 + max_tokens) against a limit of ` +
            `${state.tokens.capacity} tokens per minute for this key. Shorten the prompt or lower max_tokens.`,
          retryAfterMs: undefined,
        };
      }
      if (state.tokens.available() < estimatedTokens) {
        return {
          message: `Rate limit reached: ${state.tokens.capacity} tokens per minute for this key (this request needs about ${estimatedTokens}). Retry after the Retry-After header's seconds.`,
          retryAfterMs: state.tokens.msUntil(estimatedTokens),
        };
      }
    }
    return undefined;
  }

  private stateOf(client: string): ClientState {
    let state = this.clients.get(client);
    if (state === undefined) {
      const limits = this.limitsFor(client);
      const bucket = (capacity: number | undefined) =>
        capacity === undefined ? undefined : new TokenBucket(capacity, this.windowMs, this.clock);
      state = { requests: bucket(limits.requestsPerMinute), tokens: bucket(limits.tokensPerMinute), inFlight: 0 };
      this.clients.set(client, state);
    }
    return state;
  }
}
