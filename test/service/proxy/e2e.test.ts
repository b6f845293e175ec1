/**
 * @jest-environment ./test/support/onnx-environment.js
 */
// End to end: the project's own GPT-2 service (tiny model, real onnxruntime, real HTTP app, its
// own API key) is the upstream; the official `openai` client talks to the proxy in front of it.
import pino from 'pino';
import OpenAI from 'openai';
import { Registry } from 'prom-client';
import { createEngine } from '../../../service/engine/engine';
import { buildApp, type BuiltApp } from '../../../service/http/app';
import { createKeyAuthenticator, hashKey } from '../../../service/http/auth';
import { createInferenceBackend } from '../../../service/inference/backend';
import type { Backend } from '../../../service/backend';
import { tinyModelDir } from '../../support/models';
import { writeProxyConfig } from './support/config-file';
import { type ServedProxy, serveProxy } from './support/harness';

const SERVICE_KEY = 'gpt2-service-key';
const TEAM_KEY = 'team-key';
const TIGHT_KEY = 'tight-key';

let inference: { backend: Backend; built: BuiltApp; url: string };
let proxy: ServedProxy;

function client(apiKey = TEAM_KEY): OpenAI {
  return new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey, maxRetries: 0 });
}

beforeAll(async () => {
  const engine = await createEngine({ modelDir: await tinyModelDir(), intraOpThreads: 1, maxBatchSize: 4, maxQueue: 8 });
  const registry = new Registry();
  const backend = createInferenceBackend(engine, { servedModelName: 'gpt2', registry });
  const built = await buildApp({
    backend,
    authenticator: createKeyAuthenticator([{ name: 'proxy', sha256: hashKey(SERVICE_KEY) }]),
    registry,
    logger: pino({ level: 'silent' }),
  });
  inference = { backend, built, url: await built.app.listen({ host: '127.0.0.1', port: 0 }) };

  const config = writeProxyConfig({
    keys: [
      { name: 'team', sha256: hashKey(TEAM_KEY) },
      { name: 'tight', sha256: hashKey(TIGHT_KEY), limits: { requestsPerMinute: 2 } },
    ],
    models: { allow: ['gpt2'], aliases: { default: 'gpt2', 'text-davinci-003': 'gpt2' } },
  });
  proxy = await serveProxy({
    UPSTREAM_BASE_URL: `${inference.url}/v1`,
    OPENAI_API_KEY: SERVICE_KEY,
    PROXY_CONFIG_FILE: config,
    PROXY_FIRST_BYTE_TIMEOUT_MS: '20000',
    PROXY_TOTAL_TIMEOUT_MS: '30000',
  });
});

afterAll(async () => {
  await proxy?.close();
  await inference?.built.app.close();
  await inference?.backend.close();
});

describe('proxy in front of the GPT-2 service', () => {
  it('answers a completion for an alias with the upstream usage', async () => {
    const completion = await client().completions.create({ model: 'text-davinci-003', prompt: 'The quick brown fox', max_tokens: 5, temperature: 0 });
    expect(completion.object).toBe('text_completion');
    expect(completion.model).toBe('gpt2');
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage).toEqual({ prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
  });

  it('answers a chat completion', async () => {
    const chat = await client().chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, seed: 1 });
    expect(chat.object).toBe('chat.completion');
    expect(chat.choices[0]?.message.role).toBe('assistant');
    expect(chat.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('streams the same greedy text the non-streaming call returns, with usage when asked', async () => {
    const request = { model: 'gpt2', prompt: 'Once upon a time', max_tokens: 6, temperature: 0 } as const;
    const whole = await client().completions.create(request);
    const stream = await client().completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(whole.choices[0]?.text);
    expect(usage?.completion_tokens).toBe(6);
  });

  it('streams chat chunks through the official client', async () => {
    const stream = await client().chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, stream: true });
    const finishReasons: (string | null)[] = [];
    for await (const chunk of stream) finishReasons.push(chunk.choices[0]?.finish_reason ?? null);
    expect(finishReasons.at(-1)).toBe('length');
  });

  it('answers 404 for a model the proxy does not serve and passes the upstream 400 for an over-long request', async () => {
    await expect(client().completions.create({ model: 'gpt-4', prompt: 'x' })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    await expect(client().completions.create({ model: 'gpt2', prompt: 'x', max_tokens: 5000 })).rejects.toMatchObject({ status: 400 });
  });

  it('refuses a wrong client key with 401', async () => {
    await expect(client('wrong').models.list()).rejects.toMatchObject({ status: 401 });
  });

  it("applies the key's own requests-per-minute limit with 429", async () => {
    await client(TIGHT_KEY).completions.create({ model: 'gpt2', prompt: 'a', max_tokens: 1 });
    await client(TIGHT_KEY).completions.create({ model: 'gpt2', prompt: 'a', max_tokens: 1 });
    const third = client(TIGHT_KEY).completions.create({ model: 'gpt2', prompt: 'a', max_tokens: 1 });
    await expect(third).rejects.toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    const error = (await third.catch((caught: unknown) => caught)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
  });
});
