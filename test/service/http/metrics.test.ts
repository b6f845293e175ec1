import { Gauge } from 'prom-client';
import { createFakeBackend, FAKE_MODEL } from '../../support/fake-backend';
import { startTestServer, type TestServer } from '../../support/http-server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(createFakeBackend());
});
afterAll(async () => {
  await server.close();
});

it('exposes HTTP counters and latency by route pattern, process metrics, and the backend metrics on the shared registry', async () => {
  new Gauge({ name: 'vllm:num_requests_running', help: 'test gauge from the backend', labelNames: ['model_name'], registers: [server.registry] }).set({ model_name: FAKE_MODEL }, 3);
  const post = (body: unknown) => fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await post({ model: FAKE_MODEL, prompt: 'x' });
  await post({ model: FAKE_MODEL, prompt: 'x' });
  await post({ model: FAKE_MODEL });
  await fetch(`${server.url}/v1/models/${FAKE_MODEL}`);
  await fetch(`${server.url}/no/such/path/123`);

  const response = await fetch(`${server.url}/metrics`);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
  const text = await response.text();
  expect(text).toContain('http_requests_total{method="POST",route="/v1/completions",status="200"} 2');
  expect(text).toContain('http_requests_total{method="POST",route="/v1/completions",status="400"} 1');
  // Route patterns, not raw URLs, keep label cardinality bounded.
  expect(text).toContain('http_requests_total{method="GET",route="/v1/models/*",status="200"} 1');
  expect(text).toContain('http_requests_total{method="GET",route="unmatched",status="404"} 1');
  expect(text).not.toContain('/no/such/path');
  expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/v1\/completions"\} 3/);
  expect(text).toContain('process_resident_memory_bytes');
  expect(text).toContain('vllm:num_requests_running{model_name="fake-model"} 3');
});
