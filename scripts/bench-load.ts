// Benchmark of the service under load, per engine mode: whether health checks and running streams
// stay responsive while long prompts are prefilled, and what that costs in throughput. Each mode
// runs in a fresh server process; this process is the clients.
import { fork, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { basename } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { z } from 'zod';
import { DEFAULT_PREFILL_CHUNK_TOKENS } from '../service/engine/defaults';
import { createEngine } from '../service/engine/engine';
import type { PrefillChunking } from '../service/engine/scheduler/chunk-budget';
import type { Engine } from '../service/engine/types';
import { createWorkerEngine } from '../service/engine/worker/client';
import { buildApp } from '../service/http/app';
import { createKeyAuthenticator } from '../service/http/auth';
import { createInferenceBackend } from '../service/inference/backend';
import { promptIds } from './bench/prompts';
import { writeBenchResults } from './bench/results';
import { percentile, spread, type Spread } from './bench/stats';
import { validateFlags } from './cli-args';
import { benchModelDir } from './gpt2-onnx/write-model-dir';

const MODES = ['in-thread', 'worker', 'worker-whole'] as const;
type Mode = (typeof MODES)[number];
const MODE_NAMES: Record<Mode, string> = {
  'in-thread': 'in-thread (the engine on the server thread, whole-prompt prefill: before the worker)',
  worker: `worker (the engine in its worker process, PREFILL_CHUNK_TOKENS=${DEFAULT_PREFILL_CHUNK_TOKENS}: the service now)`,
  'worker-whole': 'worker-whole (the worker with PREFILL_CHUNK_TOKENS=0: its cost without chunking)',
};

const USAGE = `Usage: npm run bench:load [-- --quick] [--model DIR] [--threads N] [--reps N] [--modes LIST] [--chunk N] [--write]

Two scenarios against the HTTP service (real app, inference backend, 127.0.0.1), once per engine mode
and repetition, each in a fresh server process (the order rotates every repetition):
  (1) load: 16 streaming clients with 980-token prompts and 32 new tokens each (greedy, EOS ignored)
      while GET /health is polled every 100 ms: /health p50/p99/max, the server's event-loop delay
      p99/max, total tokens/s
  (2) interference: 4 streams decoding 8-token prompts, then one 1,000-token prompt arrives:
      inter-token latency p50/p99 of the 4 streams before it and during its prefill
Modes (--modes, comma-separated; default all):
  ${MODE_NAMES['in-thread']}
  ${MODE_NAMES.worker}
  ${MODE_NAMES['worker-whole']}
  --quick      the tiny model (models/bench-tiny) and 4 clients in (1): for development
  --model DIR  model folder (default models/bench-gpt2, made with the gpt2 preset if missing)
  --threads N  onnxruntime intra-op threads (default 2)
  --reps N     repetitions (default 1)
  --chunk N    PREFILL_CHUNK_TOKENS of the worker mode: auto or a number (default ${DEFAULT_PREFILL_CHUNK_TOKENS})
Targets (worker mode): (1) /health p99 < 50 ms and max < 250 ms, tokens/s within 5% of in-thread;
(2) ITL p99 during the prefill <= 2.5 x the median ITL before it.
Writes bench/results/load.json and load.md (not with --quick unless --write).`;

const SERVED = 'gpt2';
const LOAD_PROMPT_TOKENS = 980;
const LOAD_NEW_TOKENS = 32;
const HEALTH_INTERVAL_MS = 100;
const INTERFERENCE_STREAMS = 4;
const SHORT_PROMPT_TOKENS = 8;
const LONG_PROMPT_TOKENS = 1000;
/** Chunks each running stream gets before the ITL baseline window, and in it. */
const WARM_CHUNKS = 5;
const BASELINE_CHUNKS = 30;

const Flags = z.object({
  quick: z.boolean().default(false),
  write: z.boolean().default(false),
  model: z.string().optional(),
  threads: z.coerce.number({ message: '--threads must be a number' }).int().positive().default(2),
  reps: z.coerce.number({ message: '--reps must be a number' }).int().positive().default(1),
  chunk: z
    .union([z.literal('auto'), z.coerce.number().int().nonnegative()], { message: '--chunk takes auto or a whole number of tokens' })
    .default(DEFAULT_PREFILL_CHUNK_TOKENS),
  modes: z
    .string()
    .default(MODES.join(','))
    .transform((text) => text.split(',').map((mode) => mode.trim()))
    .pipe(z.array(z.enum(MODES, `--modes takes ${MODES.join(', ')}`)).min(1)),
});

// ---- The server process -------------------------------------------------------------------------

interface ServerStats {
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
}

type ToServer = { readonly type: 'reset' } | { readonly type: 'stats' } | { readonly type: 'close' };

async function startEngine(mode: Mode, modelDir: string, threads: number, chunk: PrefillChunking): Promise<Engine> {
  const settings = { modelDir, intraOpThreads: threads, modelId: SERVED };
  if (mode === 'in-thread') return createEngine({ ...settings, prefillChunkTokens: 0 });
  return createWorkerEngine({ ...settings, prefillChunkTokens: mode === 'worker' ? chunk : 0, logLevel: 'warn' });
}

async function serve(mode: Mode, modelDir: string, threads: number, chunk: PrefillChunking): Promise<void> {
  const engine = await startEngine(mode, modelDir, threads, chunk);
  const registry = new Registry();
  const backend = createInferenceBackend(engine, { servedModelName: SERVED, registry });
  // Access logs stay on (at info, to /dev/null): their cost is part of serving.
  const built = await buildApp({ backend, authenticator: createKeyAuthenticator([]), registry, logger: pino({ level: 'info' }, pino.destination('/dev/null')) });
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  process.on('message', (message: ToServer) => {
    if (message.type === 'reset') {
      delay.reset();
      process.send?.({ type: 'reset' });
    } else if (message.type === 'stats') {
      const stats: ServerStats = { eventLoopDelayMs: { p50: delay.percentile(50) / 1e6, p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 } };
      process.send?.({ type: 'stats', stats });
    } else {
      void built.app
        .close()
        .then(() => backend.close())
        .then(() => process.exit(0));
    }
  });
  process.send?.({ type: 'listening', url });
}

/** The bench's handle on one server process. */
class ServerProcess {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<string, (message: unknown) => void>();
  readonly url: Promise<string>;

  constructor(mode: Mode, modelDir: string, threads: number, chunk: PrefillChunking) {
    this.child = fork(__filename, ['--serve', mode, '--model', modelDir, '--threads', String(threads), '--chunk', String(chunk)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: { type: string }) => {
      const resolveWaiting = this.waiting.get(message.type);
      this.waiting.delete(message.type);
      resolveWaiting?.(message);
    });
    this.url = this.next<{ url: string }>('listening').then((message) => message.url);
  }

  async resetStats(): Promise<void> {
    const reply = this.next('reset');
    this.child.send({ type: 'reset' } satisfies ToServer);
    await reply;
  }

  async stats(): Promise<ServerStats> {
    const reply = this.next<{ stats: ServerStats }>('stats');
    this.child.send({ type: 'stats' } satisfies ToServer);
    return (await reply).stats;
  }

  async close(): Promise<void> {
    const exited = new Promise((resolveExit) => this.child.once('exit', resolveExit));
    this.child.send({ type: 'close' } satisfies ToServer);
    await exited;
  }

  private next<T>(type: string): Promise<T> {
    return new Promise<T>((resolveMessage, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the server process exited (code ${code}) before answering ${type}`));
      this.child.once('exit', onExit);
      this.waiting.set(type, (message) => {
        this.child.off('exit', onExit);
        resolveMessage(message as T);
      });
    });
  }
}

// ---- The clients ---------------------------------------------------------------------------------

/**
 * Sends one streaming completion and calls `onChunk` with the arrival time of each chunk that
 * carries a choice (not the usage chunk); resolves when the stream ends or `signal` aborts it.
 */
async function streamCompletion(pool: Pool, body: Record<string, unknown>, onChunk: (at: number) => void, signal?: AbortSignal): Promise<void> {
  const response = await pool.request({
    path: '/v1/completions',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: SERVED, temperature: 0, ignore_eos: true, stream: true, ...body }),
    ...(signal ? { signal } : {}),
  });
  if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}: ${await response.body.text()}`);
  response.body.setEncoding('utf8');
  let buffered = '';
  try {
    for await (const text of response.body as AsyncIterable<string>) {
      buffered += text;
      for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
        const data = buffered.slice('data: '.length, end);
        buffered = buffered.slice(end + 2);
        if (data === '[DONE]') continue;
        const chunk = JSON.parse(data) as { choices: unknown[]; error?: { message: string } };
        if (chunk.error) throw new Error(`stream error: ${chunk.error.message}`);
        if (chunk.choices.length > 0) onChunk(performance.now());
      }
    }
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
}

/** Polls GET /health every HEALTH_INTERVAL_MS (without waiting for the previous answer) until stopped. */
function pollHealth(url: string): { stop(): Promise<number[]> } {
  const pool = new Pool(url, { connections: 4 });
  const latencies: Promise<number>[] = [];
  const timer = setInterval(() => {
    const begin = performance.now();
    latencies.push(
      pool.request({ path: '/health', method: 'GET' }).then(async (response) => {
        await response.body.text();
        if (response.statusCode !== 200) throw new Error(`/health answered ${response.statusCode}`);
        return performance.now() - begin;
      }),
    );
  }, HEALTH_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      const values = await Promise.all(latencies);
      await pool.close();
      return values;
    },
  };
}

interface LoadResult {
  readonly clients: number;
  readonly healthMs: Spread;
  readonly eventLoopDelayMs: ServerStats['eventLoopDelayMs'];
  readonly tokensPerSec: number;
  readonly wallSeconds: number;
  readonly ttftMs: Spread;
}

async function loadScenario(server: ServerProcess, url: string, clients: number): Promise<LoadResult> {
  const pool = new Pool(url, { connections: clients });
  await server.resetStats();
  const health = pollHealth(url);
  const started = performance.now();
  const ttfts = await Promise.all(
    Array.from({ length: clients }, async (_, row) => {
      const begin = performance.now();
      let first = Number.NaN;
      await streamCompletion(pool, { prompt: promptIds(row, LOAD_PROMPT_TOKENS), max_tokens: LOAD_NEW_TOKENS }, (at) => {
        if (Number.isNaN(first)) first = at - begin;
      });
      return first;
    }),
  );
  const wallSeconds = (performance.now() - started) / 1000;
  const healthMs = await health.stop();
  const { eventLoopDelayMs } = await server.stats();
  await pool.close();
  return { clients, healthMs: spread(healthMs), eventLoopDelayMs, tokensPerSec: (clients * LOAD_NEW_TOKENS) / wallSeconds, wallSeconds, ttftMs: spread(ttfts) };
}

interface InterferenceResult {
  readonly itlBeforeMs: Spread;
  readonly itlDuringMs: Spread;
  /** ITL p99 during the long prefill over the median ITL before it. */
  readonly ratio: number;
  readonly longPromptTtftMs: number;
}

async function interferenceScenario(url: string): Promise<InterferenceResult> {
  const pool = new Pool(url, { connections: INTERFERENCE_STREAMS + 1 });
  const controller = new AbortController();
  const arrivals: number[][] = Array.from({ length: INTERFERENCE_STREAMS }, () => []);
  let wake = (): void => undefined;
  const streams = arrivals.map((times, row) =>
    streamCompletion(
      pool,
      { prompt: promptIds(100 + row, SHORT_PROMPT_TOKENS), max_tokens: 1024 - SHORT_PROMPT_TOKENS },
      (at) => {
        times.push(at);
        wake();
      },
      controller.signal,
    ),
  );
  const everyStreamHas = (chunks: number) =>
    new Promise<void>((resolveWait) => {
      const check = () => {
        if (arrivals.every((times) => times.length >= chunks)) resolveWait();
      };
      wake = check;
      check();
    });
  await everyStreamHas(WARM_CHUNKS);
  const baselineFrom = performance.now();
  await everyStreamHas(WARM_CHUNKS + BASELINE_CHUNKS);
  const sent = performance.now();
  let firstToken = Number.NaN;
  await streamCompletion(pool, { prompt: promptIds(7, LONG_PROMPT_TOKENS), max_tokens: 1 }, (at) => {
    if (Number.isNaN(firstToken)) firstToken = at;
  });
  // One more token for every stream, so that a stall ending after the prefill is seen whole.
  const counts = arrivals.map((times) => times.length);
  await new Promise<void>((resolveWait) => {
    const check = () => {
      if (arrivals.every((times, row) => times.length > counts[row]!)) resolveWait();
    };
    wake = check;
    check();
  });
  controller.abort();
  await Promise.all(streams);
  await pool.close();
  const before: number[] = [];
  const during: number[] = [];
  for (const times of arrivals) {
    for (let i = 1; i < times.length; i++) {
      const [from, to] = [times[i - 1]!, times[i]!];
      if (from >= baselineFrom && to <= sent) before.push(to - from);
      // Every gap that overlaps the prefill counts, including the one a stall ends with.
      else if (to > sent && from < firstToken) during.push(to - from);
    }
  }
  const itlBeforeMs = spread(before);
  const itlDuringMs = spread(during);
  return { itlBeforeMs, itlDuringMs, ratio: itlDuringMs.p99 / itlBeforeMs.p50, longPromptTtftMs: firstToken - sent };
}

/** A few requests of each kind so that no scenario pays for first-run costs. */
async function warmUp(url: string): Promise<void> {
  const pool = new Pool(url, { connections: 2 });
  await streamCompletion(pool, { prompt: promptIds(0, SHORT_PROMPT_TOKENS), max_tokens: 4 }, () => undefined);
  await streamCompletion(pool, { prompt: promptIds(1, LONG_PROMPT_TOKENS), max_tokens: 2 }, () => undefined);
  await pool.close();
}

// ---- The report ----------------------------------------------------------------------------------

interface ModeRun {
  readonly mode: Mode;
  readonly rep: number;
  readonly load: LoadResult;
  readonly interference: InterferenceResult;
  readonly loadAvg1m: number;
}

function median(values: readonly number[]): number {
  return percentile(values, 50);
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' },
      write: { type: 'boolean' },
      model: { type: 'string' },
      threads: { type: 'string' },
      reps: { type: 'string' },
      modes: { type: 'string' },
      chunk: { type: 'string' },
      serve: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const { serve: serveMode, ...flagValues } = values;
  const flags = validateFlags(Flags, flagValues, USAGE);
  if (!flags) return;
  if (serveMode !== undefined) {
    await serve(z.enum(MODES).parse(serveMode), z.string().parse(flags.model), flags.threads, flags.chunk);
    return;
  }
  const modelDir = await benchModelDir(flags.model, flags.quick);
  const clients = flags.quick ? 4 : 16;
  const runs: ModeRun[] = [];
  for (let rep = 0; rep < flags.reps; rep++) {
    // Each repetition starts one mode later, so no mode always runs first (cold) or last.
    const order = flags.modes.map((_, i) => flags.modes[(i + rep) % flags.modes.length]!);
    for (const mode of order) {
      const server = new ServerProcess(mode, modelDir, flags.threads, flags.chunk);
      try {
        const url = await server.url;
        await warmUp(url);
        const load = await loadScenario(server, url, clients);
        const interference = await interferenceScenario(url);
        runs.push({ mode, rep, load, interference, loadAvg1m: loadavg()[0] ?? 0 });
        console.error(
          `rep ${rep + 1}/${flags.reps} ${mode}: (1) /health p99 ${load.healthMs.p99.toFixed(1)} ms, max ${load.healthMs.max.toFixed(1)} ms, ` +
            `${load.tokensPerSec.toFixed(2)} tok/s; (2) ITL before p50 ${interference.itlBeforeMs.p50.toFixed(1)} ms, during p99 ${interference.itlDuringMs.p99.toFixed(1)} ms (x${interference.ratio.toFixed(2)})`,
        );
      } finally {
        await server.close();
      }
    }
  }

  const summarize = (mode: Mode) => {
    const mine = runs.filter((run) => run.mode === mode);
    const of = (pick: (run: ModeRun) => number) => median(mine.map(pick));
    return {
      healthP50Ms: of((r) => r.load.healthMs.p50),
      healthP99Ms: of((r) => r.load.healthMs.p99),
      healthMaxMs: of((r) => r.load.healthMs.max),
      eventLoopDelayP99Ms: of((r) => r.load.eventLoopDelayMs.p99),
      eventLoopDelayMaxMs: of((r) => r.load.eventLoopDelayMs.max),
      tokensPerSec: of((r) => r.load.tokensPerSec),
      ttftP50Ms: of((r) => r.load.ttftMs.p50),
      ttftP99Ms: of((r) => r.load.ttftMs.p99),
      itlBeforeP50Ms: of((r) => r.interference.itlBeforeMs.p50),
      itlBeforeP99Ms: of((r) => r.interference.itlBeforeMs.p99),
      itlDuringP50Ms: of((r) => r.interference.itlDuringMs.p50),
      itlDuringP99Ms: of((r) => r.interference.itlDuringMs.p99),
      itlRatio: of((r) => r.interference.ratio),
      longPromptTtftMs: of((r) => r.interference.longPromptTtftMs),
    };
  };
  const summary = new Map(flags.modes.map((mode) => [mode, summarize(mode)] as const));
  const baseline = summary.get('in-thread')?.tokensPerSec;
  const throughputVsInThread = Object.fromEntries(
    baseline === undefined ? [] : flags.modes.filter((mode) => mode !== 'in-thread').map((mode) => [mode, summary.get(mode)!.tokensPerSec / baseline]),
  );
  const loads = runs.map((run) => run.loadAvg1m);
  const report = {
    date: new Date().toISOString(),
    model: basename(modelDir),
    threads: flags.threads,
    workerPrefillChunkTokens: flags.chunk,
    repetitions: flags.reps,
    load: { clients, promptTokens: LOAD_PROMPT_TOKENS, newTokens: LOAD_NEW_TOKENS, healthIntervalMs: HEALTH_INTERVAL_MS },
    interference: { streams: INTERFERENCE_STREAMS, shortPromptTokens: SHORT_PROMPT_TOKENS, longPromptTokens: LONG_PROMPT_TOKENS, baselineChunks: BASELINE_CHUNKS },
    summary: Object.fromEntries(summary),
    throughputVsInThread,
    loadAvg1m: { min: Math.min(...loads), max: Math.max(...loads) },
    cores: cpus().length,
    runs,
  };

  const f = (value: number | undefined, digits = 1): string => (value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits));
  const loadRows = flags.modes.map((mode) => {
    const s = summary.get(mode)!;
    return `| ${mode} | ${f(s.healthP50Ms)} | ${f(s.healthP99Ms)} | ${f(s.healthMaxMs)} | ${f(s.eventLoopDelayP99Ms)} | ${f(s.eventLoopDelayMaxMs)} | ${f(s.tokensPerSec, 2)} | ${f(s.ttftP50Ms, 0)} / ${f(s.ttftP99Ms, 0)} |`;
  });
  const interferenceRows = flags.modes.map((mode) => {
    const s = summary.get(mode)!;
    return `| ${mode} | ${f(s.itlBeforeP50Ms)} / ${f(s.itlBeforeP99Ms)} | ${f(s.itlDuringP50Ms)} / ${f(s.itlDuringP99Ms)} | ${f(s.itlRatio, 2)} | ${f(s.longPromptTtftMs, 0)} |`;
  });
  const ratioLines = Object.entries(throughputVsInThread).map(([mode, ratio]) => `- ${mode} / in-thread total tokens/s in (1): ${ratio.toFixed(3)} (target >= 0.95)`);
  const markdown =
    `# Load benchmark\n\n${report.date}; model \`${report.model}\`; ${flags.threads} intra-op threads; medians of ${flags.reps} repetition(s), ` +
    `each mode in a fresh server process, the clients in the benchmark's process.\n\n` +
    flags.modes.map((mode) => `- ${MODE_NAMES[mode]}`).join('\n') +
    `\n\n## (1) ${clients} streaming clients, ${LOAD_PROMPT_TOKENS}-token prompts, ${LOAD_NEW_TOKENS} new tokens, GET /health every ${HEALTH_INTERVAL_MS} ms\n\n` +
    `| mode | /health p50 ms | /health p99 ms | /health max ms | event-loop delay p99 ms | event-loop delay max ms | total tok/s | TTFT p50 / p99 ms |\n` +
    `|---|---:|---:|---:|---:|---:|---:|---:|\n${loadRows.join('\n')}\n\n` +
    `Targets for the worker: /health p99 < 50 ms, max < 250 ms; total tokens/s within 5% of in-thread.\n${ratioLines.join('\n')}\n\n` +
    `## (2) ${INTERFERENCE_STREAMS} streams decoding ${SHORT_PROMPT_TOKENS}-token prompts, then one ${LONG_PROMPT_TOKENS}-token prompt\n\n` +
    `| mode | ITL before p50 / p99 ms | ITL during the prefill p50 / p99 ms | during p99 / before p50 | long prompt TTFT ms |\n` +
    `|---|---:|---:|---:|---:|\n${interferenceRows.join('\n')}\n\n` +
    `Target for the worker: during p99 / before p50 <= 2.5. "During" counts every gap of the running streams that overlaps the ` +
    `long prompt's prefill (from its request to its first token), so a stall for the whole prefill shows as one long gap.\n\n` +
    `Load average (1 min) during the runs: min ${f(report.loadAvg1m.min, 2)}, max ${f(report.loadAvg1m.max, 2)} on a machine with ${report.cores} cores.\n`;
  console.log(markdown);
  if (!flags.quick || flags.write) {
    await writeBenchResults('load', report, markdown);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
