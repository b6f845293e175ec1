// Every call the proxy makes to its per-key limits, in one place: admit a request with its token
// estimate (or refuse it with 429), settle it with the tokens it used, release its concurrency slot.
// Admission is async so the in-memory limiter can give way to a shared one without touching callers;
// settling and releasing return nothing, so such a one sends those writes on and logs their failures.
import type { ProxyConfig } from './config';
import type { Limits } from './config-file';
import { type Clock, type Lease, RateLimiter } from './limits';

/** A request the limits let in; hand it back to `settle` and `release`. */
export interface Admitted {
  /** OpenAI's x-ratelimit-* headers for the client, as of admission. */
  readonly headers: Readonly<Record<string, string>>;
  readonly lease: Lease;
}

export class Admission {
  private readonly limiter: RateLimiter;

  constructor(config: Pick<ProxyConfig, 'keys' | 'defaultLimits'>, clock?: Clock, windowMs?: number) {
    const perKey = new Map<string, Limits>(config.keys.map((key) => [key.name, { ...config.defaultLimits, ...key.limits }]));
    this.limiter = new RateLimiter((client) => perKey.get(client) ?? config.defaultLimits, clock, windowMs);
  }

  /** Throws ApiError 429 rate_limit_exceeded (with Retry-After and x-ratelimit-*) when a limit is reached. */
  async admit(client: string, estimatedTokens: number): Promise<Admitted> {
    const lease = this.limiter.acquire(client, estimatedTokens);
    return { headers: lease.headers, lease };
  }

  /** Replaces the up-front estimate with the tokens the request used. */
  settle(admitted: Admitted, tokens: number): void {
    admitted.lease.reconcile(tokens);
  }

  /** Ends the request's concurrency slot; idempotent. */
  release(admitted: Admitted): void {
    admitted.lease.release();
  }
}
