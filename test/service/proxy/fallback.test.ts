// Several upstreams behind one proxy: a failed attempt moves to the model's next upstream, an
// upstream that keeps failing cools down and one request probes it back in, first attempts follow
// the weights, and Azure OpenAI gets its own path, query and headers.
import { writeProxyConfig } from './support/config-file';
import { FakeUpstream } from './support/fake-upstream';
import { proxyEnv, type ServedProxy, serveProxy } from './support/harness';

const primary = new FakeUpstream();
const backup = new FakeUpstream();
let now = 10_000_000;
const clock = () => now;

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

beforeAll(async () => {
  await primary.start();
  await backup.start();
});
afterAll(async () => {
  await primary.stop();
  await backup.stop();
});
beforeEach(() => {
  primary.reset();
  backup.reset();
});

function upstreams(overrides: { primary?: Record<string, unknown>; backup?: Record<string, unknown> } = {}) {
  return [
    { name: 'primary', kind: 'openai-compatible', baseURL: `${primary.origin()}/v1`, apiKeyEnv: 'PRIMARY_KEY', models: ['gpt-4o-mini'], ...overrides.primary },
    { name: 'backup', kind: 'openai-compatible', baseURL: `${backup.origin()}/v1`, apiKeyEnv: 'BACKUP_KEY', models: ['gpt-4o-mini'], ...overrides.backup },
  ];
}

async function withProxy(file: unknown, run: (proxy: ServedProxy) => Promise<void>, extras: { random?: () => number; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  const env = proxyEnv('http://unused.invalid/v1', {
    PROXY_CONFIG_FILE: writeProxyConfig(file),
    PRIMARY_KEY: 'primary-secret-key',
    BACKUP_KEY: 'backup-secret-key',
    PROXY_COOLDOWN_AFTER_FAILURES: '2',
    PROXY_COOLDOWN_MS: '30000',
    PROXY_FIRST_BYTE_TIMEOUT_MS: '300',
    ...extras.env,
  });
  const proxy = await serveProxy(env, { clock, random: extras.random });
  try {
    await run(proxy);
  } finally {
    await proxy.close();
  }
}

describe('fallback to the next upstream', () => {
  it.each([
    ['a 5xx', { kind: 'status', status: 503 } as const],
    ['a 429', { kind: 'status', status: 429, headers: { 'retry-after': '20' } } as const],
    ['a connection reset', { kind: 'reset-before-headers' } as const],
    ['a 401 (its key is wrong)', { kind: 'status', status: 401 } as const],
  ])('moves to the backup at once after %s from the primary', async (_label, behaviour) => {
    primary.enqueue(behaviour);
    await withProxy({ upstreams: upstreams() }, async (proxy) => {
      const started = Date.now();
      const body = await proxy.client({ maxRetries: 0 }).chat.completions.create(chat);
      expect(body.choices[0]?.message.content).toBe('Hello, world!');
      // No backoff between different upstreams (the test's retry base is 10 ms; a Retry-After of 20 s is the
      // primary's alone): far below 20 s, loose because a loaded machine can stall for seconds.
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(primary.requests).toHaveLength(1);
      expect(backup.requests).toHaveLength(1);
      expect(primary.requests[0]!.headers.authorization).toBe('Bearer primary-secret-key');
      expect(backup.requests[0]!.headers.authorization).toBe('Bearer backup-secret-key');
      expect(proxy.accessLog().at(-1)).toMatchObject({ upstream: 'backup', attempts: 2, status: 200 });
    });
  });

  it('moves a stream to the backup when the primary does not answer within the first-byte timeout', async () => {
    primary.enqueue({ kind: 'hang' });
    await withProxy({ upstreams: upstreams() }, async (proxy) => {
      const stream = await proxy.client({ maxRetries: 0 }).chat.completions.create({ ...chat, stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toBe('Hello, world!');
      expect(primary.requests).toHaveLength(1);
      expect(backup.requests).toHaveLength(1);
      expect(await proxy.metrics()).toMatch(/proxy_upstream_errors_total\{upstream="primary",status="timeout"\} 1/);
    });
  });

  it("does not move a request the upstream refused as invalid (400): that is the client's to fix", async () => {
    primary.enqueue({ kind: 'status', status: 400, message: 'bad tools', code: 'invalid_value' });
    await withProxy({ upstreams: upstreams() }, async (proxy) => {
      const response = await proxy.post('/v1/chat/completions', chat);
      expect(response.status).toBe(400);
      expect(backup.requests).toHaveLength(0);
    });
  });

  it('follows the route order of the config file', async () => {
    await withProxy({ upstreams: upstreams(), models: { routes: { 'gpt-4o-mini': ['backup', 'primary'] } } }, async (proxy) => {
      await proxy.client({ maxRetries: 0 }).chat.completions.create(chat);
      expect(backup.requests).toHaveLength(1);
      expect(primary.requests).toHaveLength(0);
    });
  });
});

describe('cooldown and recovery', () => {
  it('takes the primary out after failures in a row, probes it after the cooldown with one request, and puts it back', async () => {
    primary.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    await withProxy({ upstreams: upstreams() }, async (proxy) => {
      const client = proxy.client({ maxRetries: 0 });
      await client.chat.completions.create(chat);
      await client.chat.completions.create(chat);
      expect(primary.requests).toHaveLength(2);
      expect(backup.requests).toHaveLength(2);
      const cooling = await proxy.metrics();
      expect(cooling).toMatch(/proxy_upstream_cooldowns_total\{upstream="primary",model="gpt-4o-mini"\} 1/);
      expect(cooling).toMatch(/proxy_upstream_cooling_down\{upstream="primary",model="gpt-4o-mini"\} 1/);
      // Cooling down: straight to the backup, the primary sees nothing.
      await client.chat.completions.create(chat);
      expect(primary.requests).toHaveLength(2);
      expect(backup.requests).toHaveLength(3);
      now += 30_000;
      // The probe: one request goes to the primary again; it answers, so it is back in rotation.
      await client.chat.completions.create(chat);
      await client.chat.completions.create(chat);
      expect(primary.requests).toHaveLength(4);
      expect(backup.requests).toHaveLength(3);
      expect(await proxy.metrics()).toMatch(/proxy_upstream_cooling_down\{upstream="primary",model="gpt-4o-mini"\} 0/);
      expect(await proxy.log.waitFor((entry) => entry.msg === 'upstream back in rotation after its cooldown')).toMatchObject({ upstream: 'primary' });
    });
  });

  it('cools a primary whose probe fails down again at once', async () => {
    primary.fallback = { kind: 'status', status: 502 };
    await withProxy({ upstreams: upstreams() }, async (proxy) => {
      const client = proxy.client({ maxRetries: 0 });
      await client.chat.completions.create(chat);
      await client.chat.completions.create(chat);
      now += 30_000;
      await client.chat.completions.create(chat);
      expect(primary.requests).toHaveLength(3);
      await client.chat.completions.create(chat);
      expect(primary.requests).toHaveLength(3);
      expect(backup.requests).toHaveLength(4);
    });
  });

  it('cools an upstream down for the Retry-After of its 429 at once', async () => {
    primary.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '10' } });
    await withProxy({ upstreams: upstreams() }, async (proxy) => {
      const client = proxy.client({ maxRetries: 0 });
      await client.chat.completions.create(chat);
      await client.chat.completions.create(chat);
      expect(primary.requests).toHaveLength(1);
      now += 10_000;
      await client.chat.completions.create(chat);
      expect(primary.requests).toHaveLength(2);
    });
  });

  it('still uses a single upstream while it cools down: the proxy never refuses on its own', async () => {
    primary.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    await withProxy({ upstreams: [upstreams()[0]] }, async (proxy) => {
      const response = await proxy.post('/v1/chat/completions', chat);
      expect(response.status).toBe(500);
      expect(await proxy.metrics()).toMatch(/proxy_upstream_cooling_down\{upstream="primary",model="gpt-4o-mini"\} 1/);
      expect((await proxy.post('/v1/chat/completions', chat)).status).toBe(200);
      expect(primary.requests).toHaveLength(4);
    });
  });
});

describe('weights', () => {
  it('spreads first attempts by weight over the upstreams that have one', async () => {
    const draws = [0.1, 0.7, 0.8, 0.5];
    const random = () => draws.shift() ?? 0;
    await withProxy(
      { upstreams: upstreams({ primary: { weight: 3 }, backup: { weight: 1 } }) },
      async (proxy) => {
        for (let i = 0; i < 4; i += 1) await proxy.client({ maxRetries: 0 }).chat.completions.create(chat);
        // Weights 3:1 split [0, 1) at 0.75: the draw 0.8 goes to the backup.
        expect(primary.requests).toHaveLength(3);
        expect(backup.requests).toHaveLength(1);
      },
      { random },
    );
  });
});

describe('Azure OpenAI', () => {
  const azure = (extra: Record<string, unknown>) => ({
    name: 'azure',
    kind: 'azure',
    baseURL: primary.origin(),
    apiKeyEnv: 'PRIMARY_KEY',
    models: { 'gpt-4o-mini': 'mini-eastus', 'text-embedding-3-small': 'embed-eastus' },
    ...extra,
  });

  it('calls the deployments API: the deployment in the path, api-version in the query, the key in api-key', async () => {
    await withProxy({ upstreams: [azure({ apiVersion: '2024-10-21' })] }, async (proxy) => {
      const client = proxy.client({ maxRetries: 0 });
      const stream = await client.chat.completions.create({ ...chat, stream: true });
      for await (const _chunk of stream) void _chunk;
      await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'float' });
      await client.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
      expect(primary.requests.map((request) => `${request.path}?${request.query.toString()}`)).toEqual([
        '/openai/deployments/mini-eastus/chat/completions?api-version=2024-10-21',
        '/openai/deployments/embed-eastus/embeddings?api-version=2024-10-21',
        '/openai/responses?api-version=2024-10-21',
      ]);
      expect(primary.requests.map((request) => request.body.model)).toEqual(['mini-eastus', 'embed-eastus', 'mini-eastus']);
      expect(primary.requests[0]!.headers['api-key']).toBe('primary-secret-key');
      expect(primary.requests[0]!.headers.authorization).toBeUndefined();
      expect(primary.requests[0]!.body.stream_options).toEqual({ include_usage: true });
      const moderation = await proxy.post('/v1/moderations', { model: 'gpt-4o-mini', input: 'x' });
      expect(moderation.status).toBe(404);
    });
  });

  it('calls the v1 API under /openai/v1 with a Bearer key and no api-version', async () => {
    await withProxy({ upstreams: [azure({ api: 'v1' })] }, async (proxy) => {
      await proxy.client({ maxRetries: 0 }).chat.completions.create(chat);
      expect(primary.requests[0]!.path).toBe('/openai/v1/chat/completions');
      expect([...primary.requests[0]!.query.keys()]).toEqual([]);
      expect(primary.requests[0]!.headers.authorization).toBe('Bearer primary-secret-key');
      expect(primary.requests[0]!.body.model).toBe('mini-eastus');
    });
  });

  it('falls back from Azure to OpenAI, each with its own model name', async () => {
    primary.enqueue({ kind: 'status', status: 500 });
    const file = { upstreams: [azure({ apiVersion: '2024-10-21' }), { ...upstreams()[1], models: ['gpt-4o-mini'] }] };
    await withProxy(file, async (proxy) => {
      await proxy.client({ maxRetries: 0 }).chat.completions.create(chat);
      expect(primary.requests[0]!.body.model).toBe('mini-eastus');
      expect(backup.requests[0]!.body.model).toBe('gpt-4o-mini');
      expect(backup.requests[0]!.path).toBe('/v1/chat/completions');
    });
  });
});
