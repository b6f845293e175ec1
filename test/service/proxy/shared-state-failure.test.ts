// What the proxy does while its Redis is away, over HTTP against a real redis-server on 127.0.0.1
// that the test kills, hangs and restarts: PROXY_SHARED_STATE_FAILURE=open serves on this process's
// own limits (counted, logged, and booked to the shared budgets once Redis is back), `closed`
// answers 503 shared_state_unavailable; both report it in metrics and recover by themselves.
// Without REDIS_URL, PROXY_REPLICAS > 1 is warned about.
import { hashKey } from '../../../service/http/auth';
import { RedisServer } from '../../../scripts/redis-server';
import { writeProxyConfig } from './support/config-file';
import { FakeUpstream } from './support/fake-upstream';
import { CLIENT_KEY, proxyEnv, type ServedProxy, serveProxy } from './support/harness';

const upstream = new FakeUpstream();
let upstreamUrl: string;
let redis: RedisServer;
const proxies: ServedProxy[] = [];

// Estimated at 9 tokens, and the fake upstream reports 9 used.
const request = { model: 'gpt-3.5-turbo-instruct', prompt: 'x'.repeat(20), max_tokens: 4 };

beforeAll(async () => {
  upstreamUrl = await upstream.start();
});
afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
  await redis?.stop();
  await upstream.stop();
});
beforeEach(() => upstream.reset());

async function proxyWith(env: NodeJS.ProcessEnv, file: unknown): Promise<ServedProxy> {
  const proxy = await serveProxy(proxyEnv(upstreamUrl, { PROXY_KEYS: undefined, PROXY_CONFIG_FILE: writeProxyConfig(file), ...env }));
  proxies.push(proxy);
  return proxy;
}

const logged = (proxy: ServedProxy, msg: string) => proxy.log.waitFor((entry) => entry.msg === msg);

function metric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((each) => each.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('with REDIS_URL', () => {
  let open: ServedProxy;
  let closed: ServedProxy;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const file = { keys: [{ name: 'alpha', sha256: hashKey(CLIENT_KEY), limits: { requestsPerMinute: 2 }, budget: { tokensPerDay: 100 } }], defaultLimits: {} };
    open = await proxyWith({ REDIS_URL: redis.url, PROXY_SHARED_STATE_FAILURE: 'open', PROXY_SHARED_STATE_TIMEOUT_MS: '300' }, file);
    closed = await proxyWith({ REDIS_URL: redis.url, PROXY_SHARED_STATE_FAILURE: 'closed', PROXY_SHARED_STATE_TIMEOUT_MS: '300' }, file);
    await Promise.all([open, closed].map((proxy) => logged(proxy, 'shared state: connected to Redis')));
  });

  it('reports the mode it runs in and that Redis is available', async () => {
    const metrics = await open.metrics();
    expect(metric(metrics, 'proxy_shared_state_mode{mode="redis_fail_open"}')).toBe(1);
    expect(metric(metrics, 'proxy_shared_state_mode{mode="memory"}')).toBe(0);
    expect(metric(metrics, 'proxy_shared_state_available')).toBe(1);
    expect(metric(await closed.metrics(), 'proxy_shared_state_mode{mode="redis_fail_closed"}')).toBe(1);
  });

  it('while Redis is down: open serves on local limits, closed answers 503; both recover when it is back', async () => {
    // One request through Redis first, so the key's shared rpm bucket holds one.
    expect((await open.post('/v1/completions', request)).status).toBe(200);
    await redis.stop();
    await Promise.all([open, closed].map((proxy) => logged(proxy, 'shared state: Redis unavailable')));

    const refused = await closed.post('/v1/completions', request);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ error: { type: 'service_unavailable', code: 'shared_state_unavailable' } });

    // This process alone: its own 2 per minute, whatever Redis had counted.
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await open.post('/v1/completions', request)).status);
    expect(statuses).toEqual([200, 200, 429]);
    await logged(open, "shared state: admitting requests against this replica's own limits until Redis is back (PROXY_SHARED_STATE_FAILURE=open)");
    const away = await open.metrics();
    expect(metric(away, 'proxy_shared_state_available')).toBe(0);
    expect(metric(away, 'proxy_shared_state_fail_open_total')).toBe(3);

    await redis.restart();
    await Promise.all([open, closed].map((proxy) => logged(proxy, 'shared state: Redis available again')));
    // The open replica books its spend in the background once Redis is back; wait for it to say so.
    await logged(open, 'shared state: booked to Redis what was spent while it was away');
    expect(metric(await open.metrics(), 'proxy_shared_state_available')).toBe(1);
    // The restarted Redis lost its counters, but the 18 tokens spent meanwhile were booked to it: 100 - 18 - 9.
    const back = await closed.post('/v1/completions', request);
    expect(back.status).toBe(200);
    expect(back.headers.get('x-budget-remaining-tokens')).toBe('73');
    expect(back.headers.get('x-ratelimit-remaining-requests')).toBe('1');
  });

  it('counts a Redis that stops answering as unavailable after PROXY_SHARED_STATE_TIMEOUT_MS, gives back the late admission, and finds it again', async () => {
    redis.pause();
    try {
      const refused = await closed.post('/v1/completions', request);
      expect(refused.status).toBe(503);
      await logged(closed, 'shared state: Redis unavailable');
    } finally {
      redis.resume();
    }
    // A socket that stayed up gets no reconnection: the proxy's own PING finds the store again.
    await closed.log.waitFor(() => closed.log.entries().filter((entry) => entry.msg === 'shared state: Redis available again').length === 2);
    // The admission Redis ran after its answer was too late was given back: the key's second request of the minute passes.
    const back = await closed.post('/v1/completions', request);
    expect(back.status).toBe(200);
    expect(back.headers.get('x-ratelimit-remaining-requests')).toBe('0');
  });
});

describe('without REDIS_URL', () => {
  it('keeps limits in memory, and warns that PROXY_REPLICAS > 1 multiplies them', async () => {
    const proxy = await proxyWith({ PROXY_REPLICAS: '3' }, { keys: [{ name: 'alpha', sha256: hashKey(CLIENT_KEY) }] });
    const warning = await proxy.log.waitFor((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('PROXY_REPLICAS=3 but no REDIS_URL'));
    expect(warning).toMatchObject({ level: 40, replicas: 3 });
    expect(String(warning.msg)).toContain('up to 3 times its limits');
    expect(metric(await proxy.metrics(), 'proxy_shared_state_mode{mode="memory"}')).toBe(1);
  });

  it('says nothing of replicas when there is one', async () => {
    const proxy = await proxyWith({}, { keys: [{ name: 'alpha', sha256: hashKey(CLIENT_KEY) }] });
    expect((await proxy.post('/v1/completions', request)).status).toBe(200);
    expect(proxy.log.entries().some((entry) => String(entry.msg).includes('REDIS_URL'))).toBe(false);
  });
});
