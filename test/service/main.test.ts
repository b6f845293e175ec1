import { startService, waitForReady, type ServiceProcess } from '../support/service-process';
import { tinyModelDir, tinyVariantDir } from '../support/models';

const started: ServiceProcess[] = [];
afterAll(() => {
  for (const service of started) if (service.child.exitCode === null) service.child.kill('SIGKILL');
});

function start(env: Record<string, string>): ServiceProcess {
  const service = startService(env);
  started.push(service);
  return service;
}

const KEY = 'sk-main-test';
const json = { 'content-type': 'application/json', authorization: `Bearer ${KEY}` };

it('drains on SIGTERM: the running stream completes, /ready and new requests get 503, exit code 0', async () => {
  const service = start({ MODEL_DIR: await tinyModelDir(), DRAIN_TIMEOUT_SECONDS: '60', API_KEYS: `other-key,${KEY}` });
  const url = await service.listening;
  await waitForReady(url);
  expect((await fetch(`${url}/v1/models`)).status).toBe(401);

  // The checks below need the service still draining this stream. On 2 cores at load 14 the tiny
  // model streamed 200 tokens in 6 s, while /ready answered 503 within 0.3 s of the signal: the two
  // slow down together, and 400 tokens double that margin.
  const response = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ model: 'gpt2', prompt: 'Once upon a time', max_tokens: 400, ignore_eos: true, stream: true, temperature: 0 }),
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value, { stream: true });

  service.child.kill('SIGTERM');
  // Draining starts as soon as the signal is handled; poll until readiness says so.
  let ready: Response;
  do ready = await fetch(`${url}/ready`);
  while (ready.status === 200);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toEqual({ status: 'draining' });
  const refused = await fetch(`${url}/v1/completions`, { method: 'POST', headers: json, body: JSON.stringify({ model: 'gpt2', prompt: 'x', max_tokens: 1 }) });
  expect(refused.status).toBe(503);
  expect(await refused.json()).toMatchObject({ error: { code: 'draining', type: 'service_unavailable' } });

  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
  const events = text.split('\n\n').filter((event) => event !== '');
  expect(events[events.length - 1]).toBe('data: [DONE]');
  const finish = events.map((event) => event.slice('data: '.length)).filter((data) => data !== '[DONE]').map((data) => JSON.parse(data) as { choices: { finish_reason: string | null }[] });
  expect(finish.some((chunk) => chunk.choices[0]?.finish_reason === 'length')).toBe(true);

  expect(await service.exited).toBe(0);
  expect(service.output()).toContain('"msg":"stopped"');
});

it.concurrent('exits 1 when the engine worker dies and no restart is allowed, after ending the stream in flight with an error event', async () => {
  const service = start({ MODEL_DIR: await tinyModelDir(), ENGINE_MAX_RESTARTS: '0' });
  const url = await service.listening;
  await waitForReady(url);
  const workerPid = Number(/"workerPid":(\d+),[^\n]*"msg":"engine worker ready"/.exec(service.output())?.[1]);
  expect(workerPid).toBeGreaterThan(0);
  expect(workerPid).not.toBe(service.child.pid);
  const response = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt2', prompt: 'Once upon a time', max_tokens: 900, ignore_eos: true, stream: true }),
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value, { stream: true });
  process.kill(workerPid, 'SIGKILL');
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
  const events = text.split('\n\n').filter((event) => event !== '');
  expect(JSON.parse(events[events.length - 1]!.slice('data: '.length))).toMatchObject({ error: { code: 'engine_unavailable' } });
  expect(await service.exited).toBe(1);
  expect(service.output()).toMatch(/the engine cannot serve: The inference engine failed 1 times in 10 minutes/);
}, 120_000);

it.concurrent('loads the graph MODEL_DTYPE picks in the engine worker and serves it', async () => {
  // The folder holds only model_fp16.onnx: without MODEL_DTYPE reaching the worker it would not load.
  const service = start({ MODEL_DIR: await tinyVariantDir('tiny-fp16', { precision: 'fp16' }), MODEL_DTYPE: 'fp16' });
  const url = await service.listening;
  await waitForReady(url);
  expect(service.output()).toMatch(/"onnxPath":"[^"]*onnx\/model_fp16\.onnx"[^\n]*"kvDtype":"float16"[^\n]*"msg":"engine worker ready"/);
  const response = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt2', prompt: 'Hi', max_tokens: 3, ignore_eos: true }) });
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({ usage: { completion_tokens: 3 } });
  service.child.kill('SIGTERM');
  expect(await service.exited).toBe(0);
}, 120_000);

it.concurrent('starts the proxy variant from its environment and stops on SIGTERM', async () => {
  const service = start({ VARIANT: 'proxy', PROXY_ALLOW_ANONYMOUS: 'true', OPENAI_API_KEY: 'sk-upstream', UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1' });
  const url = await service.listening;
  await waitForReady(url);
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
  expect(models.data.map((model) => model.id)).toContain('gpt-4o-mini');
  expect((await fetch(`${url}/tokenize`, { method: 'POST', headers: json, body: '{"prompt":"x"}' })).status).toBe(404);
  service.child.kill('SIGTERM');
  expect(await service.exited).toBe(0);
});

it.concurrent('exits non-zero with the resolver message when the model cannot be had', async () => {
  const service = start({ MODEL_DIR: '/nonexistent/model' });
  expect(await service.exited).toBe(1);
  expect(service.output()).toMatch(/MODEL_DIR=\/nonexistent\/model is not a folder.*npm run model:make/);
});

it.concurrent('refuses to start on a bad variable, naming it', async () => {
  const service = start({ PORT: 'eighty' });
  expect(await service.exited).toBe(2);
  expect(service.output()).toContain('PORT="eighty": expected a whole number');
});

it.concurrent('serves the playground at GET / by default and answers 404 unknown_url there with PLAYGROUND=false', async () => {
  // The proxy variant starts without a model, so both processes are quick to bring up.
  const env = { VARIANT: 'proxy', PROXY_ALLOW_ANONYMOUS: 'true', PROXY_UPSTREAM_NO_AUTH: 'true', UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1' };
  const on = start(env);
  const off = start({ ...env, PLAYGROUND: 'false' });
  const [onUrl, offUrl] = await Promise.all([on.listening, off.listening]);
  const page = await fetch(`${onUrl}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  const missing = await fetch(`${offUrl}/`);
  expect(missing.status).toBe(404);
  expect(await missing.json()).toMatchObject({ error: { code: 'unknown_url' } });
  for (const service of [on, off]) service.child.kill('SIGTERM');
  expect(await Promise.all([on.exited, off.exited])).toEqual([0, 0]);
});

it.concurrent('serves /metrics only on METRICS_PORT when set, and stops both listeners cleanly on SIGTERM', async () => {
  const service = start({ VARIANT: 'proxy', PROXY_ALLOW_ANONYMOUS: 'true', OPENAI_API_KEY: 'sk-upstream', UPSTREAM_BASE_URL: 'http://127.0.0.1:9/v1', METRICS_PORT: '0' });
  const url = await service.listening;
  await waitForReady(url);
  const metricsUrl = /"metricsAddress":"(http[^"]+)"/.exec(service.output())?.[1];
  expect(metricsUrl).toBeDefined();
  const onApiPort = await fetch(`${url}/metrics`);
  expect(onApiPort.status).toBe(404);
  expect(await onApiPort.json()).toMatchObject({ error: { code: 'unknown_url' } });
  const scraped = await fetch(`${metricsUrl}/metrics`);
  expect(scraped.status).toBe(200);
  expect(await scraped.text()).toContain('http_requests_total');
  service.child.kill('SIGTERM');
  expect(await service.exited).toBe(0);
  expect(service.output()).toContain('"msg":"stopped"');
});
