// The limiter of one process: requests and tokens per minute as buckets that refill continuously
// over the window (as OpenAI's limits do), concurrent requests as the set of slots held, and what each
// key spent in the current UTC day and month. Used alone without REDIS_URL, and by the Redis limiter
// while Redis cannot be reached (PROXY_SHARED_STATE_FAILURE=open). Checks in the order the Redis
// script uses: budgets, concurrency, requests, tokens.
import { randomUUID } from 'node:crypto';
import { budgetPeriods, type BudgetPeriods } from './budget-periods';
import type { BucketState, Clock, Grant, KeyPolicy, LimitRequest, Limiter, LimitState, Refusal, Spend, Verdict } from './limiter';

/** Refills at limit/windowMs; goes negative when usage is corrected upwards. Full until first used. */
class Bucket {
  private level: number | undefined;
  /** The limit the level was kept under. */
  private limit = 0;
  private updatedAt = 0;

  constructor(private readonly windowMs: number) {}

  /**
   * Refills up to `now` under `limit` and returns the level. A limit a reloaded config changed moves
   * the level by as much, so what was used in the window still counts against the new limit.
   */
  refill(limit: number, now: number): number {
    const elapsed = Math.max(0, now - this.updatedAt);
    const kept = this.level === undefined ? limit : this.level + limit - this.limit;
    const level = Math.min(limit, kept + (elapsed * limit) / this.windowMs);
    this.level = level;
    this.limit = limit;
    this.updatedAt = Math.max(this.updatedAt, now);
    return level;
  }

  take(amount: number, limit: number, now: number): void {
    this.level = Math.min(limit, this.refill(limit, now) - amount);
  }

  state(limit: number, now: number): BucketState {
    const level = this.refill(limit, now);
    return { limit, remaining: Math.max(0, Math.floor(level)), resetMs: msUntil(limit - level, limit, this.windowMs) };
  }

  msUntilAvailable(amount: number, limit: number, now: number): number {
    return msUntil(amount - this.refill(limit, now), limit, this.windowMs);
  }
}

function msUntil(missing: number, limit: number, windowMs: number): number {
  return missing <= 0 ? 0 : Math.ceil((missing * windowMs) / limit);
}

interface PeriodSpend {
  id: string;
  tokens: number;
  nanoUsd: number;
}

interface ClientState {
  readonly requests: Bucket;
  readonly tokens: Bucket;
  readonly leases: Set<string>;
  day: PeriodSpend;
  month: PeriodSpend;
}

const spendOf = (period: PeriodSpend): Spend => ({ tokens: period.tokens, nanoUsd: period.nanoUsd });

export class MemoryLimiter implements Limiter {
  private readonly clients = new Map<string, ClientState>();

  /** @param windowMs the window the per-minute limits refill over; tests shorten it */
  constructor(
    private readonly clock: Clock = Date.now,
    private readonly windowMs = 60_000,
  ) {}

  async admit(request: LimitRequest): Promise<Verdict> {
    return this.decide(request);
  }

  /** The same decision, synchronously: the Redis limiter falls back to it within one call. */
  decide({ client, policy, estimate }: LimitRequest): Verdict {
    const now = this.clock();
    const periods = budgetPeriods(now);
    const state = this.stateOf(client, periods);
    const refusal = this.refusal(state, policy, estimate.tokens, now);
    if (refusal !== undefined) return { admitted: false, refusal, state: this.snapshot(state, policy, periods, now) };
    if (policy.requestsPerMinute !== undefined) state.requests.take(1, policy.requestsPerMinute, now);
    if (policy.tokensPerMinute !== undefined) state.tokens.take(estimate.tokens, policy.tokensPerMinute, now);
    const leaseId = policy.maxConcurrent === undefined ? undefined : randomUUID();
    if (leaseId !== undefined) state.leases.add(leaseId);
    for (const period of [state.day, state.month]) {
      period.tokens += estimate.tokens;
      period.nanoUsd += estimate.nanoUsd;
    }
    const grant: Grant = { store: 'memory', client, charged: estimate, periods, requestsPerMinute: policy.requestsPerMinute, tokensPerMinute: policy.tokensPerMinute, leaseId };
    return { admitted: true, grant, state: this.snapshot(state, policy, periods, now) };
  }

  settle(grant: Grant, used: Spend): void {
    const state = this.clients.get(grant.client);
    if (state === undefined) return;
    const tokens = used.tokens - grant.charged.tokens;
    const nanoUsd = used.nanoUsd - grant.charged.nanoUsd;
    if (grant.tokensPerMinute !== undefined) state.tokens.take(tokens, grant.tokensPerMinute, this.clock());
    // A period that has ended since admission was replaced by a fresh one: nothing left to correct there.
    for (const [period, charged] of [
      [state.day, grant.periods.day],
      [state.month, grant.periods.month],
    ] as const) {
      if (period.id !== charged.id) continue;
      period.tokens += tokens;
      period.nanoUsd += nanoUsd;
    }
  }

  release(grant: Grant): void {
    if (grant.leaseId !== undefined) this.clients.get(grant.client)?.leases.delete(grant.leaseId);
  }

  async close(): Promise<void> {}

  private refusal(state: ClientState, policy: KeyPolicy, tokens: number, now: number): Refusal | undefined {
    const { day, month } = state;
    if (policy.tokensPerMonth !== undefined && month.tokens >= policy.tokensPerMonth) return { kind: 'budget', unit: 'tokens', period: 'month' };
    if (policy.nanoUsdPerMonth !== undefined && month.nanoUsd >= policy.nanoUsdPerMonth) return { kind: 'budget', unit: 'usd', period: 'month' };
    if (policy.tokensPerDay !== undefined && day.tokens >= policy.tokensPerDay) return { kind: 'budget', unit: 'tokens', period: 'day' };
    if (policy.nanoUsdPerDay !== undefined && day.nanoUsd >= policy.nanoUsdPerDay) return { kind: 'budget', unit: 'usd', period: 'day' };
    if (policy.maxConcurrent !== undefined && state.leases.size >= policy.maxConcurrent) return { kind: 'concurrency', limit: policy.maxConcurrent };
    if (policy.requestsPerMinute !== undefined && state.requests.refill(policy.requestsPerMinute, now) < 1) {
      return { kind: 'requests', retryAfterMs: state.requests.msUntilAvailable(1, policy.requestsPerMinute, now) };
    }
    if (policy.tokensPerMinute !== undefined) {
      if (tokens > policy.tokensPerMinute) return { kind: 'too_large' };
      if (state.tokens.refill(policy.tokensPerMinute, now) < tokens) {
        return { kind: 'tokens', retryAfterMs: state.tokens.msUntilAvailable(tokens, policy.tokensPerMinute, now) };
      }
    }
    return undefined;
  }

  private snapshot(state: ClientState, policy: KeyPolicy, periods: BudgetPeriods, now: number): LimitState {
    return {
      at: now,
      requests: policy.requestsPerMinute === undefined ? undefined : state.requests.state(policy.requestsPerMinute, now),
      tokens: policy.tokensPerMinute === undefined ? undefined : state.tokens.state(policy.tokensPerMinute, now),
      spent: { day: spendOf(state.day), month: spendOf(state.month) },
      periods,
    };
  }

  /** The key's state, its spend moved on to `periods` when a day or month has ended. */
  private stateOf(client: string, periods: BudgetPeriods): ClientState {
    let state = this.clients.get(client);
    if (state === undefined) {
      state = {
        requests: new Bucket(this.windowMs),
        tokens: new Bucket(this.windowMs),
        leases: new Set(),
        day: { id: periods.day.id, tokens: 0, nanoUsd: 0 },
        month: { id: periods.month.id, tokens: 0, nanoUsd: 0 },
      };
      this.clients.set(client, state);
    }
    if (state.day.id !== periods.day.id) state.day = { id: periods.day.id, tokens: 0, nanoUsd: 0 };
    if (state.month.id !== periods.month.id) state.month = { id: periods.month.id, tokens: 0, nanoUsd: 0 };
    return state;
  }
}
