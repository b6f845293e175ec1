/**
 * @jest-environment ./test/support/onnx-environment.js
 */
// The official `openai` client (unchanged except baseURL) against the real HTTP app, the inference
// backend and the tiny GPT-2 on onnxruntime, on 127.0.0.1.
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError } from 'openai';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Backend } from '../../../service/backend';
import { createEngine } from '../../../service/engine/engine';
import { buildApp, type BuiltApp } from '../../../service/http/app';
import { createKeyAuthenticator, hashKey } from '../../../service/http/auth';
import { createInferenceBackend } from '../../../service/inference/backend';
import { eventually } from '../../support/eventually';
import { tinyModelDir } from '../../support/models';

const KEY = 'sk-test-client';
let backend: Backend;
let built: BuiltApp;
let registry: Registry;
let url: string;
let client: OpenAI;

beforeAll(async () => {
  const engine = await createEngine({ modelDir: await tinyModelDir(), intraOpThreads: 1, maxBatchSize: 8, maxQueue: 16 });
  registry = new Registry();
  backend = createInferenceBackend(engine, { servedModelName: 'gpt2', registry });
  built = await buildApp({
    backend,
    authenticator: createKeyAuthenticator([{ name: 'tests', sha256: hashKey(KEY) }]),
    registry,
    logger: pino({ level: 'silent' }),
  });
  url = await built.app.listen({ host: '127.0.0.1', port: 0 });
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
});

afterAll(async () => {
  await built?.app.close();
  await backend?.close();
});

describe('the official openai client', () => {
  it('creates a completion', async () => {
    const completion = await client.completions.create({ model: 'gpt2', prompt: 'The quick brown fox', max_tokens: 6, temperature: 0 });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBe(6);
  });

  it('creates a chat completion', async () => {
    const chat = await client.chat.completions.create({ model: 'gpt2', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 5 });
    expect(chat.object).toBe('chat.completion');
    expect(chat.choices[0]?.message.role).toBe('assistant');
    expect(typeof chat.choices[0]?.message.content).toBe('string');
  });

  it('streams through the SDK iterator, and the streamed text equals the whole response', async () => {
    const request = { model: 'gpt2', prompt: 'Streaming test', max_tokens: 8, temperature: 0 } as const;
    const whole = await client.completions.create(request);
    const stream = await client.completions.create({ ...request, stream: true });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      chunks += 1;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(text).toBe(whole.choices[0]?.text);
  });

  it('streams chat deltas', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt2', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, stream: true });
    const finishes: (string | null)[] = [];
    for await (const chunk of stream) finishes.push(chunk.choices[0]?.finish_reason ?? null);
    expect(finishes[finishes.length - 1]).not.toBeNull();
  });

  it('returns n choices', async () => {
    const completion = await client.completions.create({ model: 'gpt2', prompt: 'Choices', max_tokens: 4, n: 3, temperature: 1, seed: 3 });
    expect(completion.choices.map((choice) => choice.index).sort()).toEqual([0, 1, 2]);
  });

  it('stops at a stop sequence and never emits it', async () => {
    const free = await client.completions.create({ model: 'gpt2', prompt: 'Stop test', max_tokens: 12, temperature: 0 });
    const text = free.choices[0]?.text ?? '';
    const stop = text.slice(2, 4);
    expect(stop.length).toBe(2);
    const stopped = await client.completions.create({ model: 'gpt2', prompt: 'Stop test', max_tokens: 12, temperature: 0, stop: [stop] });
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
    expect(stopped.choices[0]?.text).toBe(text.slice(0, text.indexOf(stop)));
  });

  it('is deterministic for the same seed', async () => {
    const request = { model: 'gpt2', prompt: 'Seeded', max_tokens: 8, temperature: 1, seed: 1234 } as const;
    const first = await client.completions.create(request);
    const second = await client.completions.create(request);
    expect(second.choices[0]?.text).toBe(first.choices[0]?.text);
  });

  it('returns logprobs for completions and chat', async () => {
    const completion = await client.completions.create({ model: 'gpt2', prompt: 'Logprobs', max_tokens: 3, logprobs: 2, temperature: 0 });
    const logprobs = completion.choices[0]?.logprobs;
    expect(logprobs?.tokens).toHaveLength(3);
    expect(logprobs?.token_logprobs?.every((value) => typeof value === 'number' && value <= 0)).toBe(true);
    expect(Object.keys(logprobs?.top_logprobs?.[0] ?? {}).length).toBeGreaterThanOrEqual(1);
    const chat = await client.chat.completions.create({ model: 'gpt2', messages: [{ role: 'user', content: 'x' }], max_tokens: 2, logprobs: true, top_logprobs: 2 });
    expect(chat.choices[0]?.logprobs?.content?.[0]?.top_logprobs).toHaveLength(2);
  });

  it('lists and retrieves models', async () => {
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toContain('gpt2');
    expect((await client.models.retrieve('gpt2')).id).toBe('gpt2');
  });
});

describe('errors as the SDK typed errors', () => {
  it('BadRequestError 400 with code and param for an invalid value', async () => {
    const error = await client.completions.create({ model: 'gpt2', prompt: 'x', temperature: 5 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_value', param: 'temperature' });
  });

  it('NotFoundError 404 model_not_found for an unknown model and model id', async () => {
    const error = await client.completions.create({ model: 'gpt-5', prompt: 'x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ status: 404, code: 'model_not_found' });
    await expect(client.models.retrieve('gpt-5')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('AuthenticationError 401 invalid_api_key for a wrong key', async () => {
    const intruder = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    const error = await intruder.models.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ status: 401, code: 'invalid_api_key' });
  });
});

it('brings vllm:num_requests_running back to 0 when a client disconnects mid-stream', async () => {
  const running = async (): Promise<number> => {
    const text = await registry.metrics();
    const match = /^vllm:num_requests_running\{[^}]*\} (\d+)/m.exec(text);
    if (match?.[1] === undefined) throw new Error(`vllm:num_requests_running not exported:\n${text.slice(0, 500)}`);
    return Number(match[1]);
  };
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: 'gpt2', prompt: 'Disconnect', max_tokens: 900, ignore_eos: true, stream: true }),
    signal: controller.signal,
  });
  const reader = response.body!.getReader();
  await reader.read();
  expect(await running()).toBe(1);
  controller.abort();
  // The engine drops the row at its next step after the abort, however late a loaded machine runs it.
  await eventually(async () => (await running()) === 0, 'vllm:num_requests_running back to 0');
  expect(built.inFlight()).toBe(0);
});
