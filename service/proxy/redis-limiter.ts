// The limiter every replica shares (REDIS_URL): each admission is one atomic script in Redis (budgets,
// concurrency, requests and tokens per minute), so N replicas enforce one key's limits together.
// Concurrency slots are leases with an expiry that this replica renews while its requests run, so the
// slots of a replica that died free themselves PROXY_CONCURRENCY_LEASE_MS later. Settles and releases
// are sent on without waiting. While Redis cannot be reached, PROXY_SHARED_STATE_FAILURE=open admits
// against this replica's own limits (counted and logged) and books what those requests spent to the
// shared budgets once Redis is back; `closed` refuses them (503).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { budgetPeriods, type BudgetPeriods } from './budget-periods';
import type { Clock, Grant, LimitRequest, Limiter, Refusal, Spend, Verdict } from './limiter';
import { MemoryLimiter } from './memory-limiter';
import type { ProxyMetrics } from './metrics';
import type { RedisConnection } from './redis-connection';
import { ADMIT_SCRIPT, parseAdmitReply, type RedisScript, SETTLE_SCRIPT } from './redis-scripts';

/** The scripts this limiter runs, for the connection to load. */
export const LIMITER_SCRIPTS: readonly RedisScript[] = [ADMIT_SCRIPT, SETTLE_SCRIPT];

/** Spend counters outlive their period by a day, for the requests that end after midnight. */
const SPEND_GRACE_MS = 24 * 60 * 60 * 1000;

export interface RedisLimiterOptions {
  readonly connection: RedisConnection;
  readonly failure: 'open' | 'closed';
  readonly leaseMs: number;
  readonly clock: Clock;
  readonly windowMs: number;
  readonly log: Logger;
  readonly metrics: ProxyMetrics;
}

/** One key's counters; the `{name}` hash tag puts them in one slot, as a script's keys must be in a cluster. */
function keysOf(client: string, periods: BudgetPeriods) {
  const prefix = `proxy:{${client}}`;
  return {
    requests: `${prefix}:requests`,
    tokens: `${prefix}:tokens`,
    leases: `${prefix}:leases`,
    day: `${prefix}:spend:${periods.day.id}`,
    month: `${prefix}:spend:${periods.month.id}`,
  };
}

const REFUSALS: Readonly<Record<number, (retryMs: number, request: LimitRequest) => Refusal>> = {
  1: () => ({ kind: 'budget', unit: 'tokens', period: 'month' }),
  2: () => ({ kind: 'budget', unit: 'usd', period: 'month' }),
  3: () => ({ kind: 'budget', unit: 'tokens', period: 'day' }),
  4: () => ({ kind: 'budget', unit: 'usd', period: 'day' }),
  5: (_, request) => ({ kind: 'concurrency', limit: request.policy.maxConcurrent ?? 0 }),
  6: (retryAfterMs) => ({ kind: 'requests', retryAfterMs }),
  7: () => ({ kind: 'too_large' }),
  8: (retryAfterMs) => ({ kind: 'tokens', retryAfterMs }),
};

/** The per-minute buckets a booking corrects besides the spend. */
interface BookedBuckets {
  readonly requestsPerMinute?: number | undefined;
  readonly requestsBack?: number;
  readonly tokensPerMinute?: number | undefined;
}

/** What Redis has not been told of a key's spend in one pair of periods. */
interface PendingSpend {
  readonly client: string;
  readonly periods: BudgetPeriods;
  tokens: number;
  nanoUsd: number;
}

export class RedisLimiter implements Limiter {
  /** Limits this replica alone while Redis is away (failing open). */
  private readonly local: MemoryLimiter;
  /** Leases this replica holds in Redis: lease id -> its sorted set. */
  private readonly leases = new Map<string, string>();
  private renewing: NodeJS.Timeout | undefined;
  private readonly pending = new Map<string, PendingSpend>();
  /** Late admissions to give back once Redis is available again. */
  private givingBack: (() => void)[] = [];
  /** Requests admitted or refused while Redis was away, since it went. */
  private unreachableDecisions = 0;

  constructor(private readonly options: RedisLimiterOptions) {
    this.local = new MemoryLimiter(options.clock, options.windowMs);
    options.connection.onAvailable(() => this.backOnline());
  }

  async admit(request: LimitRequest): Promise<Verdict> {
    const { policy, estimate } = request;
    const now = this.options.clock();
    const periods = budgetPeriods(now);
    const keys = keysOf(request.client, periods);
    const leaseId = policy.maxConcurrent === undefined ? undefined : randomUUID();
    const args = [
      now,
      this.options.windowMs,
      policy.requestsPerMinute ?? 0,
      policy.tokensPerMinute ?? 0,
      estimate.tokens,
      estimate.nanoUsd,
      policy.maxConcurrent ?? 0,
      leaseId ?? '',
      now + this.options.leaseMs,
      this.options.leaseMs * 2,
      policy.tokensPerDay ?? 0,
      policy.tokensPerMonth ?? 0,
      policy.nanoUsdPerDay ?? 0,
      policy.nanoUsdPerMonth ?? 0,
      this.spendTtl(periods.day.endsAt, now),
      this.spendTtl(periods.month.endsAt, now),
    ].map(String);
    const grant: Grant = {
      store: 'redis',
      client: request.client,
      charged: estimate,
      periods,
      requestsPerMinute: policy.requestsPerMinute,
      tokensPerMinute: policy.tokensPerMinute,
      leaseId,
    };
    let reply;
    try {
      const raw = await this.options.connection.script('admit', ADMIT_SCRIPT, Object.values(keys), args, (late) => this.undo(late, grant));
      reply = parseAdmitReply(raw);
    } catch {
      return this.unreachable(request);
    }
    const state = {
      at: now,
      requests: policy.requestsPerMinute === undefined ? undefined : { limit: policy.requestsPerMinute, remaining: reply.requestsRemaining, resetMs: reply.requestsResetMs },
      tokens: policy.tokensPerMinute === undefined ? undefined : { limit: policy.tokensPerMinute, remaining: reply.tokensRemaining, resetMs: reply.tokensResetMs },
      spent: { day: reply.day, month: reply.month },
      periods,
    };
    const refusal = REFUSALS[reply.refusal];
    if (refusal !== undefined) return { admitted: false, refusal: refusal(reply.retryMs, request), state };
    if (leaseId !== undefined) this.hold(leaseId, keys.leases);
    return { admitted: true, grant, state };
  }

  settle(grant: Grant, used: Spend): void {
    const delta = { tokens: used.tokens - grant.charged.tokens, nanoUsd: used.nanoUsd - grant.charged.nanoUsd };
    if (grant.store === 'memory') {
      this.local.settle(grant, used);
      this.addPending(grant.client, grant.periods, delta);
      return;
    }
    if (delta.tokens === 0 && delta.nanoUsd === 0) return;
    this.book(grant.client, grant.periods, delta, { tokensPerMinute: grant.tokensPerMinute }).catch(() => this.addPending(grant.client, grant.periods, delta));
  }

  release(grant: Grant): void {
    if (grant.leaseId === undefined) return;
    if (grant.store === 'memory') {
      this.local.release(grant);
      return;
    }
    const key = this.leases.get(grant.leaseId);
    if (key === undefined) return;
    this.leases.delete(grant.leaseId);
    if (this.leases.size === 0) this.stopRenewing();
    // A release that does not reach Redis is not lost: the lease expires.
    this.options.connection.run('release', (client) => client.zRem(key, grant.leaseId!)).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.stopRenewing();
    await this.options.connection.close();
  }

  private spendTtl(endsAt: number, now: number): number {
    return Math.max(1, endsAt - now + SPEND_GRACE_MS);
  }

  /**
   * Adds `delta` to the key's spend, and to its tokens bucket with `tokensPerMinute`; with
   * `requestsPerMinute`, gives `requestsBack` requests back to its requests bucket.
   */
  private async book(client: string, periods: BudgetPeriods, delta: Spend, buckets: BookedBuckets): Promise<void> {
    const now = this.options.clock();
    const keys = keysOf(client, periods);
    const args = [
      now,
      this.options.windowMs,
      buckets.requestsPerMinute ?? 0,
      buckets.requestsBack ?? 0,
      buckets.tokensPerMinute ?? 0,
      delta.tokens,
      delta.nanoUsd,
      this.spendTtl(periods.day.endsAt, now),
      this.spendTtl(periods.month.endsAt, now),
    ];
    await this.options.connection.script('settle', SETTLE_SCRIPT, [keys.requests, keys.tokens, keys.day, keys.month], args.map(String));
  }

  /** Redis could not be asked: limit locally (open) or refuse (closed). */
  private unreachable(request: LimitRequest): Verdict {
    const { failure, log, metrics } = this.options;
    if (this.unreachableDecisions === 0) {
      log.warn(
        { failure },
        failure === 'open'
          ? "shared state: admitting requests against this replica's own limits until Redis is back (PROXY_SHARED_STATE_FAILURE=open)"
          : 'shared state: refusing requests with 503 until Redis is back (PROXY_SHARED_STATE_FAILURE=closed)',
      );
    }
    this.unreachableDecisions += 1;
    if (failure === 'closed') return { admitted: false, refusal: { kind: 'unavailable' }, state: undefined };
    metrics.failOpenAdmissions.inc();
    const verdict = this.local.decide(request);
    if (verdict.admitted) this.addPending(request.client, verdict.grant.periods, request.estimate);
    return verdict;
  }

  /** An admission that answered after its deadline was not used: give back what it took. */
  private undo(late: unknown, grant: Grant): void {
    let refusal;
    try {
      refusal = parseAdmitReply(late).refusal;
    } catch {
      return;
    }
    if (refusal !== 0) return;
    const { client, periods, charged, requestsPerMinute, tokensPerMinute } = grant;
    const back = { tokens: -charged.tokens, nanoUsd: -charged.nanoUsd };
    // The late answer usually comes while the store still counts as away: then it is sent once it is back.
    const giveBack = () => void this.book(client, periods, back, { requestsPerMinute, requestsBack: 1, tokensPerMinute }).catch(() => this.givingBack.push(giveBack));
    giveBack();
    if (grant.leaseId !== undefined) {
      this.leases.set(grant.leaseId, keysOf(grant.client, grant.periods).leases);
      this.release(grant);
    }
  }

  private addPending(client: string, periods: BudgetPeriods, delta: Spend): void {
    if (delta.tokens === 0 && delta.nanoUsd === 0) return;
    const id = `${client}\u0000${periods.day.id}`;
    const entry = this.pending.get(id) ?? { client, periods, tokens: 0, nanoUsd: 0 };
    entry.tokens += delta.tokens;
    entry.nanoUsd += delta.nanoUsd;
    this.pending.set(id, entry);
  }

  /** Redis is back: book the spend it missed and the late admissions to give back, and say what happened meanwhile. */
  private backOnline(): void {
    if (this.unreachableDecisions > 0) {
      this.options.log.info(
        { decisions: this.unreachableDecisions, failure: this.options.failure },
        this.options.failure === 'open' ? 'shared state: Redis is back; requests admitted locally meanwhile' : 'shared state: Redis is back; requests refused meanwhile',
      );
      this.unreachableDecisions = 0;
    }
    const givingBack = this.givingBack;
    this.givingBack = [];
    for (const giveBack of givingBack) giveBack();
    const bookings = [...this.pending].map(([id, entry]) => {
      this.pending.delete(id);
      return this.book(entry.client, entry.periods, entry, {}).then(
        () => true,
        () => {
          this.addPending(entry.client, entry.periods, entry);
          return false;
        },
      );
    });
    if (bookings.length === 0) return;
    // Said once the shared budgets hold it again, so operators (and tests) know when they are whole.
    void Promise.all(bookings).then((results) => {
      const clients = results.filter(Boolean).length;
      if (clients > 0) this.options.log.info({ clients }, 'shared state: booked to Redis what was spent while it was away');
    });
  }

  private hold(leaseId: string, key: string): void {
    this.leases.set(leaseId, key);
    this.renewing ??= setInterval(() => this.renew(), Math.max(100, Math.floor(this.options.leaseMs / 3))).unref();
  }

  private stopRenewing(): void {
    clearInterval(this.renewing);
    this.renewing = undefined;
  }

  /** Pushes every held lease's expiry forward: one ZADD per key, only for leases still there (XX). */
  private renew(): void {
    const expiry = this.options.clock() + this.options.leaseMs;
    const byKey = new Map<string, string[]>();
    for (const [leaseId, key] of this.leases) byKey.set(key, [...(byKey.get(key) ?? []), leaseId]);
    for (const [key, ids] of byKey) {
      const members = ids.map((value) => ({ score: expiry, value }));
      this.options.connection
        .run('renew', (client) => Promise.all([client.zAdd(key, members, { condition: 'XX' }), client.pExpire(key, this.options.leaseMs * 2)]))
        .catch(() => undefined);
    }
  }
}
