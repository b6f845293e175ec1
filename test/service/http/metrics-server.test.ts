import pino from 'pino';
import { buildMetricsServer } from '../../../service/http/metrics-server';
import { createFakeBackend, FAKE_MODEL } from '../../support/fake-backend';
import { startTestServer } from '../../support/http-server';

describe('the metrics listener (METRICS_PORT)', () => {
  it('serves /metrics of the shared registry while the API port answers 404 unknown_url for it', async () => {
    const server = await startTestServer(createFakeBackend(), { serveMetrics: false });
    const metrics = buildMetricsServer({ registry: server.registry, logger: pino({ level: 'silent' }) });
    try {
      const metricsUrl = await metrics.listen({ host: '127.0.0.1', port: 0 });
      await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: FAKE_MODEL, prompt: 'x' }) });

      const onApiPort = await fetch(`${server.url}/metrics`);
      expect(onApiPort.status).toBe(404);
      expect(await onApiPort.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'unknown_url' } });

      const scraped = await fetch(`${metricsUrl}/metrics`);
      expect(scraped.status).toBe(200);
      expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
      expect(await scraped.text()).toContain('http_requests_total{method="POST",route="/v1/completions",status="200"} 1');

      const apiOnMetricsPort = await fetch(`${metricsUrl}/v1/models`);
      expect(apiOnMetricsPort.status).toBe(404);
      expect(await apiOnMetricsPort.json()).toMatchObject({ error: { code: 'unknown_url' } });
    } finally {
      await Promise.all([server.close(), metrics.close()]);
    }
  });
});
