// The proxy backend against a fault-injecting upstream: what the client gets for each failure, and
// how many upstream attempts it took.
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import type { Completion } from 'openai/resources/completions';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { ApiError } from '../../../service/http/api-error';
import type { ChatCompletionRequest, CompletionRequest } from '../../../service/http/schemas';
import { FakeUpstream } from './support/fake-upstream';
import { collect, type ProxyUnderTest, proxyEnv, startProxy, testContext, UPSTREAM_KEY } from './support/harness';

const upstream = new FakeUpstream();
let url: string;
let proxy: ProxyUnderTest;

const completion = (extra: Partial<CompletionRequest> = {}): CompletionRequest => ({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', max_tokens: 8, ...extra });
const chat = (extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hi' }],
  max_tokens: 8,
  ...extra,
});

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

/** Streams a completion through the proxy until the stream fails: the texts relayed before, and the error. */
async function streamUntilError(): Promise<{ received: string[]; error: ApiError }> {
  const result = await proxy.backend.createCompletion(completion({ stream: true }), testContext('alpha', proxy.log.logger));
  if (!result.stream) throw new Error('expected a stream');
  const received: string[] = [];
  const error = await rejection(
    (async () => {
      for await (const chunk of result.chunks) received.push(chunk.choices[0]?.text ?? '');
    })(),
  );
  return { received, error };
}

beforeAll(async () => {
  url = await upstream.start();
  proxy = await startProxy(proxyEnv(url));
});
afterAll(async () => {
  await proxy.backend.close();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

describe('successful relay', () => {
  it('sends the upstream key and the resolved model, and returns the upstream body with x-ratelimit headers', async () => {
    const ctx = testContext('alpha', proxy.log.logger);
    const result = await proxy.backend.createCompletion(completion({ model: 'default' }), ctx);
    expect(result.stream).toBe(false);
    expect(result.stream === false && (result.body as Completion).choices[0]?.text).toBe('Hello, world!');
    // Relayed as the upstream wrote it (validation does not rebuild the object in schema order).
    expect(Object.keys(result.stream === false ? (result.body as object) : {}).slice(0, 4)).toEqual(['id', 'created', 'model', 'object']);
    expect(upstream.requests).toHaveLength(1);
    expect(upstream.requests[0]!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(upstream.requests[0]!.body.model).toBe('gpt-4o-mini');
    expect(ctx.headers['x-ratelimit-limit-requests']).toBe('60');
    expect(ctx.headers['x-ratelimit-remaining-requests']).toBe('59');
    expect(ctx.headers['x-ratelimit-limit-tokens']).toBe('90000');
  });

  it('relays the first chunk while the upstream still holds the rest (no buffering)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    upstream.enqueue({ kind: 'ok', gate });
    // If the proxy buffered, createChatCompletion would wait for the gate, which only opens below.
    const result = await proxy.backend.createChatCompletion(chat({ stream: true }), testContext('alpha', proxy.log.logger));
    if (!result.stream) throw new Error('expected a stream');
    const iterator = result.chunks[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done !== true && first.value.choices[0]?.delta.content).toBe('Hello');
    release();
    const rest: string[] = [];
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) rest.push(next.value.choices[0]?.delta.content ?? '');
    expect(rest.join('')).toBe(', world!');
  });

  it('asks the upstream for usage but passes the usage chunk on only when the client asked for it', async () => {
    const plain = await proxy.backend.createChatCompletion(chat({ stream: true }), testContext('alpha', proxy.log.logger));
    const withUsage = await proxy.backend.createChatCompletion(
      chat({ stream: true, stream_options: { include_usage: true } }),
      testContext('alpha', proxy.log.logger),
    );
    if (!plain.stream || !withUsage.stream) throw new Error('expected streams');
    const plainChunks: ChatCompletionChunk[] = await collect(plain.chunks);
    const usageChunks: ChatCompletionChunk[] = await collect(withUsage.chunks);
    expect(upstream.requests.map((request) => request.body.stream_options)).toEqual([{ include_usage: true }, { include_usage: true }]);
    expect(plainChunks.some((chunk) => chunk.usage)).toBe(false);
    expect(plainChunks).toHaveLength(4);
    expect(usageChunks.at(-1)?.usage).toEqual({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
  });

  it('sends no Authorization header to a keyless local upstream when PROXY_UPSTREAM_NO_AUTH=true', async () => {
    const keyless = await startProxy(proxyEnv(url, { OPENAI_API_KEY: undefined, PROXY_UPSTREAM_NO_AUTH: 'true', OPENAI_PROJECT: 'proj_1' }));
    await keyless.backend.createCompletion(completion(), testContext('alpha', keyless.log.logger));
    await keyless.backend.close();
    expect(upstream.requests[0]!.headers.authorization).toBeUndefined();
    expect(upstream.requests[0]!.headers['openai-project']).toBe('proj_1');
  });
});

describe('models', () => {
  it('answers 404 model_not_found for a model outside the allowlist without calling the upstream', async () => {
    const error = await rejection(proxy.backend.createCompletion(completion({ model: 'gpt-5-secret' }), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(404);
    expect(error.code).toBe('model_not_found');
    expect(upstream.requests).toHaveLength(0);
  });

  it('lists the allowed models and the aliases', async () => {
    const models = await proxy.backend.listModels(testContext('alpha', proxy.log.logger));
    expect(models.map((model) => model.id)).toEqual(['gpt-4o-mini', 'gpt-3.5-turbo-instruct', 'default']);
  });
});

describe('upstream faults', () => {
  it('retries a 429, waits the upstream retry-after-ms, then succeeds', async () => {
    upstream.enqueue(
      { kind: 'status', status: 429, headers: { 'retry-after-ms': '80' } },
      { kind: 'status', status: 429, headers: { 'retry-after-ms': '80' } },
    );
    const result = await proxy.backend.createCompletion(completion(), testContext('alpha', proxy.log.logger));
    expect(result.stream).toBe(false);
    expect(upstream.requests).toHaveLength(3);
    const gaps = upstream.requests.slice(1).map((request, index) => request.receivedAt - upstream.requests[index]!.receivedAt);
    // 80 ms asked for, against at most 20 and 40 ms of the proxy's own jittered backoff. Slack below 80:
    // timers count from the event loop's cached clock, which a busy machine leaves stale by some ms.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(60);
  });

  it('caps a long Retry-After and, when 429s persist, returns 429 with the upstream message after 1 + PROXY_MAX_RETRIES attempts', async () => {
    upstream.fallback = { kind: 'status', status: 429, message: 'slow down', code: 'rate_limit_exceeded', headers: { 'retry-after': '30' } };
    const started = Date.now();
    const error = await rejection(proxy.backend.createCompletion(completion(), testContext('alpha', proxy.log.logger)));
    // Two waits capped at PROXY_RETRY_MAX_DELAY_MS (100 ms) instead of the 2 x 30 s asked for; the
    // bound is loose because a loaded machine can stall for seconds, and still far below 60 s.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(upstream.requests).toHaveLength(3);
    expect(error.status).toBe(429);
    expect(error.toEnvelope().error).toMatchObject({ message: 'slow down', type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    expect(error.headers['retry-after']).toBe('30');
  });

  it('does not retry a 429 insufficient_quota (the upstream quota will not come back in seconds)', async () => {
    upstream.fallback = { kind: 'status', status: 429, message: 'You exceeded your current quota', code: 'insufficient_quota' };
    const error = await rejection(proxy.backend.createCompletion(completion(), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(429);
    expect(error.code).toBe('insufficient_quota');
    expect(upstream.requests).toHaveLength(1);
  });

  it('returns the upstream 500 envelope after retrying it', async () => {
    upstream.fallback = { kind: 'status', status: 500, message: 'The server had an error', code: 'internal' };
    const error = await rejection(proxy.backend.createCompletion(completion(), testContext('alpha', proxy.log.logger)));
    expect(upstream.requests).toHaveLength(3);
    expect(error.toEnvelope()).toEqual({ error: { message: 'The server had an error', type: 'server_error', param: null, code: 'internal' } });
    expect(error.status).toBe(500);
  });

  it('recovers from a 502 on the next attempt', async () => {
    upstream.enqueue({ kind: 'status', status: 502 });
    const result = await proxy.backend.createChatCompletion(chat(), testContext('alpha', proxy.log.logger));
    expect(result.stream).toBe(false);
    expect(upstream.requests).toHaveLength(2);
  });

  it('gives up on an upstream that hangs past the first-byte timeout with 504 upstream_timeout', async () => {
    const quick = await startProxy(proxyEnv(url, { PROXY_FIRST_BYTE_TIMEOUT_MS: '300' }));
    upstream.fallback = { kind: 'hang' };
    const started = Date.now();
    const error = await rejection(quick.backend.createCompletion(completion(), testContext('alpha', quick.log.logger)));
    await quick.backend.close();
    expect(error.status).toBe(504);
    expect(error.code).toBe('upstream_timeout');
    expect(upstream.requests).toHaveLength(3);
    // Three attempts of 300 ms each, less slack for timers counting from a stale event-loop clock.
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
  });

  it('retries a connection reset before any byte and reports 502 upstream_unreachable when it persists', async () => {
    upstream.fallback = { kind: 'reset-before-headers' };
    const error = await rejection(proxy.backend.createCompletion(completion(), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_unreachable');
    expect(upstream.requests).toHaveLength(3);
  });

  it('does not retry a connection reset after chunks reached the client; the stream ends with 502 upstream_stream_interrupted', async () => {
    upstream.enqueue({ kind: 'reset-mid-stream' });
    const { received, error } = await streamUntilError();
    expect(received).toEqual(['Hello']);
    expect(error.code).toBe('upstream_stream_interrupted');
    expect(error.status).toBe(502);
    expect(upstream.requests).toHaveLength(1);
  });

  it.each([false, true])('answers malformed upstream JSON (stream: %s) with 502 upstream_invalid_response without retrying', async (stream) => {
    upstream.enqueue({ kind: 'malformed-json' });
    const error = await rejection(proxy.backend.createCompletion(completion({ stream }), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_invalid_response');
    expect(upstream.requests).toHaveLength(1);
  });

  it('retries a stream whose first event is an upstream error event, and succeeds on the next attempt', async () => {
    upstream.enqueue({ kind: 'error-event', chunksBefore: 0 });
    const result = await proxy.backend.createCompletion(completion({ stream: true }), testContext('alpha', proxy.log.logger));
    if (!result.stream) throw new Error('expected a stream');
    const texts: string[] = [];
    for await (const chunk of result.chunks) texts.push(chunk.choices[0]?.text ?? '');
    expect(texts.join('')).toBe('Hello, world!');
    expect(upstream.requests).toHaveLength(2);
  });

  it('ends a stream with 502 upstream_stream_interrupted when the upstream sends an error event after chunks', async () => {
    upstream.enqueue({ kind: 'error-event', chunksBefore: 2 });
    const { received, error } = await streamUntilError();
    expect(received).toEqual(['Hello', ',']);
    expect(error.code).toBe('upstream_stream_interrupted');
    expect(upstream.requests).toHaveLength(1);
  });

  it('turns an upstream 401 into 502 upstream_authentication_failed without echoing the upstream message', async () => {
    upstream.enqueue({ kind: 'status', status: 401, message: `Incorrect API key provided: ${UPSTREAM_KEY}`, code: 'invalid_api_key' });
    const error = await rejection(proxy.backend.createCompletion(completion(), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_authentication_failed');
    expect(JSON.stringify(error.toEnvelope())).not.toContain('sk-');
    expect(upstream.requests).toHaveLength(1);
  });

  it('passes an upstream 400 through with its message, code and param, without retrying', async () => {
    upstream.enqueue({ kind: 'status', status: 400, message: 'max_tokens is too large', code: 'invalid_value' });
    const error = await rejection(proxy.backend.createCompletion(completion(), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(400);
    expect(error.toEnvelope().error).toMatchObject({ message: 'max_tokens is too large', code: 'invalid_value', type: 'invalid_request_error' });
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
    const stalled = await startProxy(
      proxyEnv(`https://127.0.0.1:${port}/v1`, { PROXY_CONNECT_TIMEOUT_MS: '200', PROXY_FIRST_BYTE_TIMEOUT_MS: '20000', PROXY_MAX_RETRIES: '1' }),
    );
    const started = Date.now();
    const error = await rejection(stalled.backend.createCompletion(completion(), testContext('alpha', stalled.log.logger)));
    const elapsed = Date.now() - started;
    await stalled.backend.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    expect(error.status).toBe(502);
    expect(error.code).toBe('upstream_unreachable');
    expect(sockets).toHaveLength(2);
    // Two connect timeouts of 200 ms (less slack for a stale event-loop clock); the first-byte timeout
    // would have taken 20 s. Half of that is a bound a loaded machine cannot reach by stalling.
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(10_000);
  });
});

describe('cancellation and the total timeout', () => {
  it('aborts the upstream request when the client disconnects mid-stream', async () => {
    upstream.enqueue({ kind: 'ok', chunkDelayMs: 200 });
    const ctx = testContext('alpha', proxy.log.logger);
    const result = await proxy.backend.createCompletion(completion({ stream: true }), ctx);
    if (!result.stream) throw new Error('expected a stream');
    const iterator = result.chunks[Symbol.asyncIterator]();
    await iterator.next();
    ctx.controller.abort();
    await expect(iterator.next()).rejects.toMatchObject({ code: 'request_aborted' });
    // The upstream sees the proxy close its response (an event), whenever the loaded machine gets to it.
    expect(await upstream.requests[0]!.closed).toBe('abandoned');
    expect(upstream.abandoned).toBe(1);
    expect(upstream.requests).toHaveLength(1);
  });

  it('aborts a waiting non-streaming upstream request when the client disconnects, without retrying', async () => {
    upstream.enqueue({ kind: 'hang' });
    const ctx = testContext('alpha', proxy.log.logger);
    const pending = proxy.backend.createCompletion(completion(), ctx);
    // Abort while the upstream holds the request, not before it was sent.
    await upstream.arrived(1);
    ctx.controller.abort();
    const error = await rejection(pending);
    expect(error.code).toBe('request_aborted');
    expect(await upstream.requests[0]!.closed).toBe('abandoned');
    expect(upstream.abandoned).toBe(1);
    expect(upstream.requests).toHaveLength(1);
  });

  it('ends a stream that outlives PROXY_TOTAL_TIMEOUT_MS with 504 upstream_timeout', async () => {
    // The upstream sends one chunk and holds the rest until the test ends, so only the total timeout
    // can end the stream; 2 s leaves a loaded machine ample time to relay that first chunk before it.
    const short = await startProxy(proxyEnv(url, { PROXY_FIRST_BYTE_TIMEOUT_MS: '2000', PROXY_TOTAL_TIMEOUT_MS: '2000' }));
    let release!: () => void;
    upstream.enqueue({ kind: 'ok', gate: new Promise<void>((resolve) => (release = resolve)) });
    try {
      const result = await short.backend.createCompletion(completion({ stream: true }), testContext('alpha', short.log.logger));
      if (!result.stream) throw new Error('expected a stream');
      const iterator = result.chunks[Symbol.asyncIterator]();
      const first = await iterator.next();
      expect(first.done !== true && first.value.choices[0]?.text).toBe('Hello');
      const error = await rejection(iterator.next());
      expect(error.status).toBe(504);
      expect(error.code).toBe('upstream_timeout');
    } finally {
      release();
      await short.backend.close();
    }
  });
});
