// The two limiters behind one interface, held to the same behaviour: the in-memory one and the Redis
// one (a real redis-server on 127.0.0.1), with an injected clock: requests and tokens per minute that
// refill, usage corrections, concurrency slots, day and month budgets in tokens and dollars that reset
// on UTC boundaries, and the order the refusals are checked in. Redis only: its keys share one hash
// slot per key name, and a held slot that is not renewed expires.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Grant, KeyPolicy, Limiter, Verdict } from '../../../service/proxy/limiter';
import { MemoryLimiter } from '../../../service/proxy/memory-limiter';
import { ProxyMetrics } from '../../../service/proxy/metrics';
import { RedisConnection } from '../../../service/proxy/redis-connection';
import { LIMITER_SCRIPTS, RedisLimiter } from '../../../service/proxy/redis-limiter';
import { eventually } from '../../support/eventually';
import { RedisServer } from '../../../scripts/redis-server';

// 2026-12-31 23:59:00 UTC: a minute before both a day and a month end.
const NEW_YEARS_EVE = Date.UTC(2026, 11, 31, 23, 59);
let now = NEW_YEARS_EVE;
const clock = () => now;

let redis: RedisServer;
const connections: RedisConnection[] = [];
let clientNumber = 0;

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  for (const connection of connections) await connection.close();
  await redis?.stop();
});
beforeEach(() => {
  now = NEW_YEARS_EVE;
  clientNumber += 1;
});

async function redisLimiter(leaseMs = 30_000, server = redis): Promise<RedisLimiter> {
  const metrics = new ProxyMetrics(new Registry());
  const log = pino({ level: 'silent' });
  const connection = new RedisConnection({ url: server.url, timeoutMs: 2000, tlsVerify: 'full', caCertificates: undefined, scripts: LIMITER_SCRIPTS, log, metrics });
  connections.push(connection);
  await connection.start(10_000);
  return new RedisLimiter({ connection, failure: 'closed', leaseMs, clock, windowMs: 60_000, log, metrics });
}

const kinds: [string, () => Promise<Limiter>][] = [
  ['memory', async () => new MemoryLimiter(clock, 60_000)],
  ['redis', () => redisLimiter()],
];

/** Each test its own key name, so the Redis counters of one test never meet another's. */
const client = () => `key-${clientNumber}`;

async function admit(limiter: Limiter, policy: KeyPolicy, tokens = 10, nanoUsd = 0): Promise<Verdict> {
  return limiter.admit({ client: client(), policy, estimate: { tokens, nanoUsd } });
}

function granted(verdict: Verdict): Grant {
  if (!verdict.admitted) throw new Error(`expected an admission, got ${JSON.stringify(verdict.refusal)}`);
  return verdict.grant;
}

describe.each(kinds)('%s limiter', (_name, make) => {
  let limiter: Limiter;
  beforeEach(async () => {
    limiter = await make();
  });

  it('admits requestsPerMinute requests, then refuses with the wait for one to refill', async () => {
    const states = [];
    for (let i = 0; i < 3; i += 1) states.push((await admit(limiter, { requestsPerMinute: 3 })).state?.requests);
    expect(states.map((state) => state?.remaining)).toEqual([2, 1, 0]);
    expect(states[2]?.resetMs).toBe(60_000);
    const refused = await admit(limiter, { requestsPerMinute: 3 });
    expect(refused).toMatchObject({ admitted: false, refusal: { kind: 'requests', retryAfterMs: 20_000 } });
    now += 20_000;
    expect((await admit(limiter, { requestsPerMinute: 3 })).admitted).toBe(true);
  });

  it('charges tokens up front, books the usage instead when settled, and refuses what does not fit', async () => {
    const policy = { tokensPerMinute: 50 };
    const first = await admit(limiter, policy, 20);
    expect(first.state?.tokens?.remaining).toBe(30);
    limiter.settle(granted(first), { tokens: 9, nanoUsd: 0 });
    // Sent on without waiting, but in order on the one connection: the next admission sees it.
    expect((await admit(limiter, policy, 0)).state?.tokens?.remaining).toBe(41);
    expect(await admit(limiter, policy, 45)).toMatchObject({ admitted: false, refusal: { kind: 'tokens', retryAfterMs: 4800 } });
    expect(await admit(limiter, policy, 51)).toMatchObject({ admitted: false, refusal: { kind: 'too_large' } });
  });

  it('holds maxConcurrent slots until they are released, and releases each once', async () => {
    const policy = { maxConcurrent: 2 };
    const held = [granted(await admit(limiter, policy)), granted(await admit(limiter, policy))];
    expect(await admit(limiter, policy)).toMatchObject({ admitted: false, refusal: { kind: 'concurrency', limit: 2 } });
    limiter.release(held[0]!);
    limiter.release(held[0]!);
    expect((await admit(limiter, policy)).admitted).toBe(true);
    expect(await admit(limiter, policy)).toMatchObject({ admitted: false, refusal: { kind: 'concurrency' } });
  });

  it('keeps a daily token budget that resets at midnight UTC, charged with the estimates in flight', async () => {
    const policy = { tokensPerDay: 25 };
    const first = await admit(limiter, policy, 10);
    expect(first.state?.spent.day.tokens).toBe(10);
    expect((await admit(limiter, policy, 10)).state?.spent.day.tokens).toBe(20);
    // Under the budget when admitted: the last request may take it over.
    expect((await admit(limiter, policy, 10)).state?.spent.day.tokens).toBe(30);
    expect(await admit(limiter, policy)).toMatchObject({ admitted: false, refusal: { kind: 'budget', unit: 'tokens', period: 'day' } });
    now = Date.UTC(2027, 0, 1);
    const nextDay = await admit(limiter, policy, 10);
    expect(nextDay).toMatchObject({ admitted: true, state: { spent: { day: { tokens: 10 } }, periods: { day: { id: '2027-01-01' } } } });
  });

  it('books a request that ends after midnight to the day it was admitted in', async () => {
    now = Date.UTC(2026, 11, 30, 23, 59, 59);
    const policy = { tokensPerDay: 100, tokensPerMonth: 1000 };
    const lastOfTheDay = granted(await admit(limiter, policy, 40));
    now = Date.UTC(2026, 11, 31, 0, 0, 5);
    limiter.settle(lastOfTheDay, { tokens: 90, nanoUsd: 0 });
    // The month got the 50 more; the new day did not.
    expect((await admit(limiter, policy, 0)).state?.spent).toEqual({ day: { tokens: 0, nanoUsd: 0 }, month: { tokens: 90, nanoUsd: 0 } });
  });

  it('keeps monthly dollar budgets in nano-dollars, and says a spent month before a spent day', async () => {
    const policy = { nanoUsdPerMonth: 30_000, tokensPerDay: 10 };
    expect(await admit(limiter, policy, 10, 13_000)).toMatchObject({ admitted: true, state: { spent: { month: { nanoUsd: 13_000 } } } });
    expect(await admit(limiter, policy, 10, 13_000)).toMatchObject({ admitted: false, refusal: { kind: 'budget', unit: 'tokens', period: 'day' } });
    expect(await admit(limiter, { nanoUsdPerMonth: 30_000 }, 10, 20_000)).toMatchObject({ admitted: true, state: { spent: { month: { nanoUsd: 33_000 } } } });
    expect(await admit(limiter, policy)).toMatchObject({ admitted: false, refusal: { kind: 'budget', unit: 'usd', period: 'month' } });
  });

  it('checks budgets before the per-minute limits: a spent budget is what the client must hear', async () => {
    granted(await admit(limiter, { requestsPerMinute: 1, tokensPerDay: 5 }));
    expect(await admit(limiter, { requestsPerMinute: 1, tokensPerDay: 5 })).toMatchObject({ admitted: false, refusal: { kind: 'budget' } });
  });

  it('follows a limit changed by a config reload, counting what was used against the new one', async () => {
    for (let i = 0; i < 3; i += 1) granted(await admit(limiter, { requestsPerMinute: 3 }));
    expect((await admit(limiter, { requestsPerMinute: 3 })).admitted).toBe(false);
    // Raised to 6: three used, three left.
    expect(await admit(limiter, { requestsPerMinute: 6 })).toMatchObject({ admitted: true, state: { requests: { remaining: 2 } } });
    // Lowered to 2: four used is two too many; one request refills in 30 s at the new rate, so 90 s for three.
    expect(await admit(limiter, { requestsPerMinute: 2 })).toMatchObject({ admitted: false, refusal: { kind: 'requests', retryAfterMs: 90_000 } });
  });
});

describe('redis limiter', () => {
  it('lets a slot that nobody renews expire, so the slots of a replica that died come back', async () => {
    const limiter = await redisLimiter(1000);
    const policy = { maxConcurrent: 1 };
    granted(await admit(limiter, policy));
    expect((await admit(limiter, policy)).admitted).toBe(false);
    // The limiter's clock decides expiry (its renewals are due every third of the lease, on real time).
    await limiter.close();
    const survivor = await redisLimiter(1000);
    now += 999;
    expect((await admit(survivor, policy)).admitted).toBe(false);
    now += 1;
    expect((await admit(survivor, policy)).admitted).toBe(true);
  });

  it('runs its scripts on a cluster, which refuses a script whose keys are in different slots (ElastiCache Serverless)', async () => {
    const cluster = await RedisServer.start({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(mkdtempSync(join(tmpdir(), 'cluster-')), 'nodes.conf')] });
    const admin = createClient({ url: cluster.url });
    try {
      await admin.connect();
      await admin.sendCommand(['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
      // The node takes the slots on its next cluster tick (every 100 ms), which sends no event.
      await eventually(async () => String(await admin.sendCommand(['CLUSTER', 'INFO'])).includes('cluster_state:ok'), 'the one-node cluster says cluster_state:ok');
      await expect(admin.eval('return 1', { keys: ['proxy:a', 'proxy:b'] })).rejects.toThrow(/CROSSSLOT/);
      const limiter = await redisLimiter(30_000, cluster);
      const policy = { requestsPerMinute: 5, tokensPerMinute: 100, maxConcurrent: 2, tokensPerDay: 50, tokensPerMonth: 500 };
      const grant = granted(await admit(limiter, policy));
      limiter.settle(grant, { tokens: 4, nanoUsd: 0 });
      limiter.release(grant);
      expect(await admit(limiter, policy, 0)).toMatchObject({ admitted: true, grant: { store: 'redis' }, state: { spent: { day: { tokens: 4 } } } });
      await limiter.close();
    } finally {
      await admin.close();
      await cluster.stop();
    }
  });
});
