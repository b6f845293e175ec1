// The proxy against a fault-injecting upstream, driven over HTTP by the official openai client with
// its default retries (2): what the client gets for each failure, and how many attempts reached the
// upstream in all (the proxy's retries and the SDK's together).
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { APIError } from 'openai';
import { hashKey } from '../../../service/http/auth';
import { writeProxyConfig } from './support/config-file';
import { COMPLETION_TEXT, FakeUpstream, UPSTREAM_REQUEST_ID } from './support/fake-upstream';
import { CLIENT_KEY, proxyEnv, type ServedProxy, serveProxy, UPSTREAM_KEY } from './support/harness';

const upstream = new FakeUpstream();
let url: string;
let proxy: ServedProxy;

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say hi' }], max_tokens: 8 };
const completion = { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', max_tokens: 8 };

async function failure(promise: Promise<unknown>): Promise<InstanceType<typeof APIError>> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(APIError);
  return error as InstanceType<typeof APIError>;
}

/** Streams a completion with the SDK until it throws: the texts relayed before, and the error. */
async function streamUntilError(served: ServedProxy = proxy): Promise<{ received: string[]; error: InstanceType<typeof APIError> }> {
  const stream = await served.client().completions.create({ ...completion, stream: true });
  const received: string[] = [];
  const error = await failure(
    (async () => {
      for await (const chunk of stream) received.push(chunk.choices[0]?.text ?? '');
    })(),
  );
  return { received, error };
}

/** A proxy with other settings, closed after `run`. */
async function withProxy<T>(overrides: NodeJS.ProcessEnv, run: (served: ServedProxy) => Promise<T>): Promise<T> {
  const served = await serveProxy(proxyEnv(url, overrides));
  try {
    return await run(served);
  } finally {
    await served.close();
  }
}

beforeAll(async () => {
  url = await upstream.start();
  proxy = await serveProxy(proxyEnv(url));
});
afterAll(async () => {
  await proxy.close();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

describe('successful relay', () => {
  it('relays the first chunk while the upstream still holds the rest (no buffering)', async () => {
    let release!: () => void;
    upstream.enqueue({ kind: 'ok', gate: new Promise<void>((resolve) => (release = resolve)) });
    const response = await proxy.post('/v1/chat/completions', { ...chat, stream: true });
    const reader = response.body!.getReader();
    // If the proxy buffered, this read would wait for the gate, which only opens below.
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('"content":"Hello"');
    release();
    let rest = '';
    for (let next = await reader.read(); next.done !== true; next = await reader.read()) rest += new TextDecoder().decode(next.value);
    expect(rest.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('sends no Authorization header to a keyless local upstream when PROXY_UPSTREAM_NO_AUTH=true', async () => {
    await withProxy({ OPENAI_API_KEY: undefined, PROXY_UPSTREAM_NO_AUTH: 'true', OPENAI_PROJECT: 'proj_1' }, (served) => served.client().completions.create(completion));
    expect(upstream.requests[0]!.headers.authorization).toBeUndefined();
    expect(upstream.requests[0]!.headers['openai-project']).toBe('proj_1');
  });

  it("returns the upstream's request id as x-upstream-request-id and logs it", async () => {
    const { response } = await proxy.client().completions.create(completion).withResponse();
    expect(response.headers.get('x-upstream-request-id')).toBe(UPSTREAM_REQUEST_ID);
    expect(response.headers.get('x-request-id')).not.toBe(UPSTREAM_REQUEST_ID);
    expect(proxy.accessLog().at(-1)).toMatchObject({ upstream_request_id: UPSTREAM_REQUEST_ID, upstream: 'default', attempts: 1, model: 'gpt-3.5-turbo-instruct' });
  });
});

describe('slow answers and timeouts', () => {
  it('waits for a non-streaming answer slower than the first-byte timeout instead of generating it again', async () => {
    upstream.enqueue({ kind: 'slow', delayMs: 700 });
    const body = await withProxy({ PROXY_FIRST_BYTE_TIMEOUT_MS: '200' }, (served) => served.client().chat.completions.create(chat));
    expect(body.choices[0]?.message.content).toBe('Hello, world!');
    expect(upstream.requests).toHaveLength(1);
  });

  it('ends a non-streaming request at the total timeout with 504 and x-should-retry: false: one generation in all', async () => {
    upstream.fallback = { kind: 'hang' };
    const error = await withProxy({ PROXY_FIRST_BYTE_TIMEOUT_MS: '200', PROXY_TOTAL_TIMEOUT_MS: '600' }, (served) => failure(served.client().chat.completions.create(chat)));
    expect(error.status).toBe(504);
    expect(error.code).toBe('upstream_timeout');
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(upstream.requests).toHaveLength(1);
  });

  it('retries a stream whose upstream hangs past the first-byte timeout, then answers 504: three attempts, none by the SDK', async () => {
    upstream.fallback = { kind: 'hang' };
    const started = Date.now();
    const error = await withProxy({ PROXY_FIRST_BYTE_TIMEOUT_MS: '300' }, (served) => failure(served.client().chat.completions.create({ ...chat, stream: true })));
    expect(error.status).toBe(504);
    expect(error.code).toBe('upstream_timeout');
    expect(upstream.requests).toHaveLength(3);
    // Three 300 ms first-byte waits; slack below 900 because timers count from the event loop's cached clock.
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
  });

  it('ends a stream that stalls after its first chunk at PROXY_STREAM_IDLE_TIMEOUT_MS, and frees the key\'s slot', async () => {
    const chunk = `data: ${JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: 'gpt-3.5-turbo-instruct', choices: [{ index: 0, text: 'Hello', finish_reason: null }] })}\n\n`;
    upstream.enqueue({ kind: 'sse', frames: [chunk], hold: true });
    const config = writeProxyConfig({ keys: [{ name: 'alpha', sha256: hashKey(CLIENT_KEY), limits: { maxConcurrent: 1 } }] });
    await withProxy({ PROXY_STREAM_IDLE_TIMEOUT_MS: '300', PROXY_KEYS: undefined, PROXY_CONFIG_FILE: config }, async (served) => {
      const started = Date.now();
      const { received, error } = await streamUntilError(served);
      expect(received).toEqual(['Hello']);
      expect(error.message).toMatch(/PROXY_STREAM_IDLE_TIMEOUT_MS/);
      expect((error.error as { code?: string }).code).toBe('upstream_stream_interrupted');
      // Well under the harness's 30 s total timeout, which is what a stalled stream used to hold the slot
      // for; loose because a loaded machine can stall for seconds.
      expect(Date.now() - started).toBeLessThan(15_000);
      await expect(served.client().completions.create(completion)).resolves.toMatchObject({ object: 'text_completion' });
      expect(served.accessLog().find((line) => line.status === 200 && line.route === '/v1/completions' && line.tokens_estimated === true)).toMatchObject({
        completion_tokens: 2,
      });
    });
    expect(upstream.abandoned).toBe(1);
  });

  it('ends a stream that outlives PROXY_TOTAL_TIMEOUT_MS with a 504 upstream_timeout error event', async () => {
    // The upstream sends one chunk and holds the rest, so only the total timeout can end the stream; 2 s
    // leaves a loaded machine ample time to relay that first chunk before it.
    const chunk = `data: ${JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: 'gpt-3.5-turbo-instruct', choices: [{ index: 0, text: 'Hello', finish_reason: null }] })}\n\n`;
    upstream.enqueue({ kind: 'sse', frames: [chunk], hold: true });
    const { received, error } = await withProxy({ PROXY_FIRST_BYTE_TIMEOUT_MS: '2000', PROXY_TOTAL_TIMEOUT_MS: '2000' }, (served) => streamUntilError(served));
    expect(received).toEqual(['Hello']);
    expect((error.error as { code?: string }).code).toBe('upstream_timeout');
  });
});

describe('rate limits of the upstream', () => {
  it('retries a 429 after the upstream retry-after-ms, then succeeds', async () => {
    upstream.enqueue(
      { kind: 'status', status: 429, headers: { 'retry-after-ms': '80' } },
      { kind: 'status', status: 429, headers: { 'retry-after-ms': '80' } },
    );
    await proxy.client().completions.create(completion);
    expect(upstream.requests).toHaveLength(3);
    const gaps = upstream.requests.slice(1).map((request, index) => request.receivedAt - upstream.requests[index]!.receivedAt);
    // 80 ms asked for, against at most 20 and 40 ms of the proxy's own jittered backoff. Slack below 80:
    // timers count from the event loop's cached clock, which a busy machine leaves stale by some ms.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(60);
  });

  it('returns a 429 whose Retry-After is over PROXY_RETRY_MAX_DELAY_MS at once, with the upstream\'s Retry-After and x-ratelimit-*', async () => {
    upstream.fallback = {
      kind: 'status',
      status: 429,
      message: 'Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3.',
      code: 'rate_limit_exceeded',
      headers: { 'retry-after': '20', 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20s' },
    };
    const started = Date.now();
    const error = await failure(proxy.client({ maxRetries: 0 }).chat.completions.create(chat));
    // The 20 s asked for was not waited: the client decides (loose: a loaded machine can stall for seconds).
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(upstream.requests).toHaveLength(1);
    expect(error.status).toBe(429);
    expect(error.headers?.get('retry-after')).toBe('20');
    expect(error.headers?.get('x-ratelimit-limit-requests')).toBe('3');
    expect(error.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(error.headers?.get('x-should-retry')).toBeNull();
    expect(error.message).toMatch(/Rate limit reached for gpt-4o-mini/);
  });

  it('leaves the wait to the SDK, which honours the relayed retry-after-ms with its own retries', async () => {
    upstream.fallback = { kind: 'status', status: 429, code: 'rate_limit_exceeded', headers: { 'retry-after-ms': '300' } };
    const started = Date.now();
    const error = await failure(proxy.client().chat.completions.create(chat));
    expect(error.status).toBe(429);
    expect(upstream.requests).toHaveLength(3);
    // Two SDK waits of 300 ms each; slack below 600 for timers on a stale event-loop clock.
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });

  it('returns persistent 429s after 1 + PROXY_MAX_RETRIES attempts with x-should-retry: false, so the SDK adds none', async () => {
    upstream.fallback = { kind: 'status', status: 429, message: 'slow down', code: 'rate_limit_exceeded', headers: { 'retry-after-ms': '20' } };
    const error = await failure(proxy.client().completions.create(completion));
    expect(upstream.requests).toHaveLength(3);
    expect(error.status).toBe(429);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(error.error).toMatchObject({ message: 'slow down', code: 'rate_limit_exceeded' });
  });

  it('does not retry a 429 insufficient_quota (the upstream quota will not come back in seconds)', async () => {
    upstream.fallback = { kind: 'status', status: 429, message: 'You exceeded your current quota', code: 'insufficient_quota' };
    const error = await failure(proxy.client().completions.create(completion));
    expect(error.status).toBe(429);
    expect(error.code).toBe('insufficient_quota');
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('server errors and broken connections', () => {
  it("returns the upstream's 500 body as it wrote it after retrying, and the SDK does not retry it again", async () => {
    upstream.fallback = { kind: 'status', status: 500, message: 'The server had an error', code: 'internal' };
    const response = await proxy.post('/v1/completions', completion);
    expect(response.status).toBe(500);
    expect(response.headers.get('x-should-retry')).toBe('false');
    expect(await response.text()).toBe('{"error":{"message":"The server had an error","type":"server_error","param":null,"code":"internal"}}');
    expect(upstream.requests).toHaveLength(3);
    upstream.reset();
    upstream.fallback = { kind: 'status', status: 500 };
    await failure(proxy.client().completions.create(completion));
    expect(upstream.requests).toHaveLength(3);
  });

  it('recovers from a 502 on the next attempt', async () => {
    upstream.enqueue({ kind: 'status', status: 502 });
    await proxy.client().chat.completions.create(chat);
    expect(upstream.requests).toHaveLength(2);
  });

  it('retries a connection reset before any byte and reports 502 upstream_unreachable when it persists: three attempts in all', async () => {
    upstream.fallback = { kind: 'reset-before-headers' };
    const error = await failure(proxy.client().completions.create(completion));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_unreachable');
    expect(upstream.requests).toHaveLength(3);
  });

  it('turns an upstream 401 into 502 upstream_authentication_failed without the upstream message, and the SDK does not retry it', async () => {
    upstream.fallback = { kind: 'status', status: 401, message: `Incorrect API key provided: ${UPSTREAM_KEY}`, code: 'invalid_api_key' };
    const error = await failure(proxy.client().completions.create(completion));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_authentication_failed');
    expect(JSON.stringify(error.error)).not.toContain('sk-');
    expect(upstream.requests).toHaveLength(1);
  });

  it.each([false, true])('answers malformed upstream JSON (stream: %s) with 502 upstream_invalid_response without retrying', async (stream) => {
    upstream.fallback = { kind: 'malformed-json' };
    const response = await proxy.post('/v1/completions', { ...completion, stream });
    expect(response.status).toBe(502);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('upstream_invalid_response');
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('streams that break', () => {
  it('does not retry a connection reset after chunks reached the client; the stream ends with upstream_stream_interrupted', async () => {
    upstream.enqueue({ kind: 'reset-mid-stream' });
    const { received, error } = await streamUntilError();
    expect(received).toEqual(['Hello']);
    expect((error.error as { code?: string }).code).toBe('upstream_stream_interrupted');
    expect(upstream.requests).toHaveLength(1);
  });

  it('counts the tokens of a stream that broke: the prompt estimate and the relayed text', async () => {
    upstream.enqueue({ kind: 'reset-mid-stream' });
    await streamUntilError();
    const line = await proxy.log.waitFor((entry) => entry.msg === 'request completed' && entry.tokens_estimated === true);
    // "Say hi" is 6 characters: 2 tokens; "Hello" relayed: 2 tokens.
    expect(line).toMatchObject({ prompt_tokens: 2, completion_tokens: 2, attempts: 1, upstream: 'default' });
    expect(await proxy.metrics()).toMatch(/proxy_requests_total\{client="alpha",model="gpt-3.5-turbo-instruct",status="502"\} \d+/);
  });

  it('ends a stream that stops without [DONE] and without a finish_reason with upstream_stream_interrupted', async () => {
    const chunk = (text: string) => `data: ${JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text, finish_reason: null }] })}\n\n`;
    upstream.enqueue({ kind: 'sse', frames: [chunk('Hello'), chunk(', wor')] });
    const { received, error } = await streamUntilError();
    expect(received).toEqual(['Hello', ', wor']);
    expect((error.error as { code?: string }).code).toBe('upstream_stream_interrupted');
    expect(error.message).toMatch(/before the response was complete/);
    expect(upstream.requests).toHaveLength(1);
  });

  it('closes a stream that finished every choice but sent no [DONE] with [DONE] for clients that wait for it', async () => {
    const frames = COMPLETION_TEXT.map(
      (text, index) => `data: ${JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text, finish_reason: index === 3 ? 'stop' : null }] })}\n\n`,
    );
    upstream.enqueue({ kind: 'sse', frames });
    const response = await proxy.post('/v1/completions', { ...completion, stream: true });
    expect(await response.text()).toBe(`${frames.join('')}data: [DONE]\n\n`);
  });

  it('retries a stream whose first event is an upstream error event, and succeeds on the next attempt', async () => {
    upstream.enqueue({ kind: 'error-event', chunksBefore: 0 });
    const stream = await proxy.client().completions.create({ ...completion, stream: true });
    const texts: string[] = [];
    for await (const chunk of stream) texts.push(chunk.choices[0]?.text ?? '');
    expect(texts.join('')).toBe('Hello, world!');
    expect(upstream.requests).toHaveLength(2);
  });

  it('ends a stream with upstream_stream_interrupted when the upstream sends an error event after chunks', async () => {
    upstream.enqueue({ kind: 'error-event', chunksBefore: 2 });
    const { received, error } = await streamUntilError();
    expect(received).toEqual(['Hello', ',']);
    expect((error.error as { code?: string }).code).toBe('upstream_stream_interrupted');
    expect(error.message).toMatch(/The server had an error/);
    expect(upstream.requests).toHaveLength(1);
  });
});

describe('connect timeout', () => {
  it('gives up on a connection that never completes its TLS handshake after PROXY_CONNECT_TIMEOUT_MS, not the first-byte timeout', async () => {
    // A TCP server that accepts and never speaks: the https handshake stalls inside the connect phase.
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const served = await serveProxy(
      proxyEnv(`https://127.0.0.1:${port}/v1`, { PROXY_CONNECT_TIMEOUT_MS: '200', PROXY_FIRST_BYTE_TIMEOUT_MS: '20000', PROXY_MAX_RETRIES: '1' }),
    );
    const started = Date.now();
    const error = await failure(served.client().completions.create(completion));
    const elapsed = Date.now() - started;
    await served.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_unreachable');
    expect(sockets).toHaveLength(2);
    // Two 200 ms connect timeouts, far below the 20 s first-byte timeout (loose: a loaded machine stalls).
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(10_000);
  });
});

describe('cancellation', () => {
  it('aborts the upstream request when the client disconnects mid-stream, and logs 499 with the tokens relayed so far', async () => {
    upstream.enqueue({ kind: 'ok', chunkDelayMs: 300 });
    const controller = new AbortController();
    const response = await fetch(`${proxy.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify({ ...completion, stream: true }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    const line = await proxy.log.waitFor((entry) => entry.msg === 'request aborted by the client');
    expect(line).toMatchObject({ status: 499, tokens_estimated: true, completion_tokens: 2, prompt_tokens: 2, upstream: 'default' });
    await upstream.abandonedAtLeast(1);
    expect(upstream.abandoned).toBe(1);
    expect(upstream.requests).toHaveLength(1);
  });

  it('aborts a waiting non-streaming upstream request when the client disconnects, without retrying', async () => {
    upstream.enqueue({ kind: 'hang' });
    const controller = new AbortController();
    const arrived = upstream.nextRequest();
    const pending = fetch(`${proxy.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
      body: JSON.stringify(completion),
      signal: controller.signal,
    }).catch((caught: unknown) => caught);
    await arrived;
    controller.abort();
    await pending;
    await upstream.abandonedAtLeast(1);
    expect(upstream.abandoned).toBe(1);
    expect(upstream.requests).toHaveLength(1);
  });
});
