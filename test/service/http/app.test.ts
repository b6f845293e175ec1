import OpenAI, { APIError, RateLimitError } from 'openai';
import { createFakeBackend, FAKE_MODEL, type FakeBackend } from '../../support/fake-backend';
import { startTestServer, type TestServer } from '../../support/http-server';
import { readSseData } from '../../support/sse';

let backend: FakeBackend;
let server: TestServer;

beforeAll(async () => {
  backend = createFakeBackend();
  server = await startTestServer(backend, { bodyLimitBytes: 64 * 1024 });
});
afterAll(async () => {
  await server.close();
});

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function expectEnvelope(response: Response, status: number, code: string, param: string | null = null) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toEqual({ message: expect.any(String), type: expect.any(String), param, code });
  expect((body.error.message as string).length).toBeGreaterThan(10);
  return body.error;
}

describe('completions and chat', () => {
  it('returns the backend body unchanged for /v1/completions', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'hello', max_tokens: 5 });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({ object: 'text_completion', model: FAKE_MODEL, choices: [{ text: 'echo:hello' }], usage: { completion_tokens: 5 } });
    expect(response.headers.get('x-fake-backend')).toBe('yes');
  });

  it('answers /v1/chat/completions with the chat body', async () => {
    const response = await post('/v1/chat/completions', { model: FAKE_MODEL, messages: [{ role: 'user', content: 'hi' }] });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: 'echo:hi' } }] });
  });

  it('answers the legacy /v1/engines/{engine}/completions with the engine as the model', async () => {
    const response = await post(`/v1/engines/${FAKE_MODEL}/completions`, { prompt: 'old' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ model: FAKE_MODEL, choices: [{ text: 'echo:old' }] });
    const unknown = await post('/v1/engines/davinci/completions', { prompt: 'old' });
    await expectEnvelope(unknown, 404, 'model_not_found', 'model');
  });

  it('ignores unknown fields and passes only known ones to the backend', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'x', frobnicate: { deep: [1, 2] }, max_tokens: 2 });
    expect(response.status).toBe(200);
  });

  it('accepts application/json with a charset parameter', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'x' }, { 'content-type': 'application/json; charset=utf-8' });
    expect(response.status).toBe(200);
  });
});

describe('streaming', () => {
  it('frames chunks as SSE data events, then [DONE], with streaming headers', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'x', stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(response.headers.get('x-fake-backend')).toBe('yes');
    const { raw, data } = await readSseData(response);
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(data).toHaveLength(4);
    expect(data.slice(0, 3).map((event) => (JSON.parse(event) as { choices: { text: string }[] }).choices[0]?.text)).toEqual(['tok0 ', 'tok1 ', 'tok2 ']);
  });

  it('streams chat chunks', async () => {
    const response = await post('/v1/chat/completions', { model: FAKE_MODEL, messages: [{ role: 'user', content: 'x' }], stream: true });
    const { data } = await readSseData(response);
    expect(data[data.length - 1]).toBe('[DONE]');
    expect(JSON.parse(data[0] ?? '')).toMatchObject({ object: 'chat.completion.chunk', choices: [{ delta: { content: 'tok0 ' } }] });
  });

  it('sends a mid-stream error as a final error event and ends the stream without [DONE]', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'fail-mid-stream', stream: true });
    expect(response.status).toBe(200);
    const { data } = await readSseData(response);
    expect(data).toHaveLength(3);
    expect(JSON.parse(data[2] ?? '')).toEqual({ error: { message: 'fake failure mid-stream', type: 'server_error', param: null, code: 'engine_failed' } });
  });

  it('answers an error the backend raises before streaming with its own status', async () => {
    const response = await post('/v1/completions', { model: 'nope', prompt: 'x', stream: true });
    await expectEnvelope(response, 404, 'model_not_found', 'model');
  });

  it('delivers each chunk as it is produced, not buffered to the end', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'slow', stream: true });
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: \{.*tok0/);
    await reader.cancel();
  });
});

describe('errors', () => {
  it('returns 400 with the zod path as param for a wrong type', async () => {
    const error = await expectEnvelope(await post('/v1/completions', { model: FAKE_MODEL, prompt: 'x', temperature: 'hot' }), 400, 'invalid_type', 'temperature');
    expect(error.message).toMatch(/temperature.*expected number, received string/);
  });

  it('names a nested path in chat messages', async () => {
    const response = await post('/v1/chat/completions', { model: FAKE_MODEL, messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 7 }] });
    const error = await expectEnvelope(response, 400, 'invalid_type', 'messages[1].content');
    expect(error.message).toMatch(/expected string or array, received number/);
  });

  it('reports a missing required parameter', async () => {
    const error = await expectEnvelope(await post('/v1/completions', { model: FAKE_MODEL }), 400, 'missing_required_parameter', 'prompt');
    expect(error.message).toContain("'prompt'");
  });

  it('rejects out-of-range values with invalid_value', async () => {
    await expectEnvelope(await post('/v1/completions', { model: FAKE_MODEL, prompt: 'x', temperature: 3 }), 400, 'invalid_value', 'temperature');
    await expectEnvelope(await post('/v1/completions', { model: FAKE_MODEL, prompt: 'x', max_tokens: 1e300 }), 400, 'invalid_value', 'max_tokens');
  });

  it('rejects a body that is not an object', async () => {
    await expectEnvelope(await post('/v1/completions', [1, 2]), 400, 'invalid_type', null);
    await expectEnvelope(await post('/v1/completions', 'null'), 400, 'invalid_type', null);
  });

  it('returns 400 invalid_json for malformed JSON, an empty body and invalid UTF-8', async () => {
    await expectEnvelope(await post('/v1/completions', '{"model": '), 400, 'invalid_json');
    await expectEnvelope(await post('/v1/completions', ''), 400, 'invalid_json');
    const bytes = Buffer.concat([Buffer.from('{"model":"fake-model","prompt":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const response = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes });
    const error = await expectEnvelope(response, 400, 'invalid_json');
    expect(error.message).toMatch(/UTF-8/);
  });

  it('refuses prototype-pollution keys', async () => {
    await expectEnvelope(await post('/v1/completions', '{"model":"fake-model","prompt":"x","__proto__":{"admin":true}}'), 400, 'invalid_json');
    await expectEnvelope(await post('/v1/completions', '{"model":"fake-model","prompt":"x","constructor":{"prototype":{"a":1}}}'), 400, 'invalid_json');
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('returns 415 for non-JSON content types', async () => {
    await expectEnvelope(await post('/v1/completions', 'model=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type');
    await expectEnvelope(await post('/v1/completions', 'hello', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
  });

  it('returns 413 for a body over the limit', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'x'.repeat(100 * 1024) });
    await expectEnvelope(response, 413, 'request_too_large');
  });

  it('returns 429 with the backend Retry-After header', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'rate-limit' });
    expect(response.headers.get('retry-after')).toBe('7');
    await expectEnvelope(response, 429, 'rate_limit_exceeded');
  });

  it('returns a 500 envelope without internals when the backend has a bug, and keeps serving', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'boom' });
    const error = await expectEnvelope(response, 500, 'internal_error');
    expect(error.message).not.toContain('fake backend bug');
    expect((await post('/v1/completions', { model: FAKE_MODEL, prompt: 'ok' })).status).toBe(200);
  });

  it('returns 400 invalid_url for a malformed percent-encoding in the path', async () => {
    const response = await fetch(`${server.url}/v1/models/%E0%A4%A`);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    await expectEnvelope(response, 400, 'invalid_url');
  });

  it('returns 404 unknown_url for unknown routes and wrong methods', async () => {
    const error = await expectEnvelope(await post('/v1/nothing', {}), 404, 'unknown_url');
    expect(error.message).toContain('POST /v1/nothing');
    await expectEnvelope(await fetch(`${server.url}/v1/completions`), 404, 'unknown_url');
  });
});

describe('models and tokenizer', () => {
  it('lists models in a list object', async () => {
    const response = await fetch(`${server.url}/v1/models`);
    expect(await response.json()).toEqual({ object: 'list', data: [expect.objectContaining({ id: FAKE_MODEL }), expect.objectContaining({ id: 'org/with-slash' })] });
  });

  it('retrieves a model by id, including ids with a slash, and 404s unknown ids', async () => {
    expect(await (await fetch(`${server.url}/v1/models/${FAKE_MODEL}`)).json()).toMatchObject({ id: FAKE_MODEL, object: 'model' });
    expect(await (await fetch(`${server.url}/v1/models/org/with-slash`)).json()).toMatchObject({ id: 'org/with-slash' });
    await expectEnvelope(await fetch(`${server.url}/v1/models/gpt-5`), 404, 'model_not_found', 'model');
  });

  it('tokenizes and detokenizes through the backend', async () => {
    const tokens = await (await post('/tokenize', { prompt: 'ab' })).json();
    expect(tokens).toEqual({ tokens: [97, 98], count: 2, max_model_len: 1024 });
    expect(await (await post('/detokenize', { tokens: [97, 98] })).json()).toEqual({ prompt: 'ab' });
    await expectEnvelope(await post('/detokenize', { tokens: ['a'] }), 400, 'invalid_type', 'tokens[0]');
  });

  it('answers 404 for /tokenize when the backend has no tokenizer', async () => {
    const other = await startTestServer(createFakeBackend({ withTokenizer: false }));
    try {
      const response = await fetch(`${other.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
      const error = await expectEnvelope(response, 404, 'unknown_url');
      expect(error.message).toMatch(/no tokenizer/);
    } finally {
      await other.close();
    }
  });
});

describe('request ids and logs', () => {
  it('echoes a valid x-request-id, passes it to the backend and logs it', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'id' }, { 'x-request-id': 'trace-123' });
    expect(response.headers.get('x-request-id')).toBe('trace-123');
    expect(backend.contexts.some((ctx) => ctx.requestId === 'trace-123')).toBe(true);
    const line = server.logs.find((entry) => entry.request_id === 'trace-123' && entry.msg === 'request completed');
    expect(line).toMatchObject({ route: '/v1/completions', status: 200, method: 'POST', duration_ms: expect.any(Number) });
  });

  it('replaces an unsafe x-request-id with a generated one', async () => {
    const response = await post('/v1/completions', { model: FAKE_MODEL, prompt: 'id' }, { 'x-request-id': 'bad id with spaces' });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never logs prompts or completions unless logContent is on', async () => {
    await post('/v1/completions', { model: FAKE_MODEL, prompt: 'secret-prompt-text' });
    expect(JSON.stringify(server.logs)).not.toContain('secret-prompt-text');
  });

  it('logs prompts and streamed completions when logContent is on', async () => {
    const logged = await startTestServer(createFakeBackend(), { logContent: true });
    try {
      await readSseData(await fetch(`${logged.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: FAKE_MODEL, prompt: 'visible-prompt', stream: true }) }));
      const text = JSON.stringify(logged.logs);
      expect(text).toContain('visible-prompt');
      expect(logged.logs.find((entry) => entry.msg === 'response content')).toMatchObject({ completion: ['tok0 tok1 tok2 '] });
    } finally {
      await logged.close();
    }
  });
});

describe('the openai SDK against the surface', () => {
  it('raises a mid-stream error event as an APIError from the stream iterator', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.completions.create({ model: FAKE_MODEL, prompt: 'fail-mid-stream', stream: true });
    const texts: string[] = [];
    const error = await (async () => {
      for await (const chunk of stream) texts.push(chunk.choices[0]?.text ?? '');
    })().catch((caught: unknown) => caught);
    expect(texts).toEqual(['tok0 ', 'tok1 ']);
    expect(error).toBeInstanceOf(APIError);
    expect((error as InstanceType<typeof APIError>).message).toContain('fake failure mid-stream');
  });

  it('raises a 429 as RateLimitError after reading Retry-After', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const error = await client.completions.create({ model: FAKE_MODEL, prompt: 'rate-limit' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as InstanceType<typeof RateLimitError>).headers.get('retry-after')).toBe('7');
  });
});
