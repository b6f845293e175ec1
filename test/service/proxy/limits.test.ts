// Per-key limits through the proxy backend with an injected clock: bursts over RPM, TPM and
// concurrency get 429 with OpenAI's headers, and pass again once the window has refilled.
import { ApiError } from '../../../service/http/api-error';
import type { CompletionRequest } from '../../../service/http/schemas';
import { formatResetDuration } from '../../../service/proxy/limits';
import { FakeUpstream } from './support/fake-upstream';
import { collect, proxyEnv, startProxy, testContext } from './support/harness';
import { writeProxyConfig } from './support/config-file';

const upstream = new FakeUpstream();
let url: string;
let now = 1_000_000;
const clock = () => now;

const request = (extra: Partial<CompletionRequest> = {}): CompletionRequest => ({ model: 'gpt-3.5-turbo-instruct', prompt: 'x'.repeat(40), max_tokens: 10, ...extra });

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

beforeAll(async () => {
  url = await upstream.start();
});
afterAll(() => upstream.stop());
beforeEach(() => upstream.reset());

async function proxyWith(limits: Record<string, number>) {
  const file = writeProxyConfig({ keys: [{ name: 'alpha', sha256: 'a'.repeat(64), limits }], defaultLimits: {} });
  return startProxy(proxyEnv(url, { PROXY_KEYS: undefined, PROXY_CONFIG_FILE: file }), { clock });
}

describe('requests per minute', () => {
  it('rejects the request over the limit with 429 and x-ratelimit headers, and admits again after the window', async () => {
    const proxy = await proxyWith({ requestsPerMinute: 3 });
    const remaining: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const ctx = testContext('alpha', proxy.log.logger);
      await proxy.backend.createCompletion(request(), ctx);
      remaining.push(ctx.headers['x-ratelimit-remaining-requests']!);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const error = await rejection(proxy.backend.createCompletion(request(), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(429);
    expect(error.code).toBe('rate_limit_exceeded');
    expect(error.type).toBe('rate_limit_error');
    expect(error.headers).toMatchObject({
      'retry-after': '20',
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '1m0s',
    });
    expect(upstream.requests).toHaveLength(3);
    now += 20_000;
    await expect(proxy.backend.createCompletion(request(), testContext('alpha', proxy.log.logger))).resolves.toMatchObject({ stream: false });
    await proxy.backend.close();
  });

  it('keeps separate budgets per client key', async () => {
    const file = writeProxyConfig({
      keys: [
        { name: 'alpha', sha256: 'a'.repeat(64) },
        { name: 'beta', sha256: 'b'.repeat(64) },
      ],
      defaultLimits: { requestsPerMinute: 1 },
    });
    const proxy = await startProxy(proxyEnv(url, { PROXY_KEYS: undefined, PROXY_CONFIG_FILE: file }), { clock });
    await proxy.backend.createCompletion(request(), testContext('alpha', proxy.log.logger));
    await expect(proxy.backend.createCompletion(request(), testContext('beta', proxy.log.logger))).resolves.toMatchObject({ stream: false });
    await expect(proxy.backend.createCompletion(request(), testContext('alpha', proxy.log.logger))).rejects.toMatchObject({ status: 429 });
    await proxy.backend.close();
  });
});

describe('tokens per minute', () => {
  it('charges prompt/4 + max_tokens up front, rejects a burst over the limit, and admits after the window', async () => {
    const proxy = await proxyWith({ tokensPerMinute: 50 });
    // 40 characters -> 10 tokens, plus max_tokens 10: 20 tokens estimated each.
    const first = testContext('alpha', proxy.log.logger);
    await proxy.backend.createCompletion(request({ stream: true }), first).then((result) => (result.stream ? collect(result.chunks) : []));
    expect(first.headers['x-ratelimit-remaining-tokens']).toBe('30');
    // The fake upstream reports 9 tokens used: the 11 over-estimated are given back.
    const second = testContext('alpha', proxy.log.logger);
    await proxy.backend.createCompletion(request(), second);
    expect(second.headers['x-ratelimit-remaining-tokens']).toBe('21');
    const error = await rejection(proxy.backend.createCompletion(request({ max_tokens: 30 }), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(429);
    expect(error.headers['x-ratelimit-limit-tokens']).toBe('50');
    expect(error.headers['x-ratelimit-remaining-tokens']).toBe('32');
    expect(Number(error.headers['retry-after'])).toBeGreaterThanOrEqual(10);
    now += 60_000;
    await expect(proxy.backend.createCompletion(request({ max_tokens: 30 }), testContext('alpha', proxy.log.logger))).resolves.toMatchObject({
      stream: false,
    });
    await proxy.backend.close();
  });

  it('rejects a single request larger than the whole limit without a Retry-After', async () => {
    const proxy = await proxyWith({ tokensPerMinute: 50 });
    const error = await rejection(proxy.backend.createCompletion(request({ max_tokens: 100 }), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(429);
    expect(error.message).toMatch(/Request too large/);
    expect(error.headers['retry-after']).toBeUndefined();
    expect(upstream.requests).toHaveLength(0);
    await proxy.backend.close();
  });
});

describe('concurrent requests', () => {
  it('rejects a request beyond maxConcurrent while others stream, and admits once one finishes', async () => {
    const proxy = await proxyWith({ maxConcurrent: 1 });
    let release!: () => void;
    upstream.enqueue({ kind: 'ok', gate: new Promise<void>((resolve) => (release = resolve)) });
    const open = await proxy.backend.createCompletion(request({ stream: true }), testContext('alpha', proxy.log.logger));
    const error = await rejection(proxy.backend.createCompletion(request(), testContext('alpha', proxy.log.logger)));
    expect(error.status).toBe(429);
    expect(error.headers['retry-after']).toBe('1');
    release();
    if (open.stream) await collect(open.chunks);
    await expect(proxy.backend.createCompletion(request(), testContext('alpha', proxy.log.logger))).resolves.toMatchObject({ stream: false });
    await proxy.backend.close();
  });

  it('frees the slot of a stream nobody reads once its client disconnects', async () => {
    const proxy = await proxyWith({ maxConcurrent: 1 });
    const ctx = testContext('alpha', proxy.log.logger);
    const unread = await proxy.backend.createCompletion(request({ stream: true }), ctx);
    expect(unread.stream).toBe(true);
    await expect(proxy.backend.createCompletion(request(), testContext('alpha', proxy.log.logger))).rejects.toMatchObject({ status: 429 });
    ctx.controller.abort();
    await expect(proxy.backend.createCompletion(request(), testContext('alpha', proxy.log.logger))).resolves.toMatchObject({ stream: false });
    await proxy.backend.close();
  });
});

describe('formatResetDuration', () => {
  it.each([
    [20, '20ms'],
    [1500, '1.5s'],
    [60_000, '1m0s'],
    [90_500, '1m30.5s'],
  ])('writes %d ms as %s, as OpenAI does', (ms, text) => {
    expect(formatResetDuration(ms)).toBe(text);
  });
});
