// The proxy's Prometheus metrics, labelled by client key name, model and upstream name (never by a key).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class ProxyMetrics {
  readonly requests: Counter<'client' | 'model' | 'status'>;
  readonly tokens: Counter<'client' | 'model' | 'kind'>;
  readonly upstreamLatency: Histogram<'upstream' | 'model'>;
  readonly upstreamRetries: Counter<'model'>;
  readonly upstreamErrors: Counter<'upstream' | 'status'>;
  readonly cooldowns: Counter<'upstream' | 'model'>;
  readonly coolingDown: Gauge<'upstream' | 'model'>;
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
  }

  reportCoolingWith(report: () => void): void {
    this.reportCooling = report;
  }
}
