// Two proxy processes share one key's limits and budgets through a real redis-server on 127.0.0.1:
// requests and tokens per minute, concurrency and a daily budget hold for both together, and the
// concurrency slot of a process that was killed comes back once its lease runs out. Each process runs
// on a clock that stands still unless the test moves it, so no bucket refills while a busy machine
// is slow and every count below is exact.
import { createClient } from '@redis/client';
import { hashKey } from '../../../service/http/auth';
import { type ProxyProcess, startProxyProcess } from '../../support/proxy-process';
import { RedisServer } from '../../../scripts/redis-server';
import { writeProxyConfig } from './support/config-file';
import { FakeUpstream } from './support/fake-upstream';
import { UPSTREAM_KEY } from './support/harness';

// 2026-12-31 23:59 UTC: a minute before the day (and the year) ends.
const START = Date.UTC(2026, 11, 31, 23, 59);
const LEASE_MS = 1000;
const KEYS = {
  requests: { secret: 'key-requests', limits: { requestsPerMinute: 5 } },
  tokens: { secret: 'key-tokens', limits: { tokensPerMinute: 45 } },
  concurrency: { secret: 'key-concurrency', limits: { maxConcurrent: 1 } },
  budget: { secret: 'key-budget', budget: { tokensPerDay: 27 } },
} as const;
type KeyName = keyof typeof KEYS;

// 20 characters of prompt (5 tokens) and at most 4 completion tokens: estimated at 9 tokens, which is
// also what the fake upstream reports using, so no correction changes the counts.
const completion = (extra: Record<string, unknown> = {}) => ({ model: 'gpt-3.5-turbo-instruct', prompt: 'x'.repeat(20), max_tokens: 4, ...extra });

const upstream = new FakeUpstream();
let redis: RedisServer;
let first: ProxyProcess;
let second: ProxyProcess;

beforeAll(async () => {
  const upstreamUrl = await upstream.start();
  redis = await RedisServer.start();
  const config = writeProxyConfig({
    keys: Object.entries(KEYS).map(([name, key]) => ({ name, sha256: hashKey(key.secret), ...key })).map(({ secret: _secret, ...key }) => key),
    defaultLimits: {},
  });
  const env = {
    UPSTREAM_BASE_URL: upstreamUrl,
    OPENAI_API_KEY: UPSTREAM_KEY,
    PROXY_CONFIG_FILE: config,
    REDIS_URL: redis.url,
    PROXY_CONCURRENCY_LEASE_MS: String(LEASE_MS),
    TEST_CLOCK_START_MS: String(START),
  };
  [first, second] = await Promise.all([startProxyProcess(env), startProxyProcess(env)]);
  await Promise.all([first, second].map((proxy) => proxy.waitForLog((entry) => entry.msg === 'shared state: connected to Redis')));
});
afterAll(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
  await redis?.stop();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

/**
 * Resolves when Redis next runs `command` on `key` (a keyspace notification), e.g. the ZREM of a
 * released slot, which the proxy sends on without waiting for it.
 */
async function nextKeyspaceEvent(key: string, command: string): Promise<() => Promise<void>> {
  const subscriber = createClient({ url: redis.url });
  await subscriber.connect();
  await subscriber.configSet('notify-keyspace-events', 'Kz');
  let seen!: () => void;
  const happened = new Promise<void>((resolve) => (seen = resolve));
  await subscriber.subscribe(`__keyspace@0__:${key}`, (message) => {
    if (message === command) seen();
  });
  return async () => {
    await happened;
    await subscriber.close();
  };
}

function post(proxy: ProxyProcess, key: KeyName, body: Record<string, unknown> = completion()): Promise<Response> {
  return fetch(`${proxy.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEYS[key].secret}` },
    body: JSON.stringify(body),
  });
}

/** Sends `count` requests one after another, alternating between the two processes; their statuses. */
async function alternate(key: KeyName, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const response = await post(i % 2 === 0 ? first : second, key);
    await response.text();
    statuses.push(response.status);
  }
  return statuses;
}

it('enforces a 5 requests/min key across both processes: exactly 5 of 10 sent alternately succeed', async () => {
  const statuses = await alternate('requests', 10);
  expect(statuses.filter((status) => status === 200)).toHaveLength(5);
  expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
  expect(upstream.requests).toHaveLength(5);
});

it('enforces a tokens-per-minute limit across both processes: 45 tokens admit exactly 5 requests of 9', async () => {
  const statuses = await alternate('tokens', 10);
  expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
  const refused = await post(second, 'tokens');
  expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
  expect(await refused.json()).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
});

it('holds one concurrency slot for both processes: a stream open on one refuses the other until it ends', async () => {
  let release!: () => void;
  upstream.enqueue({ kind: 'ok', gate: new Promise<void>((resolve) => (release = resolve)) });
  const open = await post(first, 'concurrency', completion({ stream: true }));
  expect(open.status).toBe(200);
  const refused = await post(second, 'concurrency');
  expect(refused.status).toBe(429);
  expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('1 concurrent requests');
  // The slot's release is sent on without waiting for Redis: wait for Redis to have it.
  const released = await nextKeyspaceEvent('proxy:{concurrency}:leases', 'zrem');
  release();
  await open.text();
  await released();
  expect((await post(second, 'concurrency')).status).toBe(200);
});

it('keeps a daily token budget for both processes, refuses with budget_exceeded, and resets at midnight UTC', async () => {
  expect(await alternate('budget', 3)).toEqual([200, 200, 200]);
  const refused = await post(second, 'budget');
  expect(refused.status).toBe(429);
  expect(refused.headers.get('x-budget-limit-tokens')).toBe('27');
  expect(refused.headers.get('x-budget-remaining-tokens')).toBe('0');
  expect(refused.headers.get('x-budget-reset-tokens')).toBe('1m0s');
  expect(refused.headers.get('x-should-retry')).toBe('false');
  const { error } = (await refused.json()) as { error: { type: string; code: string; message: string } };
  expect(error).toMatchObject({ type: 'insufficient_quota', code: 'budget_exceeded' });
  expect(error.message).toContain("daily budget of 27 tokens");
  expect(error.message).toContain('resets at 2027-01-01T00:00:00.000Z');
  expect((await post(first, 'budget')).status).toBe(429);
  await Promise.all([first.advance(60_000), second.advance(60_000)]);
  const nextDay = await post(first, 'budget');
  expect(nextDay.status).toBe(200);
  expect(nextDay.headers.get('x-budget-remaining-tokens')).toBe('18');
});

it("frees a killed process's concurrency slot once its lease runs out", async () => {
  let release!: () => void;
  upstream.enqueue({ kind: 'ok', gate: new Promise<void>((resolve) => (release = resolve)) });
  try {
    const open = await post(first, 'concurrency', completion({ stream: true }));
    expect(open.status).toBe(200);
    await first.kill();
    // The slot outlives its holder until the lease expires: the survivor still refuses...
    expect((await post(second, 'concurrency')).status).toBe(429);
    await second.advance(LEASE_MS - 1);
    expect((await post(second, 'concurrency')).status).toBe(429);
    // ...and admits once the lease's time has passed on its clock.
    await second.advance(1);
    expect((await post(second, 'concurrency')).status).toBe(200);
  } finally {
    release();
  }
});
