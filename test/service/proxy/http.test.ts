// The proxy behind the real HTTP app, driven by the official `openai` client and plain fetch:
// client auth, limits as OpenAI's headers, metrics by key name, and the upstream key never leaking.
import type OpenAI from 'openai';
import { FakeUpstream } from './support/fake-upstream';
import { CLIENT_KEY, proxyEnv, type ServedProxy, serveProxy, UPSTREAM_KEY } from './support/harness';

const upstream = new FakeUpstream();
let proxy: ServedProxy;
let now = 5_000_000;
/** Every response body the tests saw, searched for the upstream key at the end. */
const bodies: string[] = [];

function client(apiKey = CLIENT_KEY): OpenAI {
  return proxy.client({ apiKey, maxRetries: 0 });
}

async function post(path: string, body: unknown, key: string | null = CLIENT_KEY): Promise<Response> {
  const response = await proxy.post(path, body, key);
  bodies.push(await response.clone().text());
  return response;
}

beforeAll(async () => {
  const url = await upstream.start();
  proxy = await serveProxy(proxyEnv(url, { LOG_LEVEL: 'debug' }), { clock: () => now });
});
afterAll(async () => {
  await proxy.close();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

describe('client authentication', () => {
  it('answers 401 to a missing or wrong key without calling the upstream', async () => {
    const missing = await post('/v1/completions', { model: 'default', prompt: 'hi' }, null);
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    await expect(client('not-a-client-key').completions.create({ model: 'default', prompt: 'hi' })).rejects.toMatchObject({ status: 401 });
    expect(upstream.requests).toHaveLength(0);
  });

  it('serves a configured key through the official client, streaming included', async () => {
    const body = await client().chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'hi' }] });
    expect(body.choices[0]?.message.content).toBe('Hello, world!');
    const stream = await client().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'hi', stream: true });
    const texts: string[] = [];
    for await (const chunk of stream) texts.push(chunk.choices[0]?.text ?? '');
    expect(texts.join('')).toBe('Hello, world!');
    const models = await client().models.list();
    expect(models.data.map((model) => model.id)).toContain('default');
  });
});

describe('limits over HTTP', () => {
  it('sets x-ratelimit-* on success and answers the request over the limit with 429, Retry-After and the same headers', async () => {
    // The default limit is 60 requests per minute; spend what is left, then one more.
    let last = await post('/v1/completions', { model: 'default', prompt: 'hi', max_tokens: 1 });
    expect(last.headers.get('x-ratelimit-limit-requests')).toBe('60');
    while (last.status === 200) last = await post('/v1/completions', { model: 'default', prompt: 'hi', max_tokens: 1 });
    expect(last.status).toBe(429);
    expect(((await last.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    expect(last.headers.get('retry-after')).toBe('1');
    expect(last.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(last.headers.get('x-ratelimit-reset-requests')).toBe('1m0s');
    expect(last.headers.get('x-ratelimit-limit-tokens')).toBe('90000');
    now += 60_000;
    expect((await post('/v1/completions', { model: 'default', prompt: 'hi', max_tokens: 1 })).status).toBe(200);
  });
});

describe('secrets', () => {
  it('never puts the upstream key in a response, a log line or a metric', async () => {
    upstream.enqueue(
      { kind: 'status', status: 401, message: `Incorrect API key provided: ${UPSTREAM_KEY}.`, code: 'invalid_api_key' },
      { kind: 'status', status: 400, message: `bad request for key ${UPSTREAM_KEY}`, code: 'invalid_value' },
    );
    const unauthorized = await post('/v1/chat/completions', { model: 'default', messages: [{ role: 'user', content: 'hi' }] });
    const badRequest = await post('/v1/completions', { model: 'default', prompt: 'hi' });
    expect(unauthorized.status).toBe(502);
    expect(badRequest.status).toBe(400);
    expect(upstream.requests[0]!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).toMatch(/proxy_requests_total\{client="alpha",model="gpt-4o-mini",status="502"\} 1/);
    expect(metrics).toMatch(/proxy_upstream_errors_total\{upstream="default",status="401"\} 1/);
    const everything = [...bodies, proxy.log.lines.join(''), metrics].join('\n');
    expect(proxy.log.lines.length).toBeGreaterThan(5);
    expect(everything).not.toContain(UPSTREAM_KEY);
    expect(everything).not.toContain('SECRET');
    expect(metrics).not.toContain(CLIENT_KEY);
  });

  it('labels token metrics by key name and model', async () => {
    await post('/v1/completions', { model: 'default', prompt: 'hi', max_tokens: 2 });
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).toMatch(/proxy_tokens_total\{client="alpha",model="gpt-4o-mini",kind="completion"\} \d+/);
    expect(metrics).toMatch(/proxy_upstream_latency_seconds_count\{upstream="default",model="gpt-4o-mini"\} \d+/);
  });
});
