// Per-key limits through the proxy over HTTP with an injected clock: bursts over RPM, TPM and
// concurrency get 429 with OpenAI's headers, and pass again once the window has refilled.
import { hashKey } from '../../../service/http/auth';
import { formatResetDuration } from '../../../service/proxy/limits';
import { estimateTokens } from '../../../service/proxy/token-estimate';
import { writeProxyConfig } from './support/config-file';
import { FakeUpstream } from './support/fake-upstream';
import { CLIENT_KEY, proxyEnv, type ServedProxy, serveProxy } from './support/harness';

const upstream = new FakeUpstream();
const BETA_KEY = 'client-key-beta';
let url: string;
let now = 1_000_000;
const clock = () => now;

const request = (extra: Record<string, unknown> = {}) => ({ model: 'gpt-3.5-turbo-instruct', prompt: 'x'.repeat(40), max_tokens: 10, ...extra });

beforeAll(async () => {
  url = await upstream.start();
});
afterAll(() => upstream.stop());
beforeEach(() => upstream.reset());

async function proxyWith(file: unknown, run: (proxy: ServedProxy) => Promise<void>): Promise<void> {
  const proxy = await serveProxy(proxyEnv(url, { PROXY_KEYS: undefined, PROXY_CONFIG_FILE: writeProxyConfig(file) }), { clock });
  try {
    await run(proxy);
  } finally {
    await proxy.close();
  }
}

const alphaWith = (limits: Record<string, number>) => ({ keys: [{ name: 'alpha', sha256: hashKey(CLIENT_KEY), limits }], defaultLimits: {} });

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

describe('requests per minute', () => {
  it('rejects the request over the limit with 429 and x-ratelimit headers, and admits again after the window', async () => {
    await proxyWith(alphaWith({ requestsPerMinute: 3 }), async (proxy) => {
      const remaining: (string | null)[] = [];
      for (let i = 0; i < 3; i += 1) remaining.push((await proxy.post('/v1/completions', request())).headers.get('x-ratelimit-remaining-requests'));
      expect(remaining).toEqual(['2', '1', '0']);
      const refused = await proxy.post('/v1/completions', request());
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('20');
      expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(refused.headers.get('x-ratelimit-reset-requests')).toBe('1m0s');
      // The proxy's own limit: an SDK may retry it after Retry-After.
      expect(refused.headers.get('x-should-retry')).toBeNull();
      expect(await refused.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'rate_limit_exceeded' } });
      expect(upstream.requests).toHaveLength(3);
      now += 20_000;
      expect((await proxy.post('/v1/completions', request())).status).toBe(200);
    });
  });

  it('keeps separate budgets per client key', async () => {
    const file = {
      keys: [
        { name: 'alpha', sha256: hashKey(CLIENT_KEY) },
        { name: 'beta', sha256: hashKey(BETA_KEY) },
      ],
      defaultLimits: { requestsPerMinute: 1 },
    };
    await proxyWith(file, async (proxy) => {
      expect((await proxy.post('/v1/completions', request())).status).toBe(200);
      expect((await proxy.post('/v1/completions', request(), BETA_KEY)).status).toBe(200);
      expect((await proxy.post('/v1/completions', request())).status).toBe(429);
    });
  });

  it('limits every relayed endpoint alike', async () => {
    await proxyWith({ ...alphaWith({ requestsPerMinute: 2 }), models: { allow: ['gpt-4o-mini', 'text-embedding-3-small'] } }, async (proxy) => {
      expect((await proxy.post('/v1/embeddings', { model: 'text-embedding-3-small', input: 'a' })).status).toBe(200);
      expect((await proxy.post('/v1/responses', { model: 'gpt-4o-mini', input: 'a' })).status).toBe(200);
      const refused = await proxy.post('/v1/moderations', { model: 'gpt-4o-mini', input: 'a' });
      expect(refused.status).toBe(429);
      expect(await errorCode(refused)).toBe('rate_limit_exceeded');
    });
  });
});

describe('tokens per minute', () => {
  it('charges the input / 4 + max_tokens up front, rejects a burst over the limit, and admits after the window', async () => {
    await proxyWith(alphaWith({ tokensPerMinute: 50 }), async (proxy) => {
      // 40 characters -> 10 tokens, plus max_tokens 10: 20 tokens estimated each.
      const first = await proxy.post('/v1/completions', request({ stream: true }));
      await first.text();
      expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe('30');
      // The fake upstream reports 9 tokens used: the 11 over-estimated are given back.
      const second = await proxy.post('/v1/completions', request());
      expect(second.headers.get('x-ratelimit-remaining-tokens')).toBe('21');
      const refused = await proxy.post('/v1/completions', request({ max_tokens: 30 }));
      expect(refused.status).toBe(429);
      expect(refused.headers.get('x-ratelimit-limit-tokens')).toBe('50');
      expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe('32');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(10);
      now += 60_000;
      expect((await proxy.post('/v1/completions', request({ max_tokens: 30 }))).status).toBe(200);
    });
  });

  it('rejects a single request larger than the whole limit without a Retry-After', async () => {
    await proxyWith(alphaWith({ tokensPerMinute: 50 }), async (proxy) => {
      const refused = await proxy.post('/v1/completions', request({ max_tokens: 100 }));
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBeNull();
      expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/Request too large/);
      expect(upstream.requests).toHaveLength(0);
    });
  });
});

describe('concurrent requests', () => {
  it('rejects a request beyond maxConcurrent while another streams, and admits once it finishes', async () => {
    await proxyWith(alphaWith({ maxConcurrent: 1 }), async (proxy) => {
      let release!: () => void;
      upstream.enqueue({ kind: 'ok', gate: new Promise<void>((resolve) => (release = resolve)) });
      const open = await proxy.post('/v1/completions', request({ stream: true }));
      const refused = await proxy.post('/v1/completions', request());
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      release();
      await open.text();
      expect((await proxy.post('/v1/completions', request())).status).toBe(200);
    });
  });

  it('frees the slot of a stream whose client disconnects', async () => {
    await proxyWith(alphaWith({ maxConcurrent: 1 }), async (proxy) => {
      upstream.enqueue({ kind: 'ok', chunkDelayMs: 10_000 });
      const controller = new AbortController();
      const open = await fetch(`${proxy.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
        body: JSON.stringify(request({ stream: true })),
        signal: controller.signal,
      });
      await open.body!.getReader().read();
      expect((await proxy.post('/v1/completions', request())).status).toBe(429);
      controller.abort();
      await proxy.log.waitFor((entry) => entry.msg === 'request aborted by the client');
      expect((await proxy.post('/v1/completions', request())).status).toBe(200);
    });
  });
});

describe('estimateTokens', () => {
  it('counts the text of every input field and the completion budget times n', () => {
    const body = { messages: [{ role: 'user', content: [{ type: 'text', text: 'x'.repeat(40) }] }], tools: [{ type: 'function', function: { name: 'abcd' } }], max_completion_tokens: 10, n: 2 };
    // Every string counts, the structure's too: "user" + "text" + 40 + "function" + "abcd" = 60 characters: 15 tokens; 10 x 2 to generate.
    expect(estimateTokens('chat', body, 256)).toEqual({ promptTokens: 15, totalTokens: 35 });
  });

  it('charges images a flat 85 tokens, token ids one each, and the Responses API its max_output_tokens', () => {
    expect(estimateTokens('responses', { input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'data:image/png;base64,AAAA' }] }], max_output_tokens: 5 }, 256)).toEqual({
      promptTokens: 86,
      totalTokens: 91,
    });
    expect(estimateTokens('embeddings', { input: [[1, 2, 3, 4]] }, 256)).toEqual({ promptTokens: 4, totalTokens: 4 });
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
