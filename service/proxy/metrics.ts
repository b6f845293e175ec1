// The proxy's Prometheus metrics, labelled by client key name and model (never by the key itself).
import { Counter, Histogram, type Registry } from 'prom-client';

export class ProxyMetrics {
  readonly requests: Counter<'client' | 'model' | 'status'>;
  readonly tokens: Counter<'client' | 'model' | 'kind'>;
  readonly upstreamLatency: Histogram<'model'>;
  readonly upstreamRetries: Counter<'model'>;
  readonly upstreamErrors: Counter<'status'>;

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
      help: 'Tokens the upstream reported, by client key name, model and kind (prompt or completion)',
      labelNames: ['client', 'model', 'kind'],
      registers,
    });
    this.upstreamLatency = new Histogram({
      name: 'proxy_upstream_latency_seconds',
      help: 'Time from sending a request upstream to its first byte (response headers, or first chunk when streaming)',
      labelNames: ['model'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.upstreamRetries = new Counter({
      name: 'proxy_upstream_retries_total',
      help: 'Upstream attempts repeated after a 429, a 5xx, a timeout or a network error',
      labelNames: ['model'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'proxy_upstream_errors_total',
      help: 'Failed upstream attempts, by upstream status (or "network", "timeout", "invalid_response")',
      labelNames: ['status'],
      registers,
    });
  }
}
