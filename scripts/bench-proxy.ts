// Benchmark: what the proxy adds. The same paired load (each request sent at the same instant
// directly to a fast local upstream and through the proxy) at fixed open-loop rates, with its limits
// in memory and in Redis (REDIS_URL) side by side, then a long run through the proxy to watch its
// memory. Upstream, proxies, relay and redis-server each run in their own child process.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { z } from 'zod';
import { buildApp } from '../service/http/app';
import { hashKey } from '../service/http/auth';
import { createProxyBackend } from '../service/proxy/backend';
import { writeBenchResults } from './bench/results';
import { progressBar } from './progress';
import { RedisServer } from './redis-server';

const USAGE = `Usage: npm run bench:proxy [-- --quick] [--rates 100,500] [--seconds 10] [--rss-requests 50000] [--redis-url URL]

Starts a fast local OpenAI-compatible upstream, the proxy with its limits in memory, the proxy with
its limits in Redis, a bare relay and a fastify relay in front of it (each in its own child process;
Redis is a redis-server started on 127.0.0.1, or --redis-url), then from this process:
  0. a warm-up of 10,000 requests through each (2,000 with --quick), not reported;
  1. for each rate: an open-loop load for --seconds; every request is sent at the same instant
     directly to the upstream and through the proxy; reports p50/p99 of the per-pair difference
     (proxy - direct), each side's p50/p99 and achieved throughput; then the same through a bare
     undici relay (no auth, limits, logs or metrics) as the machine's floor for any Node proxy,
     and through the same relay behind fastify (the floor of a fastify-based proxy such as this);
     the proxy with REDIS_URL is measured at each rate too;
  2. --rss-requests requests through the proxy (64 concurrent, closed loop): the proxy's RSS at
     the start, peak and end, and its throughput;
  3. at each rate, the proxy's added p50 and p99 over the bare relay's, against the targets
     (at most 1.3x and 2x), the fastify relay's over the bare relay's (the framework's share),
     and the Redis proxy's added p50 over the in-memory one's (at most 0.5 ms more).
  --redis-url  a Redis to use instead of starting redis-server (its keys proxy:{bench}:* are written)
  --quick   rates 100,500 for 2 s each and 5,000 requests for the memory run (development)
Writes bench/results/proxy.json and bench/results/proxy.md.`;

const CLIENT_KEY = 'bench-client-key';
const MEMORY_CONCURRENCY = 64;
const WARMUP_REQUESTS = 10_000;
const REQUEST_BODY = JSON.stringify({ model: 'bench-model', prompt: 'Say hello to the benchmark.', max_tokens: 16 });
const UPSTREAM_BODY = JSON.stringify({
  id: 'cmpl-bench',
  object: 'text_completion',
  created: 1_700_000_000,
  model: 'bench-model',
  choices: [{ index: 0, text: ' Hello, benchmark! Nice to meet you today.', finish_reason: 'stop', logprobs: null }],
  // Fewer tokens than the estimate (7 + max_tokens 16), as most answers: every request also settles its usage.
  usage: { prompt_tokens: 7, completion_tokens: 12, total_tokens: 19 },
});

const ChildMessage = z.union([
  z.object({ kind: z.literal('listening'), url: z.string() }),
  z.object({ kind: z.literal('usage'), rssBytes: z.number(), cpuMicros: z.number() }),
]);
type ChildMessage = z.infer<typeof ChildMessage>;

// ---- child processes ----

async function serveUpstream(): Promise<string> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(UPSTREAM_BODY) });
      response.end(UPSTREAM_BODY);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function serveProxy(upstreamUrl: string, redisUrl: string | undefined): Promise<string> {
  // Access logs at info, written synchronously as main.ts's logger does, but to /dev/null so the terminal does not set the pace.
  const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }));
  const registry = new Registry();
  // Limits high enough not to throttle the benchmark; the limiter still runs on every request.
  const configFile = join(mkdtempSync(join(tmpdir(), 'bench-proxy-')), 'proxy.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      keys: [{ name: 'bench', sha256: hashKey(CLIENT_KEY) }],
      defaultLimits: { requestsPerMinute: 100_000_000, tokensPerMinute: 1_000_000_000, maxConcurrent: 10_000 },
      models: { allow: ['bench-model'] },
    }),
  );
  const { backend, authenticator } = await createProxyBackend(
    { UPSTREAM_BASE_URL: `${upstreamUrl}/v1`, OPENAI_API_KEY: 'sk-bench-upstream-key', PROXY_CONFIG_FILE: configFile, PROXY_MAX_RETRIES: '0', REDIS_URL: redisUrl },
    { registry, logger },
  );
  const built = await buildApp({ backend, authenticator, registry, logger });
  return built.app.listen({ host: '127.0.0.1', port: 0 });
}

/**
 * The floor any Node proxy sits on here: node:http in, an undici pool out, the body relayed with no
 * auth, validation, limits, logs or metrics. Measured in the same run, it separates what this
 * machine costs per hop from what our proxy adds on top.
 */
async function serveBareRelay(upstreamUrl: string): Promise<string> {
  const pool = new Pool(upstreamUrl, { connections: 256 });
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      pool
        .request({ path: '/v1/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) })
        .then(async (upstream) => {
          const body = await upstream.body.text();
          response.writeHead(upstream.statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          response.end(body);
        })
        .catch(() => response.writeHead(502).end());
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * The floor of a relay built on fastify, as the proxy is: the bare relay plus fastify's routing,
 * JSON body parsing and reply, still without auth, limits, logs or metrics. Between it and the
 * proxy lies what the proxy itself does; between it and the bare relay, what the framework costs.
 */
async function serveFastifyRelay(upstreamUrl: string): Promise<string> {
  const pool = new Pool(upstreamUrl, { connections: 256 });
  const app = Fastify({ logger: false });
  app.post('/v1/completions', async (request, reply) => {
    const upstream = await pool.request({ path: '/v1/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request.body) });
    const body = await upstream.body.text();
    return reply.code(upstream.statusCode).header('content-type', 'application/json').send(body);
  });
  app.server.keepAliveTimeout = 60_000;
  return app.listen({ host: '127.0.0.1', port: 0 });
}

const CHILD_MODES = ['--serve-upstream', '--serve-proxy', '--serve-bare-relay', '--serve-fastify-relay'] as const;
type ChildMode = (typeof CHILD_MODES)[number];

function runChild(mode: ChildMode, url?: string, redisUrl?: string): void {
  const servers: Record<ChildMode, () => Promise<string>> = {
    '--serve-upstream': () => serveUpstream(),
    '--serve-proxy': () => serveProxy(url!, redisUrl),
    '--serve-bare-relay': () => serveBareRelay(url!),
    '--serve-fastify-relay': () => serveFastifyRelay(url!),
  };
  const serve = servers[mode]();
  void serve.then((listening) => process.send?.({ kind: 'listening', url: listening } satisfies ChildMessage));
  process.on('message', () => {
    // Collect first, so RSS tracks live memory rather than when V8 last chose to collect.
    (globalThis as { gc?: () => void }).gc?.();
    const cpu = process.cpuUsage();
    process.send?.({ kind: 'usage', rssBytes: process.memoryUsage().rss, cpuMicros: cpu.user + cpu.system } satisfies ChildMessage);
  });
  process.on('disconnect', () => process.exit(0));
}

// ---- the load generator (parent) ----

class Child {
  private readonly waiters: ((message: ChildMessage) => void)[] = [];
  private constructor(readonly process: ChildProcess) {
    process.on('message', (raw) => this.waiters.shift()?.(ChildMessage.parse(raw)));
  }

  static async start(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ child: Child; url: string }> {
    const child = new Child(fork(__filename, args, { env, execArgv: [...process.execArgv, '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const message = await child.next();
    if (message.kind !== 'listening') throw new Error(`child ${args.join(' ')} did not start`);
    return { child, url: message.url };
  }

  next(): Promise<ChildMessage> {
    return new Promise((done) => this.waiters.push(done));
  }

  /** The child's resident memory and the CPU time it has used so far. */
  async usage(): Promise<{ rssMb: number; cpuMs: number }> {
    const reply = this.next();
    this.process.send('usage');
    const message = await reply;
    if (message.kind !== 'usage') throw new Error('expected a usage reply');
    return { rssMb: message.rssBytes / 2 ** 20, cpuMs: message.cpuMicros / 1000 };
  }

  async rssMb(): Promise<number> {
    return (await this.usage()).rssMb;
  }
}

async function timedRequest(pool: Pool, authorization: string | undefined): Promise<number | undefined> {
  const started = performance.now();
  try {
    const response = await pool.request({
      path: '/v1/completions',
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: REQUEST_BODY,
    });
    await response.body.text();
    return response.statusCode === 200 ? performance.now() - started : undefined;
  } catch {
    return undefined;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

interface Side {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly throughputRps: number;
}

interface RatePhase {
  /** What the second request of each pair went through. */
  readonly through: 'proxy' | 'proxy with Redis' | 'bare relay' | 'fastify relay';
  readonly targetRps: number;
  readonly seconds: number;
  readonly pairs: number;
  readonly direct: Side;
  readonly proxy: Side;
  /** Percentiles of (proxy latency - direct latency) over pairs where both succeeded. */
  readonly overheadP50Ms: number;
  readonly overheadP99Ms: number;
  /** CPU time the proxy process spent per request: a cost that does not depend on how busy the machine is. */
  readonly proxyCpuMsPerRequest: number;
}

function side(latencies: (number | undefined)[], elapsedS: number): Side {
  const ok = latencies.filter((value): value is number => value !== undefined).sort((a, b) => a - b);
  return {
    p50Ms: round(percentile(ok, 50)),
    p99Ms: round(percentile(ok, 99)),
    errors: latencies.length - ok.length,
    throughputRps: round(ok.length / elapsedS, 1),
  };
}

async function ratePhase(
  through: RatePhase['through'],
  direct: Pool,
  proxy: Pool,
  proxyChild: Child,
  rate: number,
  seconds: number,
): Promise<RatePhase> {
  const cpuBefore = (await proxyChild.usage()).cpuMs;
  const total = Math.round(rate * seconds);
  const intervalMs = 1000 / rate;
  const pending: Promise<[number | undefined, number | undefined]>[] = [];
  const start = performance.now();
  for (let sent = 0; sent < total; ) {
    // Open loop: send everything that is due, whatever is still in flight.
    while (sent < total && performance.now() - start >= sent * intervalMs) {
      pending.push(Promise.all([timedRequest(direct, undefined), timedRequest(proxy, `Bearer ${CLIENT_KEY}`)]));
      sent += 1;
    }
    await new Promise((done) => setTimeout(done, 1));
  }
  const results = await Promise.all(pending);
  const elapsedS = (performance.now() - start) / 1000;
  const proxyCpuMs = (await proxyChild.usage()).cpuMs - cpuBefore;
  const overhead = results
    .filter((pair): pair is [number, number] => pair[0] !== undefined && pair[1] !== undefined)
    .map(([d, p]) => p - d)
    .sort((a, b) => a - b);
  return {
    through,
    targetRps: rate,
    seconds,
    pairs: total,
    direct: side(results.map((pair) => pair[0]), elapsedS),
    proxy: side(results.map((pair) => pair[1]), elapsedS),
    overheadP50Ms: round(percentile(overhead, 50)),
    overheadP99Ms: round(percentile(overhead, 99)),
    proxyCpuMsPerRequest: round(proxyCpuMs / total),
  };
}

/** Closed-loop requests through `proxy`, sampling the child's RSS; a progress bar under `label`. */
async function memoryRun(proxy: Pool, child: Child, requests: number, label: string) {
  const progress = progressBar(process.stderr, { label, total: requests });
  const startUsage = await child.usage();
  const samples: { requests: number; rssMb: number }[] = [{ requests: 0, rssMb: round(startUsage.rssMb, 1) }];
  const sampleEvery = Math.max(1, Math.floor(requests / 10));
  let issued = 0;
  let done = 0;
  let errors = 0;
  const start = performance.now();
  const worker = async () => {
    while (issued < requests) {
      issued += 1;
      if ((await timedRequest(proxy, `Bearer ${CLIENT_KEY}`)) === undefined) errors += 1;
      done += 1;
      progress.update(done);
      if (done % sampleEvery === 0) samples.push({ requests: done, rssMb: round(await child.rssMb(), 1) });
    }
  };
  await Promise.all(Array.from({ length: MEMORY_CONCURRENCY }, worker));
  progress.finish();
  const elapsedS = (performance.now() - start) / 1000;
  const proxyCpuMsPerRequest = round(((await child.usage()).cpuMs - startUsage.cpuMs) / requests);
  const rss = samples.map((sample) => sample.rssMb);
  return {
    requests,
    concurrency: MEMORY_CONCURRENCY,
    errors,
    throughputRps: round(requests / elapsedS, 1),
    proxyCpuMsPerRequest,
    rssStartMb: rss[0]!,
    rssPeakMb: Math.max(...rss),
    rssEndMb: rss.at(-1)!,
    samples,
  };
}

/** The targets: the proxy's added p50 at most 1.3x the bare relay's, its added p99 at most 2x, at each rate. */
const TARGET_P50_RATIO = 1.3;
const TARGET_P99_RATIO = 2;

/** The Redis proxy's added p50 at most this much above the in-memory proxy's, at 500 req/s. */
const TARGET_REDIS_EXTRA_P50_MS = 0.5;

interface RedisCheck {
  readonly targetRps: number;
  /** Redis proxy's added p50 - in-memory proxy's added p50. */
  readonly extraP50Ms: number;
  readonly extraP99Ms: number;
  readonly met: boolean;
}

/** Each phase through `measured` with the phase through `baseline` at the same rate (measured side by side). */
function sideBySide(phases: readonly RatePhase[], measured: RatePhase['through'], baseline: RatePhase['through']): [RatePhase, RatePhase][] {
  return phases
    .filter((phase) => phase.through === measured)
    .flatMap((phase): [RatePhase, RatePhase][] => {
      const other = phases.find((candidate) => candidate.through === baseline && candidate.targetRps === phase.targetRps);
      return other === undefined ? [] : [[phase, other]];
    });
}

/** How many times `baseline`'s added p50 and p99 `measured` adds. */
function addedRatios(measured: RatePhase, baseline: RatePhase): { p50Ratio: number; p99Ratio: number } {
  return { p50Ratio: round(measured.overheadP50Ms / baseline.overheadP50Ms, 2), p99Ratio: round(measured.overheadP99Ms / baseline.overheadP99Ms, 2) };
}

/** The Redis proxy against the in-memory one, rate by rate. */
function redisChecks(phases: readonly RatePhase[]): RedisCheck[] {
  return sideBySide(phases, 'proxy with Redis', 'proxy').map(([redis, memory]) => {
    const extraP50Ms = round(redis.overheadP50Ms - memory.overheadP50Ms);
    return { targetRps: redis.targetRps, extraP50Ms, extraP99Ms: round(redis.overheadP99Ms - memory.overheadP99Ms), met: extraP50Ms <= TARGET_REDIS_EXTRA_P50_MS };
  });
}

interface TargetCheck {
  readonly targetRps: number;
  readonly p50Ratio: number;
  readonly p99Ratio: number;
  readonly met: boolean;
}

/** Proxy against bare relay, rate by rate. */
function targetChecks(phases: readonly RatePhase[]): TargetCheck[] {
  return sideBySide(phases, 'proxy', 'bare relay').map(([proxy, bare]) => {
    const { p50Ratio, p99Ratio } = addedRatios(proxy, bare);
    return { targetRps: proxy.targetRps, p50Ratio, p99Ratio, met: p50Ratio <= TARGET_P50_RATIO && p99Ratio <= TARGET_P99_RATIO };
  });
}

interface FrameworkShare {
  readonly targetRps: number;
  /** The fastify relay's added p50 over the bare relay's: what the framework alone costs. */
  readonly fastifyP50Ratio: number;
  readonly fastifyP99Ratio: number;
}

/** The fastify relay against the bare relay, rate by rate: how much of the proxy's budget the framework takes. */
function frameworkShares(phases: readonly RatePhase[]): FrameworkShare[] {
  return sideBySide(phases, 'fastify relay', 'bare relay').map(([fastify, bare]) => {
    const { p50Ratio, p99Ratio } = addedRatios(fastify, bare);
    return { targetRps: fastify.targetRps, fastifyP50Ratio: p50Ratio, fastifyP99Ratio: p99Ratio };
  });
}

function markdown(result: Awaited<ReturnType<typeof benchmark>>): string {
  const rows = result.phases.map(
    (phase) =>
      `| ${phase.through} | ${phase.targetRps} | ${phase.seconds} | ${phase.overheadP50Ms} | ${phase.overheadP99Ms} | ${phase.direct.p50Ms} / ${phase.direct.p99Ms} | ` +
      `${phase.proxy.p50Ms} / ${phase.proxy.p99Ms} | ${phase.direct.throughputRps} | ${phase.proxy.throughputRps} | ${phase.proxyCpuMsPerRequest} | ` +
      `${phase.direct.errors + phase.proxy.errors} |`,
  );
  const memory = result.memory;
  return [
    '# Proxy overhead',
    '',
    `${result.date}; ${result.machine.cpus} x ${result.machine.cpuModel}; Node ${result.machine.node}; load average before: ${result.machine.loadAvg1m}.`,
    'Upstream: a local node:http server answering a fixed completion at once. Proxy: the real HTTP app and proxy backend',
    '(auth, limits, metrics, access logs at info to /dev/null), each in its own process; the load generator in a third.',
    `Proxy with Redis: the same with REDIS_URL (${result.redis}): rpm, tpm, a concurrency lease and a settle per request in Redis.`,
    'Bare relay: node:http in, an undici pool out, nothing else (the floor of any Node proxy on this machine), measured',
    'right after the proxy at each rate. Fastify relay: the same behind fastify (routing, JSON body parsing, reply), still',
    'without auth, limits, logs or metrics: the floor of a proxy built on fastify, as this one is.',
    '"added" is the per-pair difference (through - direct) for requests sent at the same instant.',
    '',
    '| through | target req/s | s | added p50 ms | added p99 ms | direct p50 / p99 ms | through p50 / p99 ms | direct req/s | through req/s | its CPU ms/req | errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Target: the proxy's added p50 at most ${TARGET_P50_RATIO}x the bare relay's and its added p99 at most ${TARGET_P99_RATIO}x, at each rate.`,
    ...result.targets.map(
      (check) => `- ${check.targetRps} req/s: p50 ${check.p50Ratio}x, p99 ${check.p99Ratio}x: ${check.met ? 'met' : 'not met'}`,
    ),
    '',
    "The framework's share: the fastify relay's added latency over the bare relay's, at each rate.",
    ...result.framework.map((share) => `- ${share.targetRps} req/s: p50 ${share.fastifyP50Ratio}x, p99 ${share.fastifyP99Ratio}x`),
    '',
    `Target: with Redis, the proxy's added p50 at most ${TARGET_REDIS_EXTRA_P50_MS} ms above the in-memory proxy's (the issue sets it at 500 req/s).`,
    ...result.redisTargets.map(
      (check) => `- ${check.targetRps} req/s: +${check.extraP50Ms} ms p50, +${check.extraP99Ms} ms p99: ${check.met ? 'met' : 'not met'}`,
    ),
    '',
    `Memory: ${memory.requests} requests through the proxy, ${memory.concurrency} concurrent: ${memory.throughputRps} req/s, ${memory.errors} errors,`,
    `${memory.proxyCpuMsPerRequest} ms of proxy CPU per request;`,
    `proxy RSS ${memory.rssStartMb} MB at the start, ${memory.rssPeakMb} MB peak, ${memory.rssEndMb} MB at the end.`,
    '',
  ].join('\n');
}

async function benchmark(options: { rates: number[]; seconds: number; rssRequests: number; warmupRequests: number; quick: boolean; redisUrl: string | undefined }) {
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, loadAvg1m: round(loadavg()[0] ?? 0, 2) };
  const redisServer = options.redisUrl === undefined ? await RedisServer.start({ whenMissing: ', or pass --redis-url redis://HOST:PORT' }) : undefined;
  const redisUrl = options.redisUrl ?? redisServer!.url;
  const upstream = await Child.start(['--serve-upstream']);
  const proxy = await Child.start(['--serve-proxy', upstream.url]);
  const redisProxy = await Child.start(['--serve-proxy', upstream.url, redisUrl]);
  const relay = await Child.start(['--serve-bare-relay', upstream.url]);
  const fastifyRelay = await Child.start(['--serve-fastify-relay', upstream.url]);
  const direct = new Pool(upstream.url, { connections: 256 });
  const viaProxy = new Pool(proxy.url, { connections: 256 });
  const viaRedisProxy = new Pool(redisProxy.url, { connections: 256 });
  const viaRelay = new Pool(relay.url, { connections: 256 });
  const viaFastifyRelay = new Pool(fastifyRelay.url, { connections: 256 });
  try {
    // Measured phases see a warm proxy, as in production: its hot paths optimized by V8, pools open.
    await memoryRun(viaProxy, proxy.child, options.warmupRequests, 'warm-up through the proxy');
    await memoryRun(viaRedisProxy, redisProxy.child, options.warmupRequests, 'warm-up through the proxy with Redis');
    await memoryRun(viaRelay, relay.child, options.warmupRequests, 'warm-up through the bare relay');
    await memoryRun(viaFastifyRelay, fastifyRelay.child, options.warmupRequests, 'warm-up through the fastify relay');
    await ratePhase('proxy', direct, viaProxy, proxy.child, 200, 1);
    const phases: RatePhase[] = [];
    for (const rate of options.rates) {
      process.stderr.write(`rate ${rate} req/s for ${options.seconds} s, through the proxy, the proxy with Redis, the bare relay, then the fastify relay...\n`);
      phases.push(await ratePhase('proxy', direct, viaProxy, proxy.child, rate, options.seconds));
      phases.push(await ratePhase('proxy with Redis', direct, viaRedisProxy, redisProxy.child, rate, options.seconds));
      phases.push(await ratePhase('bare relay', direct, viaRelay, relay.child, rate, options.seconds));
      phases.push(await ratePhase('fastify relay', direct, viaFastifyRelay, fastifyRelay.child, rate, options.seconds));
    }
    const memory = await memoryRun(viaProxy, proxy.child, options.rssRequests, 'memory run');
    const redis = redisServer === undefined ? 'the Redis of --redis-url' : 'a redis-server on 127.0.0.1, no persistence';
    return {
      date: new Date().toISOString(),
      quick: options.quick,
      machine,
      redis,
      phases,
      targets: targetChecks(phases),
      framework: frameworkShares(phases),
      redisTargets: redisChecks(phases),
      memory,
    };
  } finally {
    await Promise.all([direct.close(), viaProxy.close(), viaRedisProxy.close(), viaRelay.close(), viaFastifyRelay.close()]);
    for (const child of [upstream, proxy, redisProxy, relay, fastifyRelay]) child.child.process.disconnect();
    await redisServer?.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rates: { type: 'string' },
      seconds: { type: 'string' },
      'rss-requests': { type: 'string' },
      'redis-url': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const Options = z.object({
    rates: z.array(z.number().int().positive()).min(1),
    seconds: z.number().positive(),
    rssRequests: z.number().int().positive(),
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\//, '--redis-url: expected redis://HOST:PORT or rediss://...')
      .optional(),
  });
  const options = Options.parse({
    rates: (values.rates ?? '100,500').split(',').map(Number),
    seconds: Number(values.seconds ?? (values.quick ? 2 : 10)),
    rssRequests: Number(values['rss-requests'] ?? (values.quick ? 5000 : 50_000)),
    redisUrl: values['redis-url'],
  });
  const result = await benchmark({ ...options, redisUrl: options.redisUrl, warmupRequests: values.quick ? 2000 : WARMUP_REQUESTS, quick: values.quick });
  const report = markdown(result);
  await writeBenchResults('proxy', result, report);
  process.stdout.write(report);
}

const mode = process.argv[2];
const isChildMode = (value: string | undefined): value is ChildMode => CHILD_MODES.includes(value as ChildMode);
if (isChildMode(mode)) runChild(mode, process.argv[3], process.argv[4]);
else
  main().catch((error: unknown) => {
    process.stderr.write(`bench:proxy failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
