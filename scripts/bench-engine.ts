// Benchmark: our engine against a minimal raw onnxruntime-node greedy loop and transformers.js on
// the same model folder, each measurement in its own child process (own peak RSS), interleaved.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { createEngine } from '../service/engine/engine';
import type { Engine } from '../service/engine/types';
import { createWorkerEngine } from '../service/engine/worker/client';
import { createSamplingParams } from '../service/engine/params';
import { benchModelDir, benchPreallocatedModelDir } from './gpt2-onnx/write-model-dir';
import { progressBar } from './progress';

const USAGE = `Usage: npm run bench:engine [-- --quick] [--model DIR] [--preallocated-model DIR] [--modes LIST] [--reps N] [--threads N]

Measures, side by side and interleaved (a b c d e, b c d e a, ...), each run in a fresh child process:
  (a) a minimal raw onnxruntime-node greedy loop
  (b) our engine, one request
  (c) transformers.js text-generation (greedy) on the same folder
  (d) our engine, 8 concurrent requests
  (e) the raw loop of (a) over a batch of 8 prompts: what batching can give on this machine
  (f) our engine in its worker process (as the service runs it), 8 concurrent requests
  (i) our engine, one request with a 900-token prompt (the Concat KV cache at long context)
  (j) our engine on the preallocated-kv graph of the same weights, one 900-token prompt
  (j32) the same graph with a 32-token prompt: j/j32 is its long-context slowdown, i/b the Concat one's
32-token prompts (but i, j), 64 new tokens (EOS ignored), 2 intra-op threads by default.
  --quick      the tiny model (models/bench-tiny), 2 repetitions: for development
  --model DIR  model folder (default: models/bench-gpt2, generated with the gpt2 preset if missing)
  --preallocated-model DIR  the same weights with model:make --export preallocated-kv (default:
               models/bench-gpt2-preallocated-kv, generated when missing; with --model but without it,
               j and j32 are skipped, since other weights would not compare)
  --modes LIST which runs, comma-separated (default all), e.g. --modes b,i,j,j32 for the KV cache
  --reps N     repetitions of each measurement (default one per run, so each runs once per position; --quick: 2)
Writes bench/results/engine.json and bench/results/engine.md (not with --quick unless --write).`;

const REPO_ROOT = resolve(__dirname, '..');
const PROMPT_TOKENS = 32;
/** The long-context runs' prompt: decode then runs at 900-964 tokens of context. */
const LONG_PROMPT_TOKENS = 900;
const NEW_TOKENS = 64;
const CONCURRENT = 8;
const MODES = ['a', 'b', 'c', 'd', 'e', 'f', 'i', 'j', 'j32'] as const;
type Mode = (typeof MODES)[number];
/** Runs on the preallocated-kv graph. */
const PREALLOCATED_MODES: readonly Mode[] = ['j', 'j32'];
const MODE_NAMES: Record<Mode, string> = {
  a: '(a) raw onnxruntime greedy loop',
  b: '(b) engine, 1 request',
  c: '(c) transformers.js pipeline',
  d: `(d) engine, ${CONCURRENT} concurrent`,
  e: `(e) raw onnxruntime greedy loop, batch of ${CONCURRENT}`,
  f: `(f) engine in its worker process, ${CONCURRENT} concurrent`,
  i: `(i) engine, 1 request, ${LONG_PROMPT_TOKENS}-token context (Concat KV cache)`,
  j: `(j) engine, 1 request, ${LONG_PROMPT_TOKENS}-token context (preallocated KV cache)`,
  j32: `(j32) engine, 1 request, ${PROMPT_TOKENS}-token context (preallocated KV cache)`,
};

/** What one child measures. Token rates count generated tokens of all requests. */
const Measurement = z.object({
  mode: z.enum(MODES),
  /** Generated tokens after the first, over the time after the first token. */
  decodeTokPerSec: z.number(),
  /** All generated tokens over the whole request (prefill included). */
  e2eTokPerSec: z.number(),
  timeToFirstTokenMs: z.number(),
  peakRssMb: z.number(),
  loadAvg1m: z.number(),
});
type Measurement = z.infer<typeof Measurement>;

/** Deterministic prompt ids; row `r` differs from the others so the batch is not one prompt repeated. */
function promptIds(row: number, length = PROMPT_TOKENS): number[] {
  return Array.from({ length }, (_, i) => (1000 + 7919 * (i + 1) * (row + 1)) % 50000);
}

interface Timing {
  readonly tokens: number;
  readonly started: number;
  readonly firstToken: number;
  readonly ended: number;
}

function measurement(mode: Mode, timings: readonly Timing[]): Measurement {
  const started = Math.min(...timings.map((t) => t.started));
  const ended = Math.max(...timings.map((t) => t.ended));
  const tokens = timings.reduce((sum, t) => sum + t.tokens, 0);
  // The decode phase starts when every request has its first token (prefills are behind us).
  const decodeStart = Math.max(...timings.map((t) => t.firstToken));
  const decodeTokens = timings.reduce((sum, t) => sum + t.tokens, 0) - timings.length;
  const ttft = timings.reduce((sum, t) => sum + (t.firstToken - t.started), 0) / timings.length;
  return {
    mode,
    decodeTokPerSec: decodeTokens / ((ended - decodeStart) / 1000),
    e2eTokPerSec: tokens / ((ended - started) / 1000),
    timeToFirstTokenMs: ttft,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    loadAvg1m: loadavg()[0] ?? 0,
  };
}

/**
 * The minimal greedy loop over the session: `rows` prompts of equal length in one batch, no
 * padding, no sampling beyond an argmax. At one row it is what the engine's overhead is measured
 * against; at CONCURRENT rows it is the most batching can give on this machine and model.
 */
async function rawLoop(modelDir: string, threads: number, rows: number): Promise<Timing[]> {
  const session = await ort.InferenceSession.create(join(modelDir, 'onnx', 'model.onnx'), { intraOpNumThreads: threads });
  const config = z
    .object({ n_layer: z.number(), n_head: z.number(), n_embd: z.number(), vocab_size: z.number() })
    .parse(JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')));
  const heads = config.n_head;
  const headDim = config.n_embd / heads;
  const run = async (prompts: number[][], maxTokens: number): Promise<Timing[]> => {
    const batch = prompts.length;
    const feeds: Record<string, ort.Tensor> = {};
    for (let layer = 0; layer < config.n_layer; layer++) {
      for (const kind of ['key', 'value']) {
        feeds[`past_key_values.${layer}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [batch, heads, 0, headDim]);
      }
    }
    let ids = prompts.flat();
    let seq = prompts[0]!.length;
    let past = 0;
    let firstToken = 0;
    const started = performance.now();
    for (let step = 0; step < maxTokens; step++) {
      feeds.input_ids = new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [batch, seq]);
      feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(batch * (past + seq)).fill(1n), [batch, past + seq]);
      feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(past + (i % seq))), [batch, seq]);
      const outputs = await session.run(feeds);
      const logits = outputs.logits!.data as Float32Array;
      const next: number[] = [];
      for (let row = 0; row < batch; row++) {
        const offset = (row * seq + seq - 1) * config.vocab_size;
        let best = 0;
        for (let v = 1; v < config.vocab_size; v++) if (logits[offset + v]! > logits[offset + best]!) best = v;
        next.push(best);
      }
      for (let layer = 0; layer < config.n_layer; layer++) {
        feeds[`past_key_values.${layer}.key`] = outputs[`present.${layer}.key`]!;
        feeds[`past_key_values.${layer}.value`] = outputs[`present.${layer}.value`]!;
      }
      past += seq;
      seq = 1;
      ids = next;
      if (step === 0) firstToken = performance.now();
    }
    const ended = performance.now();
    return prompts.map(() => ({ tokens: maxTokens, started, firstToken, ended }));
  };
  const prompts = Array.from({ length: rows }, (_, row) => promptIds(row));
  await run(prompts.map((prompt) => prompt.slice(0, 4)), 2);
  return run(prompts, NEW_TOKENS);
}

/** `worker`: the engine in its worker process, driven from this one as the service drives it. */
async function engineRun(modelDir: string, threads: number, requests: number, worker = false, promptTokens = PROMPT_TOKENS): Promise<Timing[]> {
  const settings = { modelDir, intraOpThreads: threads, maxBatchSize: CONCURRENT, maxQueue: CONCURRENT };
  const engine: Engine = worker ? await createWorkerEngine({ ...settings, logLevel: 'warn' }) : await createEngine(settings);
  const params = createSamplingParams(
    { maxTokens: NEW_TOKENS, temperature: 0, stopOnEos: false },
    { vocabSize: engine.tokenizer.vocabSize },
  );
  try {
    return await Promise.all(
      Array.from({ length: requests }, async (_, row) => {
        const started = performance.now();
        let firstToken = 0;
        let tokens = 0;
        for await (const event of engine.generate({ promptIds: promptIds(row, promptTokens), params })) {
          if (event.type === 'delta' && firstToken === 0) firstToken = performance.now();
          if (event.type === 'finish') tokens = event.completionTokens;
        }
        return { tokens, started, firstToken, ended: performance.now() };
      }),
    );
  } finally {
    await engine.close();
  }
}

async function transformersRun(modelDir: string, threads: number): Promise<Timing> {
  const { env, pipeline, Tensor, BaseStreamer } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = dirname(modelDir);
  const pipe = await pipeline('text-generation', basename(modelDir), { dtype: 'fp32', session_options: { intraOpNumThreads: threads } });
  const run = async (prompt: number[], maxTokens: number): Promise<Timing> => {
    let firstToken = 0;
    let calls = 0;
    // put() is called with the prompt first, then once per generated token.
    class FirstTokenStreamer extends BaseStreamer {
      override put(): void {
        calls++;
        if (calls === 2) firstToken = performance.now();
      }
      override end(): void {}
    }
    const inputIds = new Tensor('int64', BigInt64Array.from(prompt, BigInt), [1, prompt.length]);
    const attentionMask = new Tensor('int64', new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
    const started = performance.now();
    await pipe.model.generate({
      input_ids: inputIds,
      attention_mask: attentionMask,
      max_new_tokens: maxTokens,
      min_new_tokens: maxTokens,
      do_sample: false,
      streamer: new FirstTokenStreamer(),
    } as never);
    return { tokens: maxTokens, started, firstToken, ended: performance.now() };
  };
  await run(promptIds(0).slice(0, 4), 2);
  return run(promptIds(0), NEW_TOKENS);
}

async function child(mode: Mode, modelDir: string, threads: number): Promise<void> {
  const timings =
    mode === 'i' || mode === 'j'
      ? await engineRun(modelDir, threads, 1, false, LONG_PROMPT_TOKENS)
      : mode === 'j32'
        ? await engineRun(modelDir, threads, 1)
        : mode === 'a'
      ? await rawLoop(modelDir, threads, 1)
      : mode === 'b'
        ? await engineRun(modelDir, threads, 1)
        : mode === 'c'
          ? [await transformersRun(modelDir, threads)]
          : mode === 'd'
            ? await engineRun(modelDir, threads, CONCURRENT)
            : mode === 'e'
              ? await rawLoop(modelDir, threads, CONCURRENT)
              : await engineRun(modelDir, threads, CONCURRENT, true);
  process.stdout.write(`RESULT ${JSON.stringify(measurement(mode, timings))}\n`);
}

function runChild(mode: Mode, modelDir: string, threads: number): Measurement {
  const result = spawnSync(process.execPath, [...process.execArgv, __filename, '--child', mode, '--model', modelDir, '--threads', String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'warn' },
    maxBuffer: 16 * 1024 * 1024,
  });
  const line = result.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (result.status !== 0 || !line) throw new Error(`benchmark child ${mode} failed (exit ${result.status}):\n${result.stderr}`);
  return Measurement.parse(JSON.parse(line.slice('RESULT '.length)));
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' },
      write: { type: 'boolean' },
      model: { type: 'string' },
      'preallocated-model': { type: 'string' },
      modes: { type: 'string' },
      reps: { type: 'string' },
      threads: { type: 'string' },
      child: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const threads = z.coerce.number().int().positive().parse(values.threads ?? '2');
  if (values.child) {
    await child(z.enum(MODES).parse(values.child), z.string().parse(values.model), threads);
    return;
  }
  const quick = values.quick === true;
  const modelDir = await benchModelDir(values.model, quick);
  const preallocatedDir = await benchPreallocatedModelDir(values['preallocated-model'], values.model, quick);
  const chosen = values.modes === undefined ? MODES : z.array(z.enum(MODES)).parse(values.modes.split(','));
  if (!preallocatedDir) console.error('--model without --preallocated-model: skipping j and j32 (they need the same weights as a preallocated-kv graph)');
  const modes = chosen.filter((mode) => preallocatedDir !== undefined || !PREALLOCATED_MODES.includes(mode));
  const dirFor = (mode: Mode): string => (PREALLOCATED_MODES.includes(mode) ? (preallocatedDir as string) : modelDir);
  const reps = z.coerce.number().int().positive().parse(values.reps ?? (quick ? '2' : String(modes.length)));

  const runs: Measurement[] = [];
  const progress = progressBar(process.stderr, { label: 'runs', total: reps * modes.length });
  progress.update(0);
  for (let rep = 0; rep < reps; rep++) {
    // Each repetition starts one mode later (a b c d e, b c d e a, ...): over len(MODES) repetitions
    // every mode runs once in every position, so whatever the previous run leaves behind (a hot or
    // throttled CPU, a page cache just filled or evicted) does not always favour the same mode.
    const order = modes.map((_, i) => modes[(i + rep) % modes.length]!);
    for (const mode of order) {
      const m = runChild(mode, dirFor(mode), threads);
      runs.push(m);
      progress.log(
        `rep ${rep + 1}/${reps} ${MODE_NAMES[mode]}: decode ${m.decodeTokPerSec.toFixed(1)} tok/s, e2e ${m.e2eTokPerSec.toFixed(1)} tok/s, ` +
          `TTFT ${m.timeToFirstTokenMs.toFixed(0)} ms, peak RSS ${m.peakRssMb.toFixed(0)} MB, load ${m.loadAvg1m.toFixed(2)}`,
      );
      progress.update(runs.length);
    }
  }
  progress.finish();
  const summary = Object.fromEntries(
    modes.map((mode) => {
      const mine = runs.filter((r) => r.mode === mode);
      return [
        mode,
        {
          name: MODE_NAMES[mode],
          decodeTokPerSec: median(mine.map((r) => r.decodeTokPerSec)),
          e2eTokPerSec: median(mine.map((r) => r.e2eTokPerSec)),
          timeToFirstTokenMs: median(mine.map((r) => r.timeToFirstTokenMs)),
          peakRssMb: Math.max(...mine.map((r) => r.peakRssMb)),
        },
      ];
    }),
  ) as Partial<Record<Mode, { name: string; decodeTokPerSec: number; e2eTokPerSec: number; timeToFirstTokenMs: number; peakRssMb: number }>>;
  const ratio = (x: Mode, y: Mode, key: 'decodeTokPerSec' | 'e2eTokPerSec'): number => (summary[x]?.[key] ?? NaN) / (summary[y]?.[key] ?? NaN);
  const allRatios = {
    'b/a': { decode: ratio('b', 'a', 'decodeTokPerSec'), e2e: ratio('b', 'a', 'e2eTokPerSec') },
    'b/c': { decode: ratio('b', 'c', 'decodeTokPerSec'), e2e: ratio('b', 'c', 'e2eTokPerSec') },
    'd/b': { decode: ratio('d', 'b', 'decodeTokPerSec'), e2e: ratio('d', 'b', 'e2eTokPerSec') },
    // What batching can give at all here (no engine involved), and how much of it the engine keeps.
    'e/a': { decode: ratio('e', 'a', 'decodeTokPerSec'), e2e: ratio('e', 'a', 'e2eTokPerSec') },
    'd/e': { decode: ratio('d', 'e', 'decodeTokPerSec'), e2e: ratio('d', 'e', 'e2eTokPerSec') },
    // What running the engine in its worker process costs.
    'f/d': { decode: ratio('f', 'd', 'decodeTokPerSec'), e2e: ratio('f', 'd', 'e2eTokPerSec') },
    // Long context against short, per KV cache strategy (target for the preallocated one: j/j32 >= 0.75).
    'i/b': { decode: ratio('i', 'b', 'decodeTokPerSec'), e2e: ratio('i', 'b', 'e2eTokPerSec') },
    'j/j32': { decode: ratio('j', 'j32', 'decodeTokPerSec'), e2e: ratio('j', 'j32', 'e2eTokPerSec') },
    'j/i': { decode: ratio('j', 'i', 'decodeTokPerSec'), e2e: ratio('j', 'i', 'e2eTokPerSec') },
    'j32/b': { decode: ratio('j32', 'b', 'decodeTokPerSec'), e2e: ratio('j32', 'b', 'e2eTokPerSec') },
  };
  // Ratios of runs that were not chosen are left out.
  const ratios = Object.fromEntries(Object.entries(allRatios).filter(([, r]) => Number.isFinite(r.decode)));
  const loads = runs.map((r) => r.loadAvg1m);
  const report = {
    date: new Date().toISOString(),
    model: modelDir,
    preallocatedModel: preallocatedDir ?? null,
    promptTokens: PROMPT_TOKENS,
    longPromptTokens: LONG_PROMPT_TOKENS,
    newTokens: NEW_TOKENS,
    intraOpThreads: threads,
    repetitions: reps,
    loadAvg1m: { min: Math.min(...loads), max: Math.max(...loads), mean: loads.reduce((a, b) => a + b, 0) / loads.length },
    summary,
    ratios,
    runs,
  };
  const table = [
    `| run | decode tok/s | end-to-end tok/s | time to first token (ms) | peak RSS (MB) |`,
    `|---|---:|---:|---:|---:|`,
    ...modes.map((mode) => {
      const s = summary[mode]!;
      return `| ${s.name} | ${s.decodeTokPerSec.toFixed(1)} | ${s.e2eTokPerSec.toFixed(1)} | ${s.timeToFirstTokenMs.toFixed(0)} | ${s.peakRssMb.toFixed(0)} |`;
    }),
  ].join('\n');
  const ratioLines = Object.entries(ratios)
    .map(([name, r]) => `- ${name}: decode ${r.decode.toFixed(2)}, end-to-end ${r.e2e.toFixed(2)}`)
    .join('\n');
  const markdown =
    `# Engine benchmark\n\n${report.date}; model \`${basename(modelDir)}\`; ${PROMPT_TOKENS}-token prompts, ${NEW_TOKENS} new tokens ` +
    `(EOS ignored), ${threads} intra-op threads; medians of ${reps} interleaved repetitions (the order rotated each time), each run in a fresh process.\n\n` +
    `${table}\n\nRatios (targets: b/a >= 0.95, b/c >= 1.1, d/b >= 3.5, f/d >= 0.95 in total tokens/s, j/j32 >= 0.75 in decode; e/a is the batching ceiling of this machine and model, d/e the share of it the engine keeps; (f)'s peak RSS is the client process's, the worker's is not in it):\n${ratioLines}\n\n` +
    `Load average (1 min) during the runs: min ${report.loadAvg1m.min.toFixed(2)}, mean ${report.loadAvg1m.mean.toFixed(2)}, ` +
    `max ${report.loadAvg1m.max.toFixed(2)} on a shared machine with ${cpus().length} cores.` +
    (report.loadAvg1m.mean > cpus().length
      ? ' The machine was oversubscribed: absolute rates are far below a quiet machine\'s; compare the ratios (interleaving spreads the noise over all runs).\n'
      : '\n');
  console.log(markdown);
  if (!quick || values.write) {
    const out = join(REPO_ROOT, 'bench', 'results');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'engine.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(join(out, 'engine.md'), markdown);
    console.error(`wrote ${join(out, 'engine.json')} and engine.md`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
