// The one interface both limiters implement (memory-limiter.ts: this process alone; redis-limiter.ts:
// every replica together): admit a request against its key's limits and budgets in one atomic step,
// settle it with what it used, release its concurrency slot. Limiters decide and count; admission.ts
// turns their verdicts into HTTP (headers, 429s).
import type { BudgetPeriods } from './budget-periods';

export type Clock = () => number;

/** A key's limits and budgets after defaults are applied; an absent field is not limited. */
export interface KeyPolicy {
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
  readonly maxConcurrent?: number;
  readonly tokensPerDay?: number;
  readonly tokensPerMonth?: number;
  readonly nanoUsdPerDay?: number;
  readonly nanoUsdPerMonth?: number;
}

export interface Spend {
  readonly tokens: number;
  readonly nanoUsd: number;
}

export interface LimitRequest {
  /** The key's name. */
  readonly client: string;
  readonly policy: KeyPolicy;
  /** The up-front estimates, charged now and corrected by `settle`. */
  readonly estimate: Spend;
}

/** A per-minute limit as of the decision. */
export interface BucketState {
  readonly limit: number;
  readonly remaining: number;
  /** Milliseconds until the bucket is full again. */
  readonly resetMs: number;
}

export interface LimitState {
  /** The limiter's clock at the decision. */
  readonly at: number;
  readonly requests: BucketState | undefined;
  readonly tokens: BucketState | undefined;
  /** What the key spent in the current UTC day and month, the estimates of requests in flight included. */
  readonly spent: { readonly day: Spend; readonly month: Spend };
  readonly periods: BudgetPeriods;
}

export type Refusal =
  | { readonly kind: 'budget'; readonly unit: 'tokens' | 'usd'; readonly period: 'day' | 'month' }
  | { readonly kind: 'concurrency'; readonly limit: number }
  | { readonly kind: 'requests'; readonly retryAfterMs: number }
  /** The request alone is larger than the whole tokens-per-minute limit: waiting will not help. */
  | { readonly kind: 'too_large' }
  | { readonly kind: 'tokens'; readonly retryAfterMs: number }
  /** The shared store cannot be reached and PROXY_SHARED_STATE_FAILURE=closed. */
  | { readonly kind: 'unavailable' };

/** What an admitted request holds until it is settled and released. */
export interface Grant {
  /** Which counters hold the charge: the shared store's, or this process's (memory; also Redis failing open). */
  readonly store: 'memory' | 'redis';
  readonly client: string;
  /** What admission charged: `settle` books the difference to what was used. */
  readonly charged: Spend;
  /** The periods charged, so a request that ends after midnight settles the day it started in. */
  readonly periods: BudgetPeriods;
  /** The per-minute limits at admission (the buckets a correction or a give-back goes to), if any. */
  readonly requestsPerMinute: number | undefined;
  readonly tokensPerMinute: number | undefined;
  /** The concurrency slot, when the key has a maxConcurrent. */
  readonly leaseId: string | undefined;
}

export type Verdict =
  | { readonly admitted: true; readonly grant: Grant; readonly state: LimitState }
  | { readonly admitted: false; readonly refusal: Refusal; readonly state: LimitState | undefined };

export interface Limiter {
  /** Charges the estimate and takes a slot, or takes nothing and says why not. */
  admit(request: LimitRequest): Promise<Verdict>;
  /** Books what the request used in place of its estimate; called at most once per grant. Never throws. */
  settle(grant: Grant, used: Spend): void;
  /** Frees the concurrency slot; idempotent. Never throws. */
  release(grant: Grant): void;
  close(): Promise<void>;
}
