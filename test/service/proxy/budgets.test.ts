// Per-key budgets through the proxy over HTTP (in-memory limiter, injected clock): dollars at the
// config's per-model prices and tokens, per UTC day and month; x-budget-* headers on every answer;
// over budget a 429 budget_exceeded naming the budget and its reset; what a request used, not its
// estimate, stays counted; a new day or month starts afresh.
import { hashKey } from '../../../service/http/auth';
import { writeProxyConfig } from './support/config-file';
import { FakeUpstream } from './support/fake-upstream';
import { CLIENT_KEY, proxyEnv, type ServedProxy, serveProxy } from './support/harness';

const MODEL = 'gpt-3.5-turbo-instruct';
// $1 per million input tokens, $2 per million output: the fake upstream's 5 + 4 tokens cost $0.000013.
const PRICES = { [MODEL]: { inputPerMillionTokens: 1, outputPerMillionTokens: 2 }, 'gpt-4o-mini': { inputPerMillionTokens: 0.15, outputPerMillionTokens: 0.6 } };
// 20 characters (5 tokens) and max_tokens 4: estimated as what the fake upstream reports.
const request = (extra: Record<string, unknown> = {}) => ({ model: MODEL, prompt: 'x'.repeat(20), max_tokens: 4, ...extra });

const upstream = new FakeUpstream();
let upstreamUrl: string;
let now: number;
let proxy: ServedProxy;

beforeAll(async () => {
  upstreamUrl = await upstream.start();
});
afterAll(() => upstream.stop());
afterEach(() => proxy?.close());

async function proxyWithBudget(budget: Record<string, number>): Promise<void> {
  upstream.reset();
  now = Date.UTC(2026, 11, 1, 12);
  const file = { keys: [{ name: 'alpha', sha256: hashKey(CLIENT_KEY), budget }], defaultLimits: {}, prices: PRICES };
  proxy = await serveProxy(proxyEnv(upstreamUrl, { PROXY_KEYS: undefined, PROXY_CONFIG_FILE: writeProxyConfig(file) }), { clock: () => now });
}

it('spends a daily dollar budget at the model price, then answers 429 budget_exceeded until midnight UTC', async () => {
  await proxyWithBudget({ usdPerDay: 0.00003 });
  const first = await proxy.post('/v1/completions', request());
  expect(first.status).toBe(200);
  expect(first.headers.get('x-budget-limit-usd')).toBe('0.00003');
  expect(first.headers.get('x-budget-remaining-usd')).toBe('0.000017');
  expect(first.headers.get('x-budget-reset-usd')).toBe('12h0m0s');
  // Under the budget when admitted: the third may take it over ($0.000039).
  expect((await proxy.post('/v1/completions', request())).status).toBe(200);
  expect((await proxy.post('/v1/completions', request())).status).toBe(200);

  const refused = await proxy.post('/v1/completions', request());
  expect(refused.status).toBe(429);
  expect(refused.headers.get('retry-after')).toBe('43200');
  expect(refused.headers.get('x-should-retry')).toBe('false');
  expect(refused.headers.get('x-budget-remaining-usd')).toBe('0');
  expect(await refused.json()).toEqual({
    error: {
      type: 'insufficient_quota',
      code: 'budget_exceeded',
      param: null,
      message:
        "Budget exceeded: this key's daily budget of $0.00003 is spent ($0.000039 this UTC day, 2026-12-01). " +
        'It resets at 2026-12-02T00:00:00.000Z (in 12h0m0s); until then this key is refused.',
    },
  });
  expect(upstream.requests).toHaveLength(3);
  expect(await proxy.metrics()).toContain('proxy_cost_usd_total{client="alpha",model="gpt-3.5-turbo-instruct"} 0.000039');
  expect(await proxy.metrics()).toContain('proxy_limit_refusals_total{client="alpha",reason="budget_usd"} 1');

  now = Date.UTC(2026, 11, 2);
  const nextDay = await proxy.post('/v1/completions', request());
  expect(nextDay.status).toBe(200);
  expect(nextDay.headers.get('x-budget-remaining-usd')).toBe('0.000017');
});

it('counts what a request used, not its estimate, against a monthly token budget', async () => {
  await proxyWithBudget({ tokensPerMonth: 200 });
  // Estimated at 5 + 150 tokens; the upstream used 9.
  const generous = await proxy.post('/v1/completions', request({ max_tokens: 150 }));
  expect(generous.status).toBe(200);
  expect(generous.headers.get('x-budget-remaining-tokens')).toBe('45');
  const next = await proxy.post('/v1/completions', request());
  expect(next.headers.get('x-budget-remaining-tokens')).toBe('182');
  expect(next.headers.get('x-budget-reset-tokens')).toBe('732h0m0s');
});

it('names the monthly budget and the first of next month when the month is spent', async () => {
  await proxyWithBudget({ tokensPerMonth: 9, tokensPerDay: 100 });
  expect((await proxy.post('/v1/completions', request())).status).toBe(200);
  const refused = await proxy.post('/v1/completions', request());
  expect(refused.status).toBe(429);
  const { error } = (await refused.json()) as { error: { message: string } };
  expect(error.message).toContain("this key's monthly budget of 9 tokens is spent (9 tokens this UTC month, 2026-12)");
  expect(error.message).toContain('It resets at 2027-01-01T00:00:00.000Z');
  now = Date.UTC(2027, 0, 1);
  expect((await proxy.post('/v1/completions', request())).status).toBe(200);
});

it('lets the official client see the refusal as a 429 it does not retry', async () => {
  await proxyWithBudget({ tokensPerDay: 1 });
  expect((await proxy.post('/v1/completions', request())).status).toBe(200);
  const client = proxy.client();
  await expect(client.completions.create(request() as never)).rejects.toMatchObject({ status: 429, code: 'budget_exceeded', type: 'insufficient_quota' });
  expect(upstream.requests).toHaveLength(1);
  expect(proxy.accessLog().filter((entry) => entry.status === 429)).toHaveLength(1);
});
