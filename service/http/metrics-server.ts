// The metrics listener (METRICS_PORT): a second HTTP server that serves only GET /metrics, on a port no
// ingress routes to, so key names and traffic volumes stay inside the replica's network.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { unknownUrl } from './errors';
import { registerMetricsRoute } from './routes/ops';

export interface MetricsServerOptions {
  readonly registry: Registry;
  readonly logger: Logger;
}

export function buildMetricsServer({ registry, logger }: MetricsServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    // Scrapes every few seconds would drown the access log; the main listener logs what matters.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
  registerMetricsRoute(app, registry);
  app.setNotFoundHandler(async (request, reply) => {
    const error = unknownUrl(request);
    return reply.code(error.status).send(error.toEnvelope());
  });
  return app;
}
