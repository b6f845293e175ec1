import { eventually } from '../../support/eventually';
import { createFakeBackend, FAKE_MODEL } from '../../support/fake-backend';
import { startTestServer } from '../../support/http-server';
import { readSseData } from '../../support/sse';

const json = { 'content-type': 'application/json' };
const slowStream = JSON.stringify({ model: FAKE_MODEL, prompt: 'slow', stream: true });

describe('readiness', () => {
  it('answers /health always, /ready 503 and API routes 503 not_ready until the backend is ready', async () => {
    const backend = createFakeBackend({ ready: false });
    const server = await startTestServer(backend);
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'loading' });
      const response = await fetch(`${server.url}/v1/models`);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await response.json()).toMatchObject({ error: { type: 'service_unavailable', code: 'not_ready' } });
      backend.ready = true;
      expect((await fetch(`${server.url}/ready`)).status).toBe(200);
      expect((await fetch(`${server.url}/v1/models`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('client disconnect', () => {
  it('aborts ctx.signal when a streaming client goes away', async () => {
    const backend = createFakeBackend({ chunkDelayMs: 10 });
    const server = await startTestServer(backend);
    try {
      const controller = new AbortController();
      const response = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: json, body: slowStream, signal: controller.signal });
      const reader = response.body!.getReader();
      await reader.read();
      const aborted = backend.aborted[backend.aborted.length - 1]!;
      controller.abort();
      const ctx = await aborted;
      expect(ctx.signal.aborted).toBe(true);
      await eventually(() => server.built.inFlight() === 0, 'no request in flight');
      // Logged and counted as 499 (client closed request), since no response status was completed.
      expect(await server.registry.metrics()).toContain('http_requests_total{method="POST",route="/v1/completions",status="499"} 1');
      expect(server.logs.find((line) => line.msg === 'request aborted by the client')).toMatchObject({ status: 499, route: '/v1/completions' });
      // The server keeps answering others.
      expect((await fetch(`${server.url}/v1/models`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('does not abort the signal of a request that completed normally', async () => {
    const backend = createFakeBackend();
    const server = await startTestServer(backend);
    try {
      await readSseData(await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: FAKE_MODEL, prompt: 'x', stream: true }) }));
      await eventually(() => server.built.inFlight() === 0, 'no request in flight');
      expect(backend.contexts[backend.contexts.length - 1]?.signal.aborted).toBe(false);
    } finally {
      await server.close();
    }
  });
});

describe('draining', () => {
  it('turns /ready 503, refuses new API requests with 503 draining, and lets in-flight streams finish', async () => {
    const backend = createFakeBackend({ chunkDelayMs: 5, chunks: 40 });
    const server = await startTestServer(backend);
    try {
      const inFlight = fetch(`${server.url}/v1/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: FAKE_MODEL, prompt: 'long', stream: true }) });
      const response = await inFlight;
      const drained = server.built.drain(10_000);
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'draining' });
      const refused = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: FAKE_MODEL, prompt: 'x' }) });
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ error: { type: 'service_unavailable', code: 'draining' } });
      const { data } = await readSseData(response);
      expect(data[data.length - 1]).toBe('[DONE]');
      expect(data).toHaveLength(41);
      expect(await drained).toEqual({ aborted: 0 });
    } finally {
      await server.close();
    }
  });

  it('aborts requests still running when the drain timeout passes', async () => {
    const backend = createFakeBackend({ chunkDelayMs: 20 });
    const server = await startTestServer(backend);
    try {
      const response = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: json, body: slowStream });
      const started = performance.now();
      const result = await server.built.drain(200);
      expect(result).toEqual({ aborted: 1 });
      // It waited its timeout first (a timer may fire a few ms before a clock read just ahead of it)...
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
      expect(backend.contexts[backend.contexts.length - 1]?.signal.aborted).toBe(true);
      // ...and the aborted stream had closed when drain returned, instead of drain giving up on it
      // after its grace period: no clock involved, so a loaded machine cannot make this flaky.
      expect(server.built.inFlight()).toBe(0);
      await response.text().catch(() => undefined);
    } finally {
      await server.close();
    }
  });
});
