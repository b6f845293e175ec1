/** @jest-environment ./test/support/onnx-environment.js */
// model:optimize on the tiny model and on the layouts public exports use: the MatMulNBits graphs load
// and serve through the engine and the service (MODEL_DIR with the MODEL_DTYPE / MODEL_FILE the record
// names), a row's tokens do not depend on its batch neighbours, the q8 export is what transformers.js
// loads as dtype 'q8', and graphs it cannot rewrite are refused by node.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import OpenAI from 'openai';
import { createEngine, type EngineSettings } from '../../service/engine/engine';
import { createSamplingParams } from '../../service/engine/params';
import type { Engine } from '../../service/engine/types';
import { writeOnnxModel } from '../../scripts/onnx-quantize/onnx-file';
import { quantizeModelDir, type QuantizeRecord, RECORD_FILE, type ServeChoice } from '../../scripts/onnx-quantize/quantize-model-dir';
import { GraphRewriteError } from '../../scripts/onnx-quantize/weight-linears';
import { tinyModelDir } from '../support/models';
import { runScript } from '../support/run-script';
import { startService, waitForReady } from '../support/service-process';
import { asOptimumGemm, decodeModel, withUntiedHead } from './onnx-quantize/export-variants';

const { nLayer, nHead, headDim } = { nLayer: 2, nHead: 4, headDim: 16 };
const PROMPTS = ['The quick brown fox', 'In 1998, the committee decided that the', 'Hello', 'A long time ago in a galaxy far, far away there was'];

let work: string;
let tiny: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'model-optimize-'));
  tiny = await tinyModelDir();
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A copy of the tiny folder whose graph is `model` (config and tokenizer files linked in). */
async function folderWithGraph(name: string, model: onnx.ModelProto, options: { externalData?: boolean } = {}): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, 'onnx'), { recursive: true });
  for (const file of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json']) {
    await writeFile(join(dir, file), await readFile(join(tiny, file)));
  }
  await writeOnnxModel(join(dir, 'onnx', 'model.onnx'), model, options);
  return dir;
}

async function tinyGraph(): Promise<onnx.ModelProto> {
  return decodeModel(await readFile(join(tiny, 'onnx', 'model.onnx')));
}

async function lastLogits(path: string, rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
  try {
    const seq = Math.max(...rows.map((r) => r.length));
    const ids: number[] = [];
    const mask: number[] = [];
    const positions: number[] = [];
    for (const row of rows) {
      const pad = seq - row.length;
      ids.push(...Array(pad).fill(50256), ...row);
      mask.push(...Array(pad).fill(0), ...row.map(() => 1));
      positions.push(...Array(pad).fill(1), ...row.map((_, i) => i));
    }
    const tensor = (values: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [rows.length, seq]);
    const feeds: Record<string, ort.Tensor> = { input_ids: tensor(ids), attention_mask: tensor(mask), position_ids: tensor(positions) };
    for (let i = 0; i < nLayer; i++) {
      for (const kind of ['key', 'value']) feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [rows.length, nHead, 0, headDim]);
    }
    const logits = (await session.run(feeds)).logits as ort.Tensor;
    const vocab = Number(logits.dims[2]);
    return rows.map((_, r) => (logits.data as Float32Array).slice(((r + 1) * seq - 1) * vocab, (r + 1) * seq * vocab));
  } finally {
    await session.release();
  }
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((max, v, i) => Math.max(max, Math.abs(v - (b[i] as number))), 0);
const ROWS = [[464, 2068, 7586, 21831, 18045], [15496, 995], [40, 1101, 257]];

/** The engine settings that the service derives from the record's MODEL_DTYPE / MODEL_FILE. */
function graphSettings(serve: ServeChoice): Pick<EngineSettings, 'dtype' | 'file'> {
  return 'MODEL_DTYPE' in serve ? { dtype: serve.MODEL_DTYPE } : { file: serve.MODEL_FILE };
}

async function greedy(engine: Engine, prompt: string): Promise<number[]> {
  const params = createSamplingParams({ maxTokens: 12, temperature: 0 }, { vocabSize: engine.tokenizer.vocabSize });
  const ids: number[] = [];
  for await (const event of engine.generate({ promptIds: engine.tokenizer.encode(prompt), params })) {
    if (event.type === 'delta') ids.push(...event.tokens.map((t) => t.tokenId));
  }
  return ids;
}

describe.each(['int8', 'int4'] as const)('model:optimize --weights %s on the tiny model', (scheme) => {
  let dir: string;
  let record: QuantizeRecord;
  beforeAll(async () => {
    dir = join(work, `tiny-${scheme}`);
    record = await quantizeModelDir(tiny, dir, { scheme });
  });

  it('rewrites every weight product, the tied LM head included, into MatMulNBits and records it', async () => {
    const graph = decodeModel(await readFile(join(dir, record.output.graph))).graph as onnx.IGraphProto;
    const nbits = (graph.node ?? []).filter((n) => n.opType === 'MatMulNBits');
    expect(nbits).toHaveLength(4 * nLayer + 1);
    expect((graph.node ?? []).some((n) => n.opType === 'Gemm')).toBe(false);
    const bits = scheme === 'int4' ? 4 : 8;
    for (const node of nbits) {
      expect(node.domain).toBe('com.microsoft');
      const attributes = Object.fromEntries((node.attribute ?? []).map((a) => [a.name, Number(a.i)]));
      expect(attributes).toMatchObject({ bits, block_size: 32, accuracy_level: 4 });
    }
    const graphName = `onnx/model${scheme === 'int4' ? '_q4' : '_q8_matmulnbits'}.onnx`;
    expect(record).toMatchObject({
      output: { graph: graphName },
      // int4 is transformers.js' q4 (MatMulNBits, 4 bits, blocks of 32); 8-bit MatMulNBits has no dtype name.
      serve: scheme === 'int4' ? { MODEL_DTYPE: 'q4' } : { MODEL_FILE: graphName },
      quantization: { format: 'MatMulNBits', bits, blockSize: 32, symmetric: true, skipLayerNormFused: 2 * nLayer + 1 },
      source: { graph: 'onnx/model.onnx' },
    });
    expect(record.nodesRewritten.map((n) => n.weight)).toContain('transformer.wte.weight');
    expect(JSON.parse(await readFile(join(dir, RECORD_FILE), 'utf8'))).toEqual(record);
    // onnx/model.onnx would claim to be fp32 to MODEL_DTYPE and to transformers.js.
    expect(await stat(join(dir, 'onnx', 'model.onnx')).catch(() => 'absent')).toBe('absent');
    expect(await readFile(join(dir, 'tokenizer.json'), 'utf8')).toBe(await readFile(join(tiny, 'tokenizer.json'), 'utf8'));
  });

  it('fuses each residual Add + LayerNormalization into SkipLayerNormalization without changing the result', async () => {
    const graph = decodeModel(await readFile(join(dir, record.output.graph))).graph as onnx.IGraphProto;
    expect((graph.node ?? []).filter((n) => n.opType === 'SkipLayerNormalization')).toHaveLength(2 * nLayer + 1);
    expect((graph.node ?? []).some((n) => n.opType === 'LayerNormalization')).toBe(false);
    const unfused = join(work, `tiny-${scheme}-unfused`);
    await quantizeModelDir(tiny, unfused, { scheme, fuseSkipLayerNorm: false });
    const [fusedLogits, unfusedLogits] = [await lastLogits(join(dir, record.output.graph), ROWS), await lastLogits(join(unfused, record.output.graph), ROWS)];
    fusedLogits.forEach((row, r) => expect(maxAbsDiff(row, unfusedLogits[r] as Float32Array)).toBeLessThan(1e-3));
  });

  it('is served by the service from MODEL_DIR and the MODEL_DTYPE / MODEL_FILE its record names', async () => {
    const service = startService({ MODEL_DIR: dir, ...record.serve, INTRA_OP_THREADS: '1' });
    try {
      const url = await service.listening;
      await waitForReady(url);
      expect(service.output()).toContain(`"onnxPath":"${join(dir, record.output.graph)}"`);
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused' });
      const completion = await client.completions.create({ model: 'gpt2', prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
      expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
      const engine = await createEngine({ modelDir: dir, intraOpThreads: 1, ...graphSettings(record.serve) });
      try {
        // The service's greedy text is the engine's on the same graph: it did load this graph.
        const ids = await greedy(engine, 'Once upon a time');
        expect(completion.choices[0]?.text).toBe(engine.tokenizer.decode(ids.slice(0, completion.usage?.completion_tokens)));
      } finally {
        await engine.close();
      }
    } finally {
      service.child.kill('SIGTERM');
      await service.exited;
    }
  }, 120_000);

  it('gives each row the greedy tokens it gets alone, whatever its batch neighbours', async () => {
    const engine = await createEngine({ modelDir: dir, intraOpThreads: 1, maxBatchSize: 8, ...graphSettings(record.serve) });
    try {
      const alone: number[][] = [];
      for (const prompt of PROMPTS) alone.push(await greedy(engine, prompt));
      // Submitted together, they share prefill and decode steps (left-padded to the longest).
      const together = await Promise.all(PROMPTS.map((prompt) => greedy(engine, prompt)));
      expect(together).toEqual(alone);
    } finally {
      await engine.close();
    }
  });

  it('computes a row\'s logits as it does alone, in a left-padded batch', async () => {
    const graph = join(dir, record.output.graph);
    const batched = await lastLogits(graph, ROWS);
    for (const [r, row] of ROWS.entries()) {
      const [alone] = await lastLogits(graph, [row]);
      expect(maxAbsDiff(batched[r] as Float32Array, alone as Float32Array)).toBeLessThan(1e-3);
    }
  });
});

describe('model:optimize on the layouts of public exports', () => {
  it.each([
    ['optimum', 'Optimum Gemm linears, LM head as a MatMul on its own transposed copy of wte', (m: onnx.ModelProto) => withUntiedHead(asOptimumGemm(m), 'copy'), false],
    ['transpose-node', 'MatMul + Add linears, LM head as a MatMul on a Transpose of wte', (m: onnx.ModelProto) => withUntiedHead(m, 'node'), false],
    ['external-data', 'weights in external data (model.onnx_data)', (m: onnx.ModelProto) => m, true],
  ])('%s: %s computes the same fp32 function and gives the same int4 graph as our own layout', async (name, _label, variant, externalData) => {
    const source = await folderWithGraph(`variant-${name}`, variant(await tinyGraph()), { externalData });
    if (externalData) expect((await stat(join(source, 'onnx', 'model.onnx_data'))).size).toBeGreaterThan(1e6);
    const [reference] = await lastLogits(join(tiny, 'onnx', 'model.onnx'), [ROWS[0] as number[]]);
    const [fp32] = await lastLogits(join(source, 'onnx', 'model.onnx'), [ROWS[0] as number[]]);
    expect(maxAbsDiff(fp32 as Float32Array, reference as Float32Array)).toBeLessThan(1e-3);

    const ours = join(work, 'tiny-int4');
    if (!(await stat(ours).catch(() => undefined))) await quantizeModelDir(tiny, ours, { scheme: 'int4' });
    const record = await quantizeModelDir(source, `${source}-int4`, { scheme: 'int4' });
    expect(record.nodesRewritten).toHaveLength(4 * nLayer + 1);
    const [quantized] = await lastLogits(join(`${source}-int4`, record.output.graph), [ROWS[0] as number[]]);
    const [expected] = await lastLogits(join(ours, record.output.graph), [ROWS[0] as number[]]);
    expect(maxAbsDiff(quantized as Float32Array, expected as Float32Array)).toBeLessThan(1e-3);
  });
});

describe('model:optimize refuses a graph it cannot rewrite', () => {
  const refusal = async (change: (graph: onnx.IGraphProto) => void): Promise<string> => {
    const model = await tinyGraph();
    change(model.graph as onnx.IGraphProto);
    const source = await folderWithGraph(`refused-${Math.random().toString(36).slice(2)}`, model);
    const error = await quantizeModelDir(source, `${source}-out`, { scheme: 'int4' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GraphRewriteError);
    expect(await stat(`${source}-out`).catch(() => 'absent')).toBe('absent');
    return (error as Error).message;
  };
  const head = (graph: onnx.IGraphProto) => (graph.node ?? []).find((n) => n.opType === 'Gemm') as onnx.INodeProto;

  it('names a Gemm with transA=1 and says why', async () => {
    const message = await refusal((graph) => {
      const gemm = head(graph);
      gemm.name = 'lm_head_gemm';
      gemm.attribute?.push({ name: 'transA', type: onnx.AttributeProto.AttributeType.INT, i: 1 });
    });
    expect(message).toMatch(/Gemm node 'lm_head_gemm' has transA=1; MatMulNBits takes its activation untransposed/);
  });

  it('names the node whose weight is not float32', async () => {
    const message = await refusal((graph) => {
      const weight = (graph.initializer ?? []).find((t) => t.name === 'transformer.h.0.mlp.c_fc.weight') as onnx.ITensorProto;
      weight.dataType = onnx.TensorProto.DataType.FLOAT16;
      weight.rawData = (weight.rawData as Uint8Array).subarray(0, weight.rawData!.byteLength / 2);
    });
    expect(message).toMatch(/MatMul node '.+': weight 'transformer\.h\.0\.mlp\.c_fc\.weight' has ONNX data type 10, not float32/);
  });

  it('names the node whose weight is computed rather than stored', async () => {
    const message = await refusal((graph) => {
      const matmul = (graph.node ?? []).find((n) => n.opType === 'MatMul' && n.input?.[1] === 'transformer.h.1.attn.c_proj.weight') as onnx.INodeProto;
      graph.node?.unshift({ name: 'weight_cast', opType: 'Cast', input: ['transformer.h.1.attn.c_proj.weight'], output: ['cast_weight'], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] });
      matmul.input = [matmul.input?.[0] as string, 'cast_weight'];
    });
    expect(message).toMatch(/takes its weight 'cast_weight' from Cast node 'weight_cast'; model:optimize rewrites weights that are initializers or a Transpose of one/);
  });

  it('names a node holding subgraphs (a merged decoder\'s If)', async () => {
    const message = await refusal((graph) => {
      const branch = { name: 'branch', node: [], output: [] };
      graph.node?.push({ name: 'optimum::if', opType: 'If', input: ['attention_mask'], output: ['unused'], attribute: [{ name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch }] });
    });
    expect(message).toMatch(/If node 'optimum::if' holds subgraphs/);
  });

  it('refuses a graph quantized already, from the command line with exit code 1', async () => {
    const quantized = join(work, 'tiny-int8-again');
    const record = await quantizeModelDir(tiny, quantized, { scheme: 'int8' });
    const folder = await runScript('model-optimize', ['--in', quantized, '--out', `${quantized}-twice`, '--weights', 'int4']);
    expect(folder.code).toBe(1);
    expect(folder.stderr).toMatch(/tiny-int8-again has no fp32 graph \(looked for onnx\/model\.onnx, onnx\/decoder_model_merged\.onnx\)/);
    // The same graph renamed to onnx/model.onnx gets past the file name, not past the graph check.
    const renamed = await folderWithGraph('int8-as-model-onnx', decodeModel(await readFile(join(quantized, record.output.graph))));
    const graph = await runScript('model-optimize', ['--in', renamed, '--out', `${renamed}-twice`, '--weights', 'int4']);
    expect(graph.code).toBe(1);
    expect(graph.stderr).toMatch(/MatMulNBits node '.+': the graph is quantized already; model:optimize rewrites an fp32 export/);
    expect(await stat(`${quantized}-twice`).catch(() => 'absent')).toBe('absent');
    expect(await stat(`${renamed}-twice`).catch(() => 'absent')).toBe('absent');
  });
});

describe('model:optimize --weights q8 (transformers.js\' dynamic int8)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(work, 'tiny-q8');
    await quantizeModelDir(tiny, dir, { scheme: 'q8' });
  });

  it('is what model:make --dtype q8 writes beside the fp32 graph, byte for byte, and MODEL_DTYPE=q8 loads it', async () => {
    const made = join(work, 'made-q8');
    const result = await runScript('model-make', ['--preset', 'tiny', '--out', made, '--dtype', 'q8']);
    expect(result.code).toBe(0);
    const [ours, theirs] = await Promise.all([readFile(join(dir, 'onnx', 'model_quantized.onnx')), readFile(join(made, 'onnx', 'model_quantized.onnx'))]);
    expect(Buffer.compare(ours, theirs)).toBe(0);
    expect((await stat(join(made, 'onnx', 'model.onnx'))).size).toBeGreaterThan(ours.byteLength);
    // The folder holds both graphs; dtype q8 loads model_quantized.onnx (the fp32 one is MODEL_DTYPE=fp32's).
    const engine = await createEngine({ modelDir: made, intraOpThreads: 1, dtype: 'q8' });
    try {
      expect((await greedy(engine, 'Hello')).length).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });

  it("loads offline in transformers.js with dtype 'q8', whose greedy ids match the engine on the same file", async () => {
    const { env, pipeline, Tensor } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = `${dirname(dir)}/`;
    const generator = await pipeline('text-generation', basename(dir), { dtype: 'q8' });
    const engine = await createEngine({ modelDir: dir, intraOpThreads: 1, dtype: 'q8' });
    try {
      for (const prompt of PROMPTS.slice(0, 2)) {
        const ids = engine.tokenizer.encode(prompt);
        const output = (await generator.model.generate({
          input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
          attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
          max_new_tokens: 12,
          do_sample: false,
        } as never)) as { tolist(): bigint[][] };
        // transformers.js stops at EOS and keeps it; the engine stops there too without emitting it.
        const expected = output.tolist()[0]!.map(Number).slice(ids.length).filter((id) => id !== engine.tokenizer.eosTokenId);
        expect(await greedy(engine, prompt)).toEqual(expected);
      }
    } finally {
      await engine.close();
      await generator.dispose();
    }
  });

  it("has rows that depend on their batch neighbours (per-tensor activation scales), which MatMulNBits' do not", async () => {
    const graph = join(dir, 'onnx', 'model_quantized.onnx');
    const batched = await lastLogits(graph, ROWS);
    const [alone] = await lastLogits(graph, [ROWS[1] as number[]]);
    expect(maxAbsDiff(batched[1] as Float32Array, alone as Float32Array)).toBeGreaterThan(1e-2);
  });
});
