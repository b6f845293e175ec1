// Benchmark and evidence for the preallocated KV cache's design: whether onnxruntime-node can share
// a preallocated past/present buffer with com.microsoft GroupQueryAttention, and what a step costs
// that way against feeding engine-owned buffers as inputs and fetching only the new token.
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { writeBenchResults } from './bench/results';
import { GraphBuilder } from './gpt2-onnx/graph-builder';

const USAGE = `Usage: npm run bench:kv-sharing [-- --quick] [--threads N]

One attention layer of GPT-2-small's shape (12 heads of 64) at 1 new token, batch 1, in two graphs:
  gqa-shared   GroupQueryAttention (com.microsoft) whose present outputs are fetched into the past
               buffers themselves (preallocated outputs in session.run's fetches)
  inputs-only  the buffers fed as inputs and read in place by MatMuls (what model:make --export
               preallocated-kv does per layer); only the attention output is fetched
First it checks that the kernel really shares the buffer (a value past the row's length survives:
without sharing the kernel zeroes the present) and whether the output session.run returns is the
buffer or a copy; then it times a step at 64, 1,024 and 4,096 buffer slots.
  --quick      fewer steps per measurement
Writes bench/results/kv-sharing.json and .md (not with --quick).`;

const HEADS = 12;
const HEAD_DIM = 64;
const CONTEXT = 40;

/** Marks the GroupQueryAttention node as com.microsoft's and types its length inputs int32 (GraphBuilder writes plain ONNX). */
function asContribModel(model: onnx.ModelProto): Uint8Array {
  for (const node of model.graph?.node ?? []) if (node.opType === 'GroupQueryAttention') node.domain = 'com.microsoft';
  for (const input of model.graph?.input ?? []) {
    if ((input.name === 'seqlens_k' || input.name === 'total_sequence_length') && input.type?.tensorType) input.type.tensorType.elemType = onnx.TensorProto.DataType.INT32;
  }
  model.opsetImport?.push({ domain: 'com.microsoft', version: 1 });
  return onnx.ModelProto.encode(model).finish();
}

function gqaGraph(): Uint8Array {
  const g = new GraphBuilder('float32');
  const qkv = ['query', 'key', 'value'].map((name) => g.input(name, 'float32', ['batch', 'seq', HEADS * HEAD_DIM]));
  const past = ['past_key', 'past_value'].map((name) => g.input(name, 'float32', ['batch', HEADS, 'slots', HEAD_DIM]));
  // int64 here, rewritten to int32 by asContribModel.
  const lengths = [g.input('seqlens_k', 'int64', ['batch']), g.input('total_sequence_length', 'int64', [])];
  g.node('GroupQueryAttention', [...qkv, ...past, ...lengths], { num_heads: HEADS, kv_num_heads: HEADS }, ['output', 'present_key', 'present_value']);
  g.output('output', 'float32', ['batch', 'seq', HEADS * HEAD_DIM]);
  g.output('present_key', 'float32', ['batch', HEADS, 'slots', HEAD_DIM]);
  g.output('present_value', 'float32', ['batch', HEADS, 'slots', HEAD_DIM]);
  return asContribModel(g.toModel('gqa_shared', 17, 'bench-kv-sharing'));
}

function inputsOnlyGraph(): Uint8Array {
  const g = new GraphBuilder('float32');
  const query = g.input('query', 'float32', ['batch', HEADS, 'seq', HEAD_DIM]);
  const keys = g.input('cache_key', 'float32', ['batch', HEADS, HEAD_DIM, 'slots']);
  const values = g.input('cache_value', 'float32', ['batch', HEADS, 'slots', HEAD_DIM]);
  const allowed = g.input('allowed', 'bool', ['batch', 1, 'seq', 'slots']);
  const scores = g.op('Mul', [g.op('MatMul', [query, keys]), g.float(1 / Math.sqrt(HEAD_DIM))]);
  const probs = g.op('Softmax', [g.op('Where', [allowed, scores, g.float(-3.4e38)])], { axis: -1 });
  g.op('MatMul', [probs, values], {}, 'output');
  g.output('output', 'float32', ['batch', HEADS, 'seq', HEAD_DIM]);
  return onnx.ModelProto.encode(g.toModel('inputs_only', 17, 'bench-kv-sharing')).finish();
}

const filled = (length: number, value: number) => new Float32Array(length).fill(value);

interface Evidence {
  /** A value past the row's length survived the step: the kernel wrote into the fed buffer without zeroing a separate present. */
  readonly kernelShares: boolean;
  /** Writing into the returned present changed the buffer: the binding handed back the buffer, not a copy. */
  readonly returnedAliasesBuffer: boolean;
}

async function evidence(session: ort.InferenceSession): Promise<Evidence> {
  const slots = 64;
  const keys = new ort.Tensor('float32', new Float32Array(HEADS * slots * HEAD_DIM), [1, HEADS, slots, HEAD_DIM]);
  const values = new ort.Tensor('float32', new Float32Array(HEADS * slots * HEAD_DIM), [1, HEADS, slots, HEAD_DIM]);
  const keyData = keys.data as Float32Array;
  keyData[50 * HEAD_DIM] = 999;
  const outputs = await session.run(gqaFeeds(keys, values, CONTEXT), { output: null, present_key: keys, present_value: values });
  const returned = outputs.present_key?.data as Float32Array;
  returned[0] = 123;
  return { kernelShares: keyData[50 * HEAD_DIM] === 999 && keyData[CONTEXT * HEAD_DIM] === 1, returnedAliasesBuffer: keyData[0] === 123 };
}

function gqaFeeds(pastKey: ort.Tensor, pastValue: ort.Tensor, context: number): Record<string, ort.Tensor> {
  const width = HEADS * HEAD_DIM;
  return {
    query: new ort.Tensor('float32', filled(width, 0.01), [1, 1, width]),
    key: new ort.Tensor('float32', filled(width, 1), [1, 1, width]),
    value: new ort.Tensor('float32', filled(width, 2), [1, 1, width]),
    past_key: pastKey,
    past_value: pastValue,
    seqlens_k: new ort.Tensor('int32', Int32Array.of(context), [1]),
    total_sequence_length: new ort.Tensor('int32', Int32Array.of(context + 1), []),
  };
}

async function msPerStep(steps: number, step: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 5; i++) await step();
  const started = performance.now();
  for (let i = 0; i < steps; i++) await step();
  return (performance.now() - started) / steps;
}

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: { quick: { type: 'boolean' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const threads = z.coerce.number({ error: '--threads must be a positive integer' }).int().positive().parse(values.threads ?? '2');
  const steps = values.quick ? 20 : 200;
  const options = { intraOpNumThreads: threads, graphOptimizationLevel: 'all' } as const;
  const gqa = await ort.InferenceSession.create(gqaGraph(), options);
  const inputsOnly = await ort.InferenceSession.create(inputsOnlyGraph(), options);
  const found = await evidence(gqa);
  const rows: { slots: number; gqaSharedMs: number; inputsOnlyMs: number }[] = [];
  for (const slots of [64, 1024, 4096]) {
    const size = HEADS * slots * HEAD_DIM;
    const pastKey = new ort.Tensor('float32', new Float32Array(size), [1, HEADS, slots, HEAD_DIM]);
    const pastValue = new ort.Tensor('float32', new Float32Array(size), [1, HEADS, slots, HEAD_DIM]);
    const gqaSharedMs = await msPerStep(steps, () => gqa.run(gqaFeeds(pastKey, pastValue, CONTEXT), { output: null, present_key: pastKey, present_value: pastValue }));
    const cacheKey = new ort.Tensor('float32', new Float32Array(size), [1, HEADS, HEAD_DIM, slots]);
    const allowed = new ort.Tensor('bool', Uint8Array.from({ length: slots }, (_, j) => (j <= CONTEXT ? 1 : 0)), [1, 1, 1, slots]);
    const inputsOnlyMs = await msPerStep(steps, () =>
      inputsOnly.run({ query: new ort.Tensor('float32', filled(HEADS * HEAD_DIM, 0.01), [1, HEADS, 1, HEAD_DIM]), cache_key: cacheKey, cache_value: pastValue, allowed }),
    );
    rows.push({ slots, gqaSharedMs, inputsOnlyMs });
    console.error(`${slots} slots: gqa-shared ${gqaSharedMs.toFixed(3)} ms/step, inputs-only ${inputsOnlyMs.toFixed(3)} ms/step`);
  }
  await gqa.release();
  await inputsOnly.release();
  const report = { date: new Date().toISOString(), onnxruntime: ort.env.versions.common, loadAvg1m: loadavg()[0] ?? 0, cores: cpus().length, threads, heads: HEADS, headDim: HEAD_DIM, context: CONTEXT, steps, evidence: found, rows };
  const markdown =
    `# KV buffer sharing in onnxruntime-node\n\n${report.date}; onnxruntime-common ${report.onnxruntime}; one attention layer (${HEADS} heads of ${HEAD_DIM}), ` +
    `batch 1, 1 new token at ${CONTEXT} tokens of context, ${threads} intra-op threads, mean of ${steps} steps; load average ${report.loadAvg1m.toFixed(1)} on ${report.cores} cores.\n\n` +
    `- GroupQueryAttention shares the preallocated present with its past input inside the kernel: ${found.kernelShares ? 'yes' : 'no'}\n` +
    `- session.run returns that buffer (not a copy): ${found.returnedAliasesBuffer ? 'yes' : 'no, a copy of the whole buffer every step'}\n\n` +
    `| buffer slots | gqa-shared ms/step | inputs-only ms/step |\n|---:|---:|---:|\n` +
    rows.map((r) => `| ${r.slots} | ${r.gqaSharedMs.toFixed(3)} | ${r.inputsOnlyMs.toFixed(3)} |`).join('\n') +
    '\n';
  console.log(markdown);
  if (!values.quick) {
    await writeBenchResults('kv-sharing', report, markdown);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
