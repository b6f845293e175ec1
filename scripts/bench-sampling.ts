// Micro-benchmark: the sampler's cost per decode step on one 50257-entry logits row, per setting,
// so the scheduler's author knows what sampling adds to each row of each step.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createSamplingParams } from '../service/engine/params';
import { createRng } from '../service/engine/rng';
import { Sampler } from '../service/engine/sampling';
import type { SamplingParamsInput } from '../service/engine/types';

const USAGE = `Usage: npm run bench:sampling [-- --steps N] [--vocab N] [--json]

Times Sampler.sample on one logits row (GPT-2 size by default) for several settings and prints,
per call in microseconds, the wall-clock median and 90th percentile and the mean CPU time (less
sensitive to other processes on a busy machine). The row is a fixed pseudo-random GPT-2-like
distribution; a context of 64 prompt + 64 generated tokens feeds the penalties.
  --steps N   timed calls per setting, after 200 warm-up calls (default 2000)
  --vocab N   row length (default 50257)
  --json      print JSON instead of a table`;

const SETTINGS: readonly { readonly name: string; readonly params: SamplingParamsInput }[] = [
  { name: 'greedy (temperature 0)', params: { temperature: 0 } },
  {
    name: 'greedy + repetition/presence penalties',
    params: { temperature: 0, repetitionPenalty: 1.1, presencePenalty: 0.5 },
  },
  { name: 'greedy + logprobs 5', params: { temperature: 0, logprobs: 5 } },
  { name: 'sampling, temperature 0.8', params: { temperature: 0.8, seed: 1 } },
  { name: 'top-k 50 + top-p 0.9', params: { topK: 50, topP: 0.9, seed: 1 } },
  { name: 'top-p 0.9 alone', params: { topP: 0.9, seed: 1 } },
  { name: 'top-k 50 + top-p 0.9 + logprobs 5', params: { topK: 50, topP: 0.9, logprobs: 5, seed: 1 } },
];

interface Result {
  readonly setting: string;
  readonly medianUs: number;
  readonly p90Us: number;
  readonly cpuUs: number;
}

/** GPT-2's logits are peaked: a broad normal bulk plus a few tokens well above it. */
function gpt2LikeRow(vocab: number): Float32Array {
  const rng = createRng(2024);
  const row = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) {
    const normal = Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * Math.cos(2 * Math.PI * rng.nextFloat());
    row[i] = -60 + 3 * normal;
  }
  for (let i = 0; i < 20; i++) row[rng.nextUint32() % vocab] = -45 + 8 * rng.nextFloat();
  return row;
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function measure(name: string, input: SamplingParamsInput, row: Float32Array, steps: number): Result {
  const sampler = new Sampler(createSamplingParams(input, { vocabSize: row.length }));
  const context = {
    promptIds: Array.from({ length: 64 }, (_, i) => (i * 7919) % row.length),
    generatedIds: Array.from({ length: 64 }, (_, i) => (i * 104729) % row.length),
  };
  for (let i = 0; i < 200; i++) sampler.sample(row, context);
  const times: number[] = [];
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < steps; i++) {
    const start = process.hrtime.bigint();
    sampler.sample(row, context);
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  const cpu = process.cpuUsage(cpuStart);
  times.sort((a, b) => a - b);
  return {
    setting: name,
    medianUs: percentile(times, 0.5),
    p90Us: percentile(times, 0.9),
    cpuUs: (cpu.user + cpu.system) / steps,
  };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '2000' },
      vocab: { type: 'string', default: '50257' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const steps = Number(values.steps);
  const vocab = Number(values.vocab);
  if (!Number.isInteger(steps) || steps < 1 || !Number.isInteger(vocab) || vocab < 100) {
    console.error(`--steps must be an integer >= 1 and --vocab an integer >= 100\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const row = gpt2LikeRow(vocab);
  const results = SETTINGS.map(({ name, params }) => measure(name, params, row, steps));
  if (values.json) {
    console.log(JSON.stringify({ vocab, steps, loadAvg1m: loadavg()[0], results }, null, 2));
    return;
  }
  console.log(`Sampler.sample on a ${vocab}-entry row, ${steps} calls per setting (microseconds per call)`);
  console.log(`load average (1 min): ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores`);
  console.log(`${'setting'.padEnd(40)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'cpu'.padStart(8)}`);
  for (const r of results) {
    const cells = [r.medianUs, r.p90Us, r.cpuUs].map((v) => v.toFixed(0).padStart(8)).join(' ');
    console.log(`${r.setting.padEnd(40)} ${cells}`);
  }
}

main();
