// Benchmark: our engine against a minimal raw onnxruntime-node greedy loop and transformers.js on
// the same model folder and on quantized graphs of its weights, each measurement in its own child
// process (own peak RSS), interleaved; then the quantized graphs' next-token quality against fp32.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { createEngine, type EngineSettings } from '../service/engine/engine';
import type { Engine } from '../service/engine/types';
import { createWorkerEngine } from '../service/engine/worker/client';
import { createSamplingParams } from '../service/engine/params';
import { nextTokenQuality, type GraphQuality, type QualityReport } from './bench/next-token-quality';
import { promptIds } from './bench/prompts';
import { writeBenchResults } from './bench/results';
import { median } from './bench/stats';
import { benchModelDir, benchPreallocatedModelDir } from './gpt2-onnx/write-model-dir';
import { progressBar } from './progress';
import { OPTIMIZER_VERSION, quantizedGraphName, quantizeModelDir, RECORD_FILE, serveChoice, WEIGHT_SCHEMES, type WeightScheme } from './onnx-quantize/quantize-model-dir';

const REPO_ROOT = resolve(__dirname, '..');
const PROMPT_TOKENS = 32;
/** The long-context run (i): close to GPT-2's 1024 with room for the new tokens. */
const LONG_PROMPT_TOKENS = 900;
const NEW_TOKENS = 64;
const CONCURRENT = 8;
const MODES = ['a', 'b', 'c', 'd', 'e', 'w', 'f', 'g', 'h', 'i', 'j', 'j32', 'k'] as const;

const USAGE = `Usage: npm run bench:engine [-- --quick] [--model DIR] [--preallocated-model DIR] [--modes LIST] [--reps N] [--threads N]

Measures, side by side and interleaved (a b c ... k, b c ... k a, ...), each run in a fresh child process:
  (a) a minimal raw onnxruntime-node greedy loop
  (b) our engine, one request
  (c) transformers.js text-generation (greedy) on the same folder
  (d) our engine, ${CONCURRENT} concurrent requests
  (e) the raw loop of (a) over a batch of ${CONCURRENT} prompts: what batching can give on this machine
  (w) our engine in its worker process (as the service runs it), ${CONCURRENT} concurrent requests
  (f) the engine on the int8 MatMulNBits graph (model:optimize --weights int8), one request
  (g) the engine on the int4 MatMulNBits graph (model:optimize --weights int4), one request
  (h) transformers.js with dtype 'q8' on the dynamic int8 export of the same weights (model_quantized.onnx)
  (i) the engine on the fp32 graph with a ${LONG_PROMPT_TOKENS}-token prompt (the Concat KV cache at long context)
  (j) the engine on the preallocated-kv graph of the same weights, a ${LONG_PROMPT_TOKENS}-token prompt
  (j32) the same graph with a ${PROMPT_TOKENS}-token prompt: j/j32 is its long-context slowdown, i/b the Concat one's
  (k) the engine on the int8 graph, ${CONCURRENT} concurrent requests
then, for each quantized graph, the mean KL divergence of its next-token distributions from fp32's
and its greedy-token agreement with fp32, teacher-forced over the ${CONCURRENT} prompts' fp32 greedy tokens:
on the same weights, and (without --model) on the preset drawn with model:make --init fan-in, whose
layers do not amplify an early error as the default random weights do.
The quantized folders are made from the model folder on first use (models/NAME-int8, -int4, -q8).
${PROMPT_TOKENS}-token prompts, ${NEW_TOKENS} new tokens (EOS ignored), 2 intra-op threads by default.
  --quick      the tiny model (models/bench-tiny), 2 repetitions: for development
  --model DIR  model folder (default: models/bench-gpt2, generated with the gpt2 preset if missing)
  --preallocated-model DIR  the same weights with model:make --export preallocated-kv (default:
               models/bench-gpt2-preallocated-kv, generated when missing; with --model but without it,
               j and j32 are skipped, since other weights would not compare)
  --modes LIST which runs, comma-separated (default all), e.g. --modes b,i,j,j32 for the KV cache; the
               quality section runs when a quantized run (f, g, h, k) is chosen
  --reps N     repetitions of each measurement (default one per chosen run, so each runs once per position; --quick: 2)
Writes bench/results/engine.json and bench/results/engine.md (not with --quick unless --write).`;

type Mode = (typeof MODES)[number];
/** The graphs measured: the model folder's fp32 one, and what model:optimize makes of it. */
type Graph = 'fp32' | WeightScheme;

interface ModeSpec {
  readonly name: string;
  readonly runner: 'raw' | 'engine' | 'worker' | 'transformers';
  readonly graph: Graph;
  readonly requests: number;
  readonly promptTokens: number;
  /** Runs on the preallocated-kv graph of the same weights (--preallocated-model). */
  readonly preallocated?: true;
}

const MODE_SPECS: Record<Mode, ModeSpec> = {
  a: { name: '(a) raw onnxruntime greedy loop', runner: 'raw', graph: 'fp32', requests: 1, promptTokens: PROMPT_TOKENS },
  b: { name: '(b) engine, 1 request', runner: 'engine', graph: 'fp32', requests: 1, promptTokens: PROMPT_TOKENS },
  c: { name: '(c) transformers.js pipeline', runner: 'transformers', graph: 'fp32', requests: 1, promptTokens: PROMPT_TOKENS },
  d: { name: `(d) engine, ${CONCURRENT} concurrent`, runner: 'engine', graph: 'fp32', requests: CONCURRENT, promptTokens: PROMPT_TOKENS },
  e: { name: `(e) raw onnxruntime greedy loop, batch of ${CONCURRENT}`, runner: 'raw', graph: 'fp32', requests: CONCURRENT, promptTokens: PROMPT_TOKENS },
  w: { name: `(w) engine in its worker process, ${CONCURRENT} concurrent`, runner: 'worker', graph: 'fp32', requests: CONCURRENT, promptTokens: PROMPT_TOKENS },
  f: { name: '(f) engine, int8 graph, 1 request', runner: 'engine', graph: 'int8', requests: 1, promptTokens: PROMPT_TOKENS },
  g: { name: '(g) engine, int4 graph, 1 request', runner: 'engine', graph: 'int4', requests: 1, promptTokens: PROMPT_TOKENS },
  h: { name: "(h) transformers.js, dtype 'q8'", runner: 'transformers', graph: 'q8', requests: 1, promptTokens: PROMPT_TOKENS },
  i: { name: `(i) engine, fp32, ${LONG_PROMPT_TOKENS}-token prompt`, runner: 'engine', graph: 'fp32', requests: 1, promptTokens: LONG_PROMPT_TOKENS },
  j: { name: `(j) engine, preallocated KV cache, ${LONG_PROMPT_TOKENS}-token prompt`, runner: 'engine', graph: 'fp32', requests: 1, promptTokens: LONG_PROMPT_TOKENS, preallocated: true },
  j32: { name: `(j32) engine, preallocated KV cache, ${PROMPT_TOKENS}-token prompt`, runner: 'engine', graph: 'fp32', requests: 1, promptTokens: PROMPT_TOKENS, preallocated: true },
  k: { name: `(k) engine, int8 graph, ${CONCURRENT} concurrent`, runner: 'engine', graph: 'int8', requests: CONCURRENT, promptTokens: PROMPT_TOKENS },
};

/** The bench model's fp32 graph, inside its folder. */
const FP32_GRAPH = 'onnx/model.onnx';

/** The folder holding `graph` for the model folder `modelDir` (quantized ones beside it under models/). */
function graphDir(modelDir: string, graph: Graph): string {
  return graph === 'fp32' ? modelDir : join(REPO_ROOT, 'models', `${basename(modelDir)}-${graph}`);
}

/** `graph`'s file inside its folder, and the MODEL_DTYPE / MODEL_FILE the service would be given for it. */
function graphFile(graph: Graph): { readonly path: string; readonly choice: Pick<EngineSettings, 'dtype' | 'file'> } {
  if (graph === 'fp32') return { path: FP32_GRAPH, choice: {} };
  const path = quantizedGraphName(FP32_GRAPH, graph);
  const serve = serveChoice(graph, path);
  return { path, choice: 'MODEL_DTYPE' in serve ? { dtype: serve.MODEL_DTYPE } : { file: serve.MODEL_FILE } };
}

/** Makes (or remakes, when the source or the optimizer changed) each quantized folder of `modelDir`. */
async function ensureQuantizedDirs(modelDir: string): Promise<void> {
  const sha256 = createHash('sha256').update(await readFile(join(modelDir, FP32_GRAPH))).digest('hex');
  for (const scheme of WEIGHT_SCHEMES) {
    const dir = graphDir(modelDir, scheme);
    const record = await readFile(join(dir, RECORD_FILE), 'utf8').then((text) => JSON.parse(text) as { version?: number; source?: { sha256?: string } }, () => undefined);
    if (record?.version === OPTIMIZER_VERSION && record.source?.sha256 === sha256) continue;
    console.error(`making ${dir} (model:optimize --weights ${scheme})...`);
    await quantizeModelDir(modelDir, dir, { scheme });
  }
}

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

/**
 * This process's peak resident set. Linux's VmHWM belongs to the process image, while getrusage's
 * maxRSS survives exec: a child spawned by a parent holding 1.3 GB (the quantization step) would
 * report the parent's peak as its own.
 */
function peakRssMb(): number {
  const status = readFileSyncOrUndefined('/proc/self/status');
  const kilobytes = status && /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  return (kilobytes ? Number(kilobytes) : process.resourceUsage().maxRSS) / 1024;
}

function readFileSyncOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
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
    peakRssMb: peakRssMb(),
    loadAvg1m: loadavg()[0] ?? 0,
  };
}

/**
 * The minimal greedy loop over the session: `rows` prompts of equal length in one batch, no
 * padding, no sampling beyond an argmax. At one row it is what the engine's overhead is measured
 * against; at CONCURRENT rows it is the most batching can give on this machine and model.
 */
async function rawLoop(modelDir: string, threads: number, rows: number): Promise<Timing[]> {
  const session = await ort.InferenceSession.create(join(modelDir, FP32_GRAPH), { intraOpNumThreads: threads });
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
  const prompts = Array.from({ length: rows }, (_, row) => promptIds(row, PROMPT_TOKENS));
  await run(prompts.map((prompt) => prompt.slice(0, 4)), 2);
  return run(prompts, NEW_TOKENS);
}

/** `worker`: the engine in its worker process, driven from this one as the service drives it. */
async function engineRun(modelDir: string, graph: Graph, threads: number, requests: number, promptTokens: number, worker = false): Promise<Timing[]> {
  const settings = { modelDir, ...graphFile(graph).choice, intraOpThreads: threads, maxBatchSize: CONCURRENT, maxQueue: CONCURRENT };
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

/** `dtype` picks the file as transformers.js does: fp32 onnx/model.onnx, q8 onnx/model_quantized.onnx. */
async function transformersRun(modelDir: string, threads: number, dtype: 'fp32' | 'q8'): Promise<Timing> {
  const { env, pipeline, Tensor, BaseStreamer } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = dirname(modelDir);
  const pipe = await pipeline('text-generation', basename(modelDir), { dtype, session_options: { intraOpNumThreads: threads } });
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
  await run(promptIds(0, PROMPT_TOKENS).slice(0, 4), 2);
  return run(promptIds(0, PROMPT_TOKENS), NEW_TOKENS);
}

async function child(mode: Mode, modelDir: string, threads: number): Promise<void> {
  const spec = MODE_SPECS[mode];
  const dir = graphDir(modelDir, spec.graph);
  const timings =
    spec.runner === 'raw'
      ? await rawLoop(dir, threads, spec.requests)
      : spec.runner === 'engine' || spec.runner === 'worker'
        ? await engineRun(dir, spec.graph, threads, spec.requests, spec.promptTokens, spec.runner === 'worker')
        : [await transformersRun(dir, threads, spec.graph === 'q8' ? 'q8' : 'fp32')];
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

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' },
      write: { type: 'boolean' },
      model: { type: 'string' },
      reps: { type: 'string' },
      'preallocated-model': { type: 'string' },
      modes: { type: 'string' },
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
  const modes = chosen.filter((mode) => preallocatedDir !== undefined || MODE_SPECS[mode].preallocated !== true);
  const dirFor = (mode: Mode): string => (MODE_SPECS[mode].preallocated ? (preallocatedDir as string) : modelDir);
  const quantized = modes.some((mode) => MODE_SPECS[mode].graph !== 'fp32');
  const reps = z.coerce.number().int().positive().parse(values.reps ?? (quick ? '2' : String(modes.length)));
  if (quantized) await ensureQuantizedDirs(modelDir);

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
        `rep ${rep + 1}/${reps} ${MODE_SPECS[mode].name}: decode ${m.decodeTokPerSec.toFixed(1)} tok/s, e2e ${m.e2eTokPerSec.toFixed(1)} tok/s, ` +
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
          name: MODE_SPECS[mode].name,
          decodeTokPerSec: median(mine.map((r) => r.decodeTokPerSec)),
          e2eTokPerSec: median(mine.map((r) => r.e2eTokPerSec)),
          timeToFirstTokenMs: median(mine.map((r) => r.timeToFirstTokenMs)),
          peakRssMb: Math.max(...mine.map((r) => r.peakRssMb)),
        },
      ];
    }),
  ) as Summary;
  const ratio = (x: Mode, y: Mode, key: 'decodeTokPerSec' | 'e2eTokPerSec'): number => (summary[x]?.[key] ?? NaN) / (summary[y]?.[key] ?? NaN);
  const allRatios = {
    'b/a': { decode: ratio('b', 'a', 'decodeTokPerSec'), e2e: ratio('b', 'a', 'e2eTokPerSec') },
    'b/c': { decode: ratio('b', 'c', 'decodeTokPerSec'), e2e: ratio('b', 'c', 'e2eTokPerSec') },
    'd/b': { decode: ratio('d', 'b', 'decodeTokPerSec'), e2e: ratio('d', 'b', 'e2eTokPerSec') },
    // What batching can give at all here (no engine involved), and how much of it the engine keeps.
    'e/a': { decode: ratio('e', 'a', 'decodeTokPerSec'), e2e: ratio('e', 'a', 'e2eTokPerSec') },
    'd/e': { decode: ratio('d', 'e', 'decodeTokPerSec'), e2e: ratio('d', 'e', 'e2eTokPerSec') },
    // What running the engine in its worker process costs.
    'w/d': { decode: ratio('w', 'd', 'decodeTokPerSec'), e2e: ratio('w', 'd', 'e2eTokPerSec') },
    'f/b': { decode: ratio('f', 'b', 'decodeTokPerSec'), e2e: ratio('f', 'b', 'e2eTokPerSec') },
    'g/b': { decode: ratio('g', 'b', 'decodeTokPerSec'), e2e: ratio('g', 'b', 'e2eTokPerSec') },
    'f/h': { decode: ratio('f', 'h', 'decodeTokPerSec'), e2e: ratio('f', 'h', 'e2eTokPerSec') },
    'g/h': { decode: ratio('g', 'h', 'decodeTokPerSec'), e2e: ratio('g', 'h', 'e2eTokPerSec') },
    'k/f': { decode: ratio('k', 'f', 'decodeTokPerSec'), e2e: ratio('k', 'f', 'e2eTokPerSec') },
    // Decode at long context against the same graph at 32 tokens: what copying the past costs.
    'i/b': { decode: ratio('i', 'b', 'decodeTokPerSec'), e2e: ratio('i', 'b', 'e2eTokPerSec') },
    // The same for the preallocated cache (target j/j32 >= 0.75), and the two caches against each other.
    'j/j32': { decode: ratio('j', 'j32', 'decodeTokPerSec'), e2e: ratio('j', 'j32', 'e2eTokPerSec') },
    'j/i': { decode: ratio('j', 'i', 'decodeTokPerSec'), e2e: ratio('j', 'i', 'e2eTokPerSec') },
    'j32/b': { decode: ratio('j32', 'b', 'decodeTokPerSec'), e2e: ratio('j32', 'b', 'e2eTokPerSec') },
  };
  // Ratios of runs that were not chosen are left out.
  const ratios = Object.fromEntries(Object.entries(allRatios).filter(([, r]) => Number.isFinite(r.decode)));
  const qualityDirs = quantized ? [modelDir, ...(values.model === undefined ? [await benchModelDir(undefined, quick, 'fan-in')] : [])] : [];
  const quality: QualityOf[] = [];
  for (const dir of qualityDirs) {
    // The timed runs already made modelDir's quantized graphs.
    if (dir !== modelDir) await ensureQuantizedDirs(dir);
    console.error(`measuring next-token quality against fp32 on ${basename(dir)}...`);
    const report = await nextTokenQuality(
      join(dir, FP32_GRAPH),
      Object.fromEntries(WEIGHT_SCHEMES.map((scheme) => [scheme, join(graphDir(dir, scheme), graphFile(scheme).path)])),
      Array.from({ length: CONCURRENT }, (_, row) => promptIds(row, PROMPT_TOKENS)),
      NEW_TOKENS,
      threads,
    );
    quality.push({ model: basename(dir), ...report });
  }
  const targets = targetLines(summary, quality);
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
    quality,
    targets,
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
  const qualityTable = [
    `| weights | graph | mean KL from fp32 (nats) | max KL | greedy agreement with fp32 | positions |`,
    `|---|---|---:|---:|---:|---:|`,
    ...quality.flatMap(({ model, graphs }) =>
      WEIGHT_SCHEMES.map((scheme) => {
        const q = graphs[scheme] as GraphQuality;
        return `| \`${model}\` | ${GRAPH_NAMES[scheme]} | ${q.meanKl.toFixed(4)} | ${q.maxKl.toFixed(3)} | ${(q.agreement * 100).toFixed(1)}% | ${q.positions} |`;
      }),
    ),
  ].join('\n');
  const spreadLines = quality
    .map(
      ({ model, reference: spread }) =>
        `- \`${model}\`: fp32's mean entropy ${spread.meanEntropy.toFixed(2)} nats (uniform: ${spread.uniformEntropy.toFixed(2)}), ` +
        `greedy token's mean probability ${spread.meanTop1.toFixed(3)}, mean log-probability gap to the runner-up ${spread.meanTop2Gap.toFixed(2)} nats`,
    )
    .join('\n');
  const spreadLine = `How peaked fp32's distributions are at those positions (the smaller the gap, the smaller the perturbation that flips a greedy token):\n${spreadLines}`;
  const targetList = targets.map((t) => `- ${t.met ? 'met' : 'NOT met'}: ${t.text}`).join('\n');
  const markdown =
    `# Engine benchmark\n\n${report.date}; model \`${basename(modelDir)}\`; ${PROMPT_TOKENS}-token prompts, ${NEW_TOKENS} new tokens ` +
    `(EOS ignored), ${threads} intra-op threads; medians of ${reps} interleaved repetitions (the order rotated each time), each run in a fresh process.\n\n` +
    `${table}\n\nRatios (targets: b/a >= 0.95, b/c >= 1.1, d/b >= 3.5, w/d >= 0.95 in total tokens/s, j/j32 >= 0.75 in decode; e/a is the batching ceiling of this machine and model, d/e the share of it the engine keeps; (w)'s peak RSS is the client process's, the worker's is not in it):\n${ratioLines}\n\n` +
    (quality.length === 0 ? '' : `Next-token quality against fp32, teacher-forced over the ${CONCURRENT} prompts' ${NEW_TOKENS} fp32 greedy tokens each` +
    `${isRandomModel(modelDir) ? ' (random weights: the benchmark\'s at std 0.3, whose layers amplify an early error, and the -fan-in model\'s at 1/sqrt(fan_in), closer to how a trained model carries one; neither is GPT-2\'s quality, measure that on its real weights)' : ''}:\n\n${qualityTable}\n\n${spreadLine}\n\n`) +
    `Targets (batch-1 decode medians of this run unless said):\n${targetList}\n\n` +
    `Load average (1 min) during the runs: min ${report.loadAvg1m.min.toFixed(2)}, mean ${report.loadAvg1m.mean.toFixed(2)}, ` +
    `max ${report.loadAvg1m.max.toFixed(2)} on a shared machine with ${cpus().length} cores.` +
    (report.loadAvg1m.mean > cpus().length
      ? ' The machine was oversubscribed: absolute rates are far below a quiet machine\'s; compare the ratios (interleaving spreads the noise over all runs).\n'
      : '\n');
  console.log(markdown);
  if (!quick || values.write) {
    await writeBenchResults('engine', report, markdown);
  }
}

const GRAPH_NAMES: Record<WeightScheme, string> = {
  int8: 'int8 (MatMulNBits, block 32)',
  int4: 'int4 (MatMulNBits, block 32)',
  q8: "q8 (transformers.js' dynamic int8)",
};
const RSS_LIMIT_MB = 600;

type QualityOf = QualityReport & { readonly model: string };

type Summary = Partial<Record<Mode, { name: string; decodeTokPerSec: number; e2eTokPerSec: number; timeToFirstTokenMs: number; peakRssMb: number }>>;

/** The targets, each with whether this run met it. */
function targetLines(summary: Summary, quality: readonly QualityOf[]): { text: string; met: boolean }[] {
  const at = (x: Mode, y: Mode, target: number, what: string) => {
    const [sx, sy] = [summary[x], summary[y]];
    if (!sx || !sy) return [];
    const value = sx.decodeTokPerSec / sy.decodeTokPerSec;
    return [{ text: `${what}: ${x}/${y} = ${value.toFixed(2)} (target >= ${target})`, met: value >= target }];
  };
  const int4 = summary.g;
  return [
    ...at('g', 'b', 3.5, 'int4 vs engine fp32'),
    ...at('g', 'h', 1.5, "int4 vs transformers.js q8"),
    ...at('f', 'b', 2.5, 'int8 vs engine fp32'),
    ...at('f', 'h', 1.0, "int8 vs transformers.js q8"),
    ...at('k', 'f', 3, `int8 at batch ${CONCURRENT} vs int8 at batch 1 (total tokens/s)`),
    ...at('j', 'j32', 0.75, `decode at ${LONG_PROMPT_TOKENS} tokens of context vs ${PROMPT_TOKENS} with the preallocated KV cache`),
    ...(int4 ? [{ text: `peak RSS with the int4 graph: ${int4.peakRssMb.toFixed(0)} MB (target < ${RSS_LIMIT_MB} MB)`, met: int4.peakRssMb < RSS_LIMIT_MB }] : []),
    ...quality.map(({ model, graphs }) => {
      const agreement = (graphs.int8 as GraphQuality).agreement;
      return { text: `greedy agreement of int8 with fp32 on \`${model}\`: ${(agreement * 100).toFixed(1)}% (target >= 95%)`, met: agreement >= 0.95 };
    }),
  ];
}

/** Folders that model:make wrote (random weights) carry its marker file. */
function isRandomModel(modelDir: string): boolean {
  return existsSync(join(modelDir, 'model-make.json'));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
