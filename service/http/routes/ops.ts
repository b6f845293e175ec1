// Operational endpoints: liveness, readiness (loaded and not draining) and Prometheus metrics (here, or on
// the separate metrics listener when METRICS_PORT is set: service/http/metrics-server.ts).
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Backend } from '../../backend';
import { OPS_ROUTE } from './route-kinds';

export interface OpsRoutesOptions {
  readonly backend: Backend;
  readonly registry: Registry;
  readonly isDraining: () => boolean;
  /** false when the metrics listener serves /metrics instead. */
  readonly serveMetrics: boolean;
}

export function registerOpsRoutes(app: FastifyInstance, { backend, registry, isDraining, serveMetrics }: OpsRoutesOptions): void {
  const config = OPS_ROUTE;

  app.get('/health', { config }, async () => ({ status: 'ok' }));

  app.get('/ready', { config }, async (_request, reply) => {
    if (isDraining()) return reply.code(503).send({ status: 'draining' });
    if (!backend.isReady()) return reply.code(503).send({ status: 'loading' });
    return { status: 'ready' };
  });

  if (serveMetrics) registerMetricsRoute(app, registry);
}

/** GET /metrics: the registry in Prometheus' text format. */
export function registerMetricsRoute(app: FastifyInstance, registry: Registry): void {
  app.get('/metrics', { config: OPS_ROUTE }, async (_request, reply) => {
    const text = await registry.metrics();
    return reply.header('content-type', registry.contentType).send(text);
  });
}
