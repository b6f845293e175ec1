// Where the proxy keeps its limits and budgets: in Redis, shared by every replica, when REDIS_URL is
// set; else in this process's memory, which is right for one replica only (warned when PROXY_REPLICAS
// says there may be more). Sets proxy_shared_state_mode.
import type { Logger } from 'pino';
import type { ProxyConfig } from './config';
import type { Clock, Limiter } from './limiter';
import { MemoryLimiter } from './memory-limiter';
import type { ProxyMetrics } from './metrics';
import { RedisConnection } from './redis-connection';
import { LIMITER_SCRIPTS, RedisLimiter } from './redis-limiter';

/** How long start-up waits for Redis before serving without it (failing open or closed meanwhile). */
const STARTUP_WAIT_MS = 5000;

export interface LimiterDeps {
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly clock: Clock;
  /** The window the per-minute limits refill over; tests shorten it. */
  readonly windowMs: number;
}

export async function createLimiter(config: Pick<ProxyConfig, 'sharedState' | 'replicas'>, deps: LimiterDeps): Promise<Limiter> {
  const { sharedState, replicas } = config;
  const { metrics, log } = deps;
  if (sharedState.redisUrl === undefined) {
    metrics.setSharedStateMode('memory');
    metrics.sharedStateAvailable.set(1);
    if (replicas > 1) {
      log.warn(
        { replicas },
        `PROXY_REPLICAS=${replicas} but no REDIS_URL: each replica keeps its own limits and budgets, so a key may use up to ` +
          `${replicas} times its limits; set REDIS_URL (proxy.sharedState: managed) to share them`,
      );
    }
    return new MemoryLimiter(deps.clock, deps.windowMs);
  }
  metrics.setSharedStateMode(sharedState.failure === 'open' ? 'redis_fail_open' : 'redis_fail_closed');
  const connection = new RedisConnection({
    url: sharedState.redisUrl,
    timeoutMs: sharedState.timeoutMs,
    tlsVerify: sharedState.tlsVerify,
    caCertificates: sharedState.caCertificates,
    scripts: LIMITER_SCRIPTS,
    log,
    metrics,
  });
  log.info(
    { redis: connection.where, tls: connection.tls, failure: sharedState.failure, leaseMs: sharedState.leaseMs, replicas },
    'shared state: limits and budgets in Redis, shared by every replica',
  );
  await connection.start(STARTUP_WAIT_MS);
  return new RedisLimiter({ connection, failure: sharedState.failure, leaseMs: sharedState.leaseMs, clock: deps.clock, windowMs: deps.windowMs, log, metrics });
}
