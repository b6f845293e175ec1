// The proxy's Prometheus metrics, labelled by client key name, model and upstream name (never by a key),
// and those of its shared state (Redis) and config reloads.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class ProxyMetrics {
  readonly requests: Counter<'client' | 'model' | 'status'>;
  readonly tokens: Counter<'client' | 'model' | 'kind'>;
  readonly upstreamLatency: Histogram<'upstream' | 'model'>;
  readonly upstreamRetries: Counter<'model'>;
  readonly upstreamErrors: Counter<'upstream' | 'status'>;
  readonly cooldowns: Counter<'upstream' | 'model'>;
  readonly coolingDown: Gauge<'upstream' | 'model'>;
  readonly costUsd: Counter<'client' | 'model'>;
  readonly refusals: Counter<'client' | 'reason'>;
  readonly sharedStateMode: Gauge<'mode'>;
  readonly sharedStateAvailable: Gauge;
  readonly sharedStateErrors: Counter<'operation'>;
  readonly failOpenAdmissions: Counter;
  readonly configReloads: Counter<'result'>;
  /** Sets the cooling-down gauge at each scrape: cooldowns end by the clock, not by an event. */
  private reportCooling: (() => void) | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'proxy_requests_total',
      help: 'Requests the proxy answered, by client key name, requested model and response status',
      labelNames: ['client', 'model', 'status'],
      registers,
    });
    this.tokens = new Counter({
      name: 'proxy_tokens_total',
      help: 'Tokens the upstream reported (or, for a stream that broke or was aborted, estimated from what was relayed), by client key name, model and kind (prompt or completion)',
      labelNames: ['client', 'model', 'kind'],
      registers,
    });
    this.upstreamLatency = new Histogram({
      name: 'proxy_upstream_latency_seconds',
      help: 'Time from sending a request upstream to its first byte (the whole answer when not streaming, the first event when streaming), by upstream and model',
      labelNames: ['upstream', 'model'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.upstreamRetries = new Counter({
      name: 'proxy_upstream_retries_total',
      help: 'Upstream attempts after a failed one (a 429, a 5xx, a timeout, a network error; on the same or the next upstream)',
      labelNames: ['model'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'proxy_upstream_errors_total',
      help: 'Failed upstream attempts, by upstream and status (or "network", "timeout", "invalid_response", "error_event", "aborted")',
      labelNames: ['upstream', 'status'],
      registers,
    });
    this.cooldowns = new Counter({
      name: 'proxy_upstream_cooldowns_total',
      help: "Times an upstream's route for a model was taken out of rotation (failures in a row, or a 429 with Retry-After)",
      labelNames: ['upstream', 'model'],
      registers,
    });
    this.coolingDown = new Gauge({
      name: 'proxy_upstream_cooling_down',
      help: "1 while an upstream's route for a model is cooling down (out of rotation), else 0",
      labelNames: ['upstream', 'model'],
      registers,
      collect: () => this.reportCooling?.(),
    });
    this.costUsd = new Counter({
      name: 'proxy_cost_usd_total',
      help: "US dollars spent at the config's prices, from the upstream's usage (or what was relayed of a stream that broke), by client key name and model",
      labelNames: ['client', 'model'],
      registers,
    });
    this.refusals = new Counter({
      name: 'proxy_limit_refusals_total',
      help: 'Requests the limits refused, by client key name and reason (requests, tokens, too_large, concurrency, budget_tokens, budget_usd, unavailable)',
      labelNames: ['client', 'reason'],
      registers,
    });
    this.sharedStateMode = new Gauge({
      name: 'proxy_shared_state_mode',
      help: 'Where limits and budgets are kept: 1 for the active mode (memory: this process only; redis_fail_open / redis_fail_closed: Redis, and what happens while it is unreachable), 0 for the others',
      labelNames: ['mode'],
      registers,
    });
    this.sharedStateAvailable = new Gauge({
      name: 'proxy_shared_state_available',
      help: 'With REDIS_URL: 1 while Redis answers, 0 while it cannot be reached (admissions fail open or closed); always 1 in memory mode',
      registers,
    });
    this.sharedStateErrors = new Counter({
      name: 'proxy_shared_state_errors_total',
      help: 'Calls to Redis that failed or timed out, by operation (admit, settle, release, renew, probe)',
      labelNames: ['operation'],
      registers,
    });
    this.failOpenAdmissions = new Counter({
      name: 'proxy_shared_state_fail_open_total',
      help: 'Requests admitted by this replica alone, against its local limits, because Redis could not be reached (PROXY_SHARED_STATE_FAILURE=open)',
      registers,
    });
    this.configReloads = new Counter({
      name: 'proxy_config_reloads_total',
      help: 'Reloads of PROXY_CONFIG_FILE, by result (applied, refused: invalid, the previous config stays)',
      labelNames: ['result'],
      registers,
    });
  }

  /** Sets proxy_shared_state_mode: 1 for `mode`, 0 for the others. */
  setSharedStateMode(mode: 'memory' | 'redis_fail_open' | 'redis_fail_closed'): void {
    for (const each of ['memory', 'redis_fail_open', 'redis_fail_closed'] as const) this.sharedStateMode.set({ mode: each }, each === mode ? 1 : 0);
  }

  reportCoolingWith(report: () => void): void {
    this.reportCooling = report;
  }
}
