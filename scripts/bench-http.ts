// Benchmark of the HTTP surface: the same engine driven in-process and through HTTP streaming
// (real app, inference backend, 127.0.0.1) side by side, TTFT, and RSS over many short requests.
import { type ChildProcess, fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { createEngine } from '../service/engine/engine';
import { createSamplingParams } from '../service/engine/params';
import type { Engine } from '../service/engine/types';
import { buildApp } from '../service/http/app';
import { createKeyAuthenticator } from '../service/http/auth';
import { createInferenceBackend } from '../service/inference/backend';
import { promptIds } from './bench/prompts';
import { writeBenchResults } from './bench/results';
import { percentile } from './bench/stats';
import { benchModelDir } from './gpt2-onnx/write-model-dir';
import { progressBar } from './progress';

const USAGE = `Usage: npm run bench:http [-- --quick] [--model DIR] [--reps N] [--threads N] [--short N] [--write]

One engine, interleaved repetitions of:
  engine in-process, 1 client     vs  HTTP streaming (SSE), 1 client
  engine in-process, 8 clients    vs  HTTP streaming (SSE), 8 clients
(the HTTP clients run in one child process, as real clients do, so their parsing does not share the
server's event loop; it is started and warmed up before any timing)
(32-token prompts as token ids, 64 new tokens, EOS ignored, greedy), then N short HTTP requests
(max_tokens 1, 8 at a time) with RSS before and after (after a GC).
  --quick      the tiny model (models/bench-tiny), 2 repetitions, 1,000 short requests
  --model DIR  model folder (default models/bench-gpt2, made with the gpt2 preset if missing)
  --reps N     repetitions (default 3; --quick 2)
  --threads N  onnxruntime intra-op threads (default 2)
  --short N    short requests (default 10,000; --quick 1,000)
Targets: HTTP tokens/s >= 95% of in-process; RSS growth over the short requests < 10%.
Writes bench/results/http.json and http.md (not with --quick unless --write).
Run through npm (it passes --expose-gc so RSS is measured after a collection).`;

const PROMPT_TOKENS = 32;
const NEW_TOKENS = 64;
const CLIENTS = [1, 8] as const;
const SERVED = 'gpt2';

interface RunResult {
  readonly tokens: number;
  readonly seconds: number;
  readonly ttftMs: number[];
}

/** Nearest-rank, as the percentiles: with an even count, the lower middle value. */
const median = (values: readonly number[]): number => percentile(values, 50);

async function engineRun(engine: Engine, clients: number): Promise<RunResult> {
  const params = createSamplingParams({ maxTokens: NEW_TOKENS, temperature: 0, stopOnEos: false }, { vocabSize: engine.tokenizer.vocabSize });
  const started = performance.now();
  const perClient = await Promise.all(
    Array.from({ length: clients }, async (_, row) => {
      const begin = performance.now();
      let ttft = Number.NaN;
      let tokens = 0;
      for await (const event of engine.generate({ promptIds: promptIds(row, PROMPT_TOKENS), params })) {
        if (event.type !== 'delta') continue;
        if (Number.isNaN(ttft)) ttft = performance.now() - begin;
        tokens += event.tokens.length;
      }
      return { ttft, tokens };
    }),
  );
  return { tokens: sum(perClient.map((c) => c.tokens)), seconds: (performance.now() - started) / 1000, ttftMs: perClient.map((c) => c.ttft) };
}

/**
 * Keep-alive connections for the streaming clients (undici's request API: far less client CPU than
 * fetch), kept open across the in-process runs in between (undici drops idle ones after 4 s by
 * default, and eight fresh connections reach this server about 2.5 ms apart).
 */
let clientPool: Pool | undefined;

async function httpRun(url: string, clients: number, newTokens = NEW_TOKENS): Promise<RunResult> {
  const pool = (clientPool ??= new Pool(url, { connections: CLIENTS.at(-1)!, keepAliveTimeout: 10 * 60_000, keepAliveMaxTimeout: 10 * 60_000 }));
  const started = performance.now();
  const perClient = await Promise.all(
    Array.from({ length: clients }, async (_, row) => {
      const begin = performance.now();
      const response = await pool.request({
        path: '/v1/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: SERVED,
          prompt: promptIds(row, PROMPT_TOKENS),
          max_tokens: newTokens,
          temperature: 0,
          ignore_eos: true,
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${await response.body.text()}`);
      let ttft = Number.NaN;
      let tokens = 0;
      let buffered = '';
      response.body.setEncoding('utf8');
      for await (const text of response.body as AsyncIterable<string>) {
        buffered += text;
        let end = buffered.indexOf('\n\n');
        for (; end >= 0; end = buffered.indexOf('\n\n')) {
          const data = buffered.slice('data: '.length, end);
          buffered = buffered.slice(end + 2);
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data) as { choices: { text: string; finish_reason: string | null }[]; usage?: { completion_tokens: number } | null };
          // The first token's chunk, as in-process: its text may still be empty (a partial UTF-8
          // character is held back until it is whole), so the text is not what marks it.
          if (Number.isNaN(ttft) && chunk.choices[0]?.finish_reason === null) ttft = performance.now() - begin;
          if (chunk.usage) tokens = chunk.usage.completion_tokens;
        }
      }
      return { ttft, tokens: tokens || newTokens };
    }),
  );
  return { tokens: sum(perClient.map((c) => c.tokens)), seconds: (performance.now() - started) / 1000, ttftMs: perClient.map((c) => c.ttft) };
}

/**
 * The streaming clients' process: started once and warmed up before any timing, so its own start-up
 * (module loading, compilation on background threads) does not compete with the engine for the cores.
 */
class ClientProcess {
  private readonly child: ChildProcess;
  private readonly replies: ((result: RunResult) => void)[] = [];

  constructor(url: string) {
    this.child = fork(__filename, ['--client', url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message) => this.replies.shift()?.(message as RunResult));
  }

  run(clients: number, newTokens = NEW_TOKENS): Promise<RunResult> {
    return new Promise((resolvePromise, reject) => {
      const onExit = (code: number | null) => reject(new Error(`HTTP client process exited (${code}) during a run`));
      this.child.once('exit', onExit);
      this.replies.push((result) => {
        this.child.off('exit', onExit);
        resolvePromise(result);
      });
      this.child.send({ clients, newTokens });
    });
  }

  close(): void {
    this.child.disconnect();
  }
}

/** The client process's side: one run per message from the parent. */
function serveClientRuns(url: string): void {
  process.on('message', (message: { clients: number; newTokens: number }) => {
    void httpRun(url, message.clients, message.newTokens).then((result) => process.send?.(result));
  });
  process.on('disconnect', () => process.exit(0));
}

async function shortRequests(
  url: string,
  count: number,
  concurrency: number,
  onDone?: (done: number) => void,
): Promise<{ seconds: number; latenciesMs: number[] }> {
  const latenciesMs: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let index = next++; index < count; index = next++) {
        const begin = performance.now();
        const response = await fetch(`${url}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: SERVED, prompt: promptIds(index % 64, PROMPT_TOKENS).slice(0, 8), max_tokens: 1, temperature: 0 }),
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`short request ${index}: HTTP ${response.status}`);
        latenciesMs.push(performance.now() - begin);
        onDone?.(latenciesMs.length);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latenciesMs };
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / (1024 * 1024);
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' },
      write: { type: 'boolean' },
      model: { type: 'string' },
      reps: { type: 'string' },
      threads: { type: 'string' },
      short: { type: 'string' },
      client: { type: 'string' },
      clients: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.client !== undefined) {
    serveClientRuns(values.client);
    return;
  }
  const quick = values.quick ?? false;
  const reps = Number(values.reps ?? (quick ? 2 : 3));
  const threads = Number(values.threads ?? 2);
  const shortCount = Number(values.short ?? (quick ? 1_000 : 10_000));
  for (const [name, value] of Object.entries({ reps, threads, short: shortCount })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number >= 1 (got ${value})\n\n${USAGE}`);
  }
  const modelDir = await benchModelDir(values.model, quick);
  if ((globalThis as { gc?: unknown }).gc === undefined) console.error('note: no --expose-gc; RSS is measured without forcing a collection');

  const engine = await createEngine({ modelDir, intraOpThreads: threads, maxBatchSize: 8, maxQueue: 64, modelId: SERVED });
  const registry = new Registry();
  const backend = createInferenceBackend(engine, { servedModelName: SERVED, registry });
  // Access logs stay on (at info, to /dev/null): their cost is part of the HTTP overhead.
  const built = await buildApp({ backend, authenticator: createKeyAuthenticator([]), registry, logger: pino({ level: 'info' }, pino.destination('/dev/null')) });
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 });
  const clientProcess = new ClientProcess(url);
  const loads: number[] = [];

  try {
    // Warm-up of both paths so neither pays for first-call compilation.
    await engineRun(engine, 1);
    await clientProcess.run(1, 2);
    await clientProcess.run(1);
    await clientProcess.run(CLIENTS.at(-1)!);
    const runs: Record<string, RunResult[]> = {};
    const progress = progressBar(process.stderr, { label: 'streaming runs', total: reps * CLIENTS.length * 2 });
    let finishedRuns = 0;
    progress.update(0);
    for (let rep = 0; rep < reps; rep += 1) {
      for (const clients of CLIENTS) {
        for (const [mode, run] of [['engine', () => engineRun(engine, clients)], ['http', () => clientProcess.run(clients)]] as const) {
          const result = await run();
          (runs[`${mode}:${clients}`] ??= []).push(result);
          loads.push(loadavg()[0] ?? 0);
          progress.log(`rep ${rep + 1}/${reps} ${mode} x${clients}: ${(result.tokens / result.seconds).toFixed(1)} tok/s`);
          progress.update((finishedRuns += 1));
        }
      }
    }
    progress.finish();

    await shortRequests(url, Math.min(200, shortCount), 8);
    const rssBefore = rssMb();
    const shortProgress = progressBar(process.stderr, { label: 'short requests', total: shortCount });
    const short = await shortRequests(url, shortCount, 8, (done) => shortProgress.update(done));
    shortProgress.finish();
    const rssAfter = rssMb();

    const throughput = Object.fromEntries(
      CLIENTS.map((clients) => {
        const engineTps = median((runs[`engine:${clients}`] ?? []).map((r) => r.tokens / r.seconds));
        const httpTps = median((runs[`http:${clients}`] ?? []).map((r) => r.tokens / r.seconds));
        const ttft = (mode: string) => (runs[`${mode}:${clients}`] ?? []).flatMap((r) => r.ttftMs);
        return [
          clients,
          {
            engineTokPerSec: engineTps,
            httpTokPerSec: httpTps,
            overheadPercent: (1 - httpTps / engineTps) * 100,
            engineTtftMs: { p50: percentile(ttft('engine'), 50), p99: percentile(ttft('engine'), 99) },
            httpTtftMs: { p50: percentile(ttft('http'), 50), p99: percentile(ttft('http'), 99) },
          },
        ];
      }),
    ) as Record<string, { engineTokPerSec: number; httpTokPerSec: number; overheadPercent: number; engineTtftMs: { p50: number; p99: number }; httpTtftMs: { p50: number; p99: number } }>;
    const report = {
      date: new Date().toISOString(),
      model: basename(modelDir),
      promptTokens: PROMPT_TOKENS,
      newTokens: NEW_TOKENS,
      threads,
      reps,
      throughput,
      shortRequests: {
        count: shortCount,
        concurrency: 8,
        requestsPerSec: shortCount / short.seconds,
        latencyMs: { p50: percentile(short.latenciesMs, 50), p99: percentile(short.latenciesMs, 99) },
        rssBeforeMb: rssBefore,
        rssAfterMb: rssAfter,
        rssGrowthPercent: ((rssAfter - rssBefore) / rssBefore) * 100,
        gcForced: (globalThis as { gc?: unknown }).gc !== undefined,
      },
      loadAvg1m: { min: Math.min(...loads), max: Math.max(...loads), mean: sum(loads) / loads.length },
      cores: cpus().length,
    };

    const f = (value: number, digits = 1): string => value.toFixed(digits);
    const rows = CLIENTS.map((clients) => {
      const r = throughput[clients]!;
      return `| ${clients} | ${f(r.engineTokPerSec)} | ${f(r.httpTokPerSec)} | ${f(r.overheadPercent)}% | ${f(r.engineTtftMs.p50)} / ${f(r.engineTtftMs.p99)} | ${f(r.httpTtftMs.p50)} / ${f(r.httpTtftMs.p99)} |`;
    });
    const s = report.shortRequests;
    const markdown =
      `# HTTP benchmark\n\n${report.date}; model \`${report.model}\`; ${PROMPT_TOKENS}-token prompts, ${NEW_TOKENS} new tokens (EOS ignored, greedy), ` +
      `${threads} intra-op threads; medians of ${reps} interleaved repetitions (one engine serves both columns).\n\n` +
      `| clients | engine in-process tok/s | HTTP streaming tok/s | overhead (target <= 5%) | engine TTFT p50 / p99 ms | HTTP TTFT p50 / p99 ms |\n` +
      `|---|---|---|---|---|---|\n${rows.join('\n')}\n\n` +
      `${s.count} short requests (max_tokens 1, ${s.concurrency} at a time): ${f(s.requestsPerSec)} req/s, latency p50 ${f(s.latencyMs.p50)} ms, p99 ${f(s.latencyMs.p99)} ms; ` +
      `RSS ${f(s.rssBeforeMb)} MB before, ${f(s.rssAfterMb)} MB after: ${f(s.rssGrowthPercent)}% (target < 10%${s.gcForced ? '' : '; no forced GC'}).\n\n` +
      `Load average (1 min) during the runs: min ${f(report.loadAvg1m.min, 2)}, mean ${f(report.loadAvg1m.mean, 2)}, max ${f(report.loadAvg1m.max, 2)} ` +
      `on a shared machine with ${report.cores} cores. The streaming clients run in one child process, started and warmed up before any timing; the short requests are sent from the server's process.\n`;
    console.log(markdown);
    if (!quick || values.write) {
      await writeBenchResults('http', report, markdown);
    }
  } finally {
    clientProcess.close();
    await built.app.close();
    await backend.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
