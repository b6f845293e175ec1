// Every call the proxy makes to its per-key limits and budgets, in one place: admit a request with its
// token estimate priced for its model (or refuse it: 429, or 503 when the shared store is unreachable
// and PROXY_SHARED_STATE_FAILURE=closed), settle it with the tokens it used, release its concurrency
// slot. The limiter behind it (memory or Redis) decides; settling and releasing return nothing, the
// Redis limiter sends those writes on and counts their failures.
import type { Grant, KeyPolicy, Limiter, Refusal, Spend } from './limiter';
import { limitHeaders, refusalError } from './limit-responses';
import type { ProxyMetrics } from './metrics';
import type { Price } from './config-file';
import { costNanoUsd } from './prices';
import type { TokenEstimate } from './token-estimate';

export interface AdmissionRequest {
  /** The key's name (or `anonymous`). */
  readonly client: string;
  readonly policy: KeyPolicy;
  /** The model's price, when the config has one. */
  readonly price: Price | undefined;
  readonly estimate: TokenEstimate;
}

/** A request the limits let in; hand it back to `settle` and `release`. */
export interface Admitted {
  /** x-ratelimit-* and x-budget-* headers for the client, as of admission. */
  readonly headers: Readonly<Record<string, string>>;
  readonly grant: Grant;
  readonly price: Price | undefined;
}

function reason(refusal: Refusal): string {
  return refusal.kind === 'budget' ? `budget_${refusal.unit}` : refusal.kind;
}

export class Admission {
  constructor(
    private readonly limiter: Limiter,
    private readonly metrics: ProxyMetrics,
  ) {}

  /** Throws ApiError 429 (rate_limit_exceeded, budget_exceeded) or 503 (shared_state_unavailable) when refused. */
  async admit({ client, policy, price, estimate }: AdmissionRequest): Promise<Admitted> {
    const completionTokens = estimate.totalTokens - estimate.promptTokens;
    const charged = { tokens: estimate.totalTokens, nanoUsd: costNanoUsd(price, estimate.promptTokens, completionTokens) };
    const verdict = await this.limiter.admit({ client, policy, estimate: charged });
    if (!verdict.admitted) {
      this.metrics.refusals.inc({ client, reason: reason(verdict.refusal) });
      throw refusalError(verdict.refusal, verdict.state, policy, charged.tokens);
    }
    return { headers: limitHeaders(verdict.state, policy), grant: verdict.grant, price };
  }

  /** Replaces the up-front estimate with what the request used, priced; returns that. */
  settle(admitted: Admitted, promptTokens: number, completionTokens: number): Spend {
    const used = { tokens: promptTokens + completionTokens, nanoUsd: costNanoUsd(admitted.price, promptTokens, completionTokens) };
    this.limiter.settle(admitted.grant, used);
    return used;
  }

  /** Ends the request's concurrency slot; idempotent. */
  release(admitted: Admitted): void {
    this.limiter.release(admitted.grant);
  }

  close(): Promise<void> {
    return this.limiter.close();
  }
}
