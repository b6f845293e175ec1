import { monitorEventLoopDelay } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { Registry } from 'prom-client';
import type { Engine } from '../../../../service/engine/types';
import { createWorkerEngine, type WorkerEngineOptions } from '../../../../service/engine/worker/client';
import { createInferenceBackend } from '../../../../service/inference/backend';
import { startTestServer, type TestServer } from '../../../support/http-server';
import { tinyModelDir } from '../../../support/models';

// The HTTP server with the engine in its worker process: a model step that blocks the worker for
// seconds does not block the server, and a worker that dies ends its requests with OpenAI's error
// envelope while /ready says 503 until the restarted worker serves.

const SLOW_RUNTIME = resolve(__dirname, '..', '..', '..', 'support', 'slow-onnx-runtime.ts');
const json = { 'content-type': 'application/json' };

interface Served {
  readonly engine: Engine & { readonly workerPid: number | undefined };
  readonly server: TestServer;
  /** The inference backend's metrics. */
  readonly registry: Registry;
}

async function serve(options: Partial<WorkerEngineOptions>): Promise<Served> {
  const engine = await createWorkerEngine({ modelDir: await tinyModelDir(), intraOpThreads: 1, maxBatchSize: 4, logLevel: 'silent', ...options });
  const registry = new Registry();
  const server = await startTestServer(createInferenceBackend(engine, { servedModelName: 'gpt2', registry }));
  return { engine, server, registry };
}

/** Reads an SSE response as it arrives, recording when each event came. */
function readEvents(response: Response): { events: { at: number; data: string }[]; done: Promise<void> } {
  const events: { at: number; data: string }[] = [];
  const done = (async () => {
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      buffered += decoder.decode(chunk.value, { stream: true });
      for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
        events.push({ at: performance.now(), data: buffered.slice('data: '.length, end) });
        buffered = buffered.slice(end + 2);
      }
    }
  })();
  return { events, done };
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('HTTP with the engine in a worker process', () => {
  it('answers /health and /ready and keeps another stream going while a prefill step blocks the worker for seconds', async () => {
    // Prefill passes of 8+ tokens block the worker for BLOCK_MS; the long prompt needs two of them.
    const BLOCK_MS = 3000;
    const { engine, server } = await serve({
      prefillChunkTokens: 8,
      workerExecArgv: ['--import', SLOW_RUNTIME],
      workerEnv: { SLOW_ONNX_RUN_MS: String(BLOCK_MS), SLOW_ONNX_MIN_TOKENS: '8' },
    });
    try {
      const controller = new AbortController();
      const running = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ model: 'gpt2', prompt: 'Hi', max_tokens: 900, ignore_eos: true, temperature: 0, stream: true }),
        signal: controller.signal,
      });
      const stream = readEvents(running);
      stream.done.catch(() => undefined);
      await until(() => stream.events.length >= 3, 'the running stream');

      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const longStarted = performance.now();
      const long = fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ model: 'gpt2', prompt: Array.from({ length: 16 }, (_, i) => 1000 + i), max_tokens: 1 }),
      }).then(async (response) => ({ status: response.status, at: performance.now(), body: await response.json() }));
      let longDone = false;
      void long.then(() => (longDone = true));
      const probes: { path: string; status: number; ms: number }[] = [];
      while (!longDone) {
        for (const path of ['/health', '/ready']) {
          const begin = performance.now();
          const response = await fetch(`${server.url}${path}`);
          await response.arrayBuffer();
          probes.push({ path, status: response.status, ms: performance.now() - begin });
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      delay.disable();
      const finished = await long;
      controller.abort();

      expect(finished.status).toBe(200);
      // The setup works: the long prompt's two prefill passes held the worker for 2 x BLOCK_MS.
      expect(finished.at - longStarted).toBeGreaterThanOrEqual(2 * BLOCK_MS);
      expect(probes.every((probe) => probe.status === 200)).toBe(true);
      // With the engine on this thread, the event loop would stall for BLOCK_MS twice, a probe sent
      // during a pass would wait for the rest of it, and only a handful could complete. Here the
      // main thread never waits for a pass: the bounds leave room for a busy 2-core machine, whose
      // scheduler can keep a runnable thread waiting for hundreds of milliseconds.
      const latencies = probes.map((probe) => probe.ms).sort((a, b) => a - b);
      expect(probes.length).toBeGreaterThanOrEqual(20);
      expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(100);
      expect(latencies[latencies.length - 1]).toBeLessThan(BLOCK_MS);
      expect(delay.max / 1e6).toBeLessThan(BLOCK_MS);
      // Chunked prefill: the running stream gets a token between the long prompt's two passes, so
      // its longest gap is about one pass, where whole-prompt prefill would stop it for both.
      const times = stream.events.map((event) => event.at).filter((at) => at >= longStarted - BLOCK_MS && at <= finished.at);
      const gaps = times.slice(1).map((at, i) => at - times[i]!);
      expect(Math.max(...gaps)).toBeLessThan(1.5 * BLOCK_MS);
    } finally {
      await server.close();
      await engine.close();
    }
  }, 120_000);

  it('ends in-flight requests with an error envelope when the worker dies, says 503 on /ready, then serves again', async () => {
    const { engine, server, registry } = await serve({});
    try {
      const streaming = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ model: 'gpt2', prompt: 'Once', max_tokens: 900, ignore_eos: true, stream: true }),
      });
      const stream = readEvents(streaming);
      await until(() => stream.events.length >= 2, 'the stream');
      const whole = fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ model: 'gpt2', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 900, ignore_eos: true }),
      });
      await until(() => engine.stats().running === 2, 'both requests in the batch');
      process.kill(engine.workerPid!, 'SIGKILL');

      await stream.done;
      const last = stream.events[stream.events.length - 1]!;
      expect(last.data).not.toBe('[DONE]');
      expect(JSON.parse(last.data)).toMatchObject({ error: { type: 'service_unavailable', code: 'engine_unavailable' } });
      expect(JSON.parse(last.data).error.message).toMatch(/killed by SIGKILL.*GET \/ready is 200/);
      const refused = await whole;
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toMatchObject({ error: { type: 'service_unavailable', code: 'engine_unavailable' } });

      expect((await fetch(`${server.url}/ready`)).status).toBe(503);
      const meanwhile = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: 'gpt2', prompt: 'x', max_tokens: 1 }) });
      expect(meanwhile.status).toBe(503);
      await until(async () => (await fetch(`${server.url}/ready`)).status === 200, '/ready to turn 200');
      const after = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: 'gpt2', prompt: 'x', max_tokens: 2 }) });
      expect(after.status).toBe(200);
      const metrics = await registry.metrics();
      expect(metrics).toMatch(/vllm:request_queue_time_seconds_count\{model_name="gpt2"\} [1-9]/);
      expect(metrics).toMatch(/vllm:time_per_output_token_seconds_count\{model_name="gpt2"\} [1-9]/);
    } finally {
      await server.close();
      await engine.close();
    }
  }, 120_000);
});
