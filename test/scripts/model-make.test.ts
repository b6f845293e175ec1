/** @jest-environment ./test/support/onnx-environment.js */
// The random GPT-2 that model:make writes: the Optimum with-past signature, a KV cache and padding
// mask that behave like GPT-2's, GPT-2's real tokenizer, and a folder transformers.js runs offline.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { AutoTokenizer, env, pipeline, type TextGenerationPipeline } from '@huggingface/transformers';
import { encode as r50kEncode } from 'gpt-tokenizer/encoding/r50k_base';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { buildGpt2Model, randomWeightCount } from '../../scripts/gpt2-onnx/gpt2-graph';
import { PRESET_NAMES, PRESETS } from '../../scripts/gpt2-onnx/presets';
import { GPT2_FAMILY, modelFootprint } from '../../service/models/footprint';
import { tinyMergedModelDir, tinyModelDir, tinyVariantDir } from '../support/models';

const run = promisify(execFile);
const REPO_ROOT = join(__dirname, '..', '..');
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const { nLayer, nHead, nEmbd, vocabSize } = PRESETS.tiny;
const HEAD_DIM = nEmbd / nHead;

type Past = Record<string, ort.Tensor>;

let dir: string;
let session: ort.InferenceSession;

beforeAll(async () => {
  dir = await tinyModelDir();
  session = await ort.InferenceSession.create(join(dir, 'onnx', 'model.onnx'));
});

afterAll(async () => {
  await session.release();
});

const int64 = (rows: readonly (readonly number[])[]) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]?.length ?? 0]);

function emptyPast(batch: number): Past {
  const past: Past = {};
  for (let i = 0; i < nLayer; i++) {
    for (const kind of ['key', 'value']) past[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [batch, nHead, 0, HEAD_DIM]);
  }
  return past;
}

async function step(ids: number[][], mask: number[][], positions: number[][], past: Past) {
  const out = await session.run({ input_ids: int64(ids), attention_mask: int64(mask), position_ids: int64(positions), ...past });
  const next: Past = {};
  for (let i = 0; i < nLayer; i++) {
    for (const kind of ['key', 'value']) next[`past_key_values.${i}.${kind}`] = out[`present.${i}.${kind}`] as ort.Tensor;
  }
  return { logits: out.logits as ort.Tensor, past: next };
}

/** Logits of row `row`, position `pos` of a [batch, seq, vocab] tensor. */
function logitsAt(logits: ort.Tensor, row: number, pos: number): Float32Array {
  const seq = logits.dims[1] as number;
  const start = (row * seq + pos) * vocabSize;
  return (logits.data as Float32Array).slice(start, start + vocabSize);
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  return a.reduce((max, v, i) => Math.max(max, Math.abs(v - (b[i] as number))), 0);
}

/** Greedy decoding with the KV cache, written against the raw ONNX signature. */
async function rawGreedy(prompt: readonly number[], newTokens: number): Promise<number[]> {
  const ids = [...prompt];
  let { logits, past } = await step([ids], [ids.map(() => 1)], [ids.map((_, i) => i)], emptyPast(1));
  const generated: number[] = [];
  for (let n = 0; n < newTokens; n++) {
    const next = argmax(logitsAt(logits, 0, (logits.dims[1] as number) - 1));
    generated.push(next);
    ids.push(next);
    ({ logits, past } = await step([[next]], [ids.map(() => 1)], [[ids.length - 1]], past));
  }
  return generated;
}

describe('model:make tiny model', () => {
  it('has exactly the input and output names, types and ranks of the Optimum gpt2 with-past export', () => {
    const pastNames = Array.from({ length: nLayer }, (_, i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]).flat();
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask', 'position_ids', ...pastNames]);
    expect(session.outputNames).toEqual(['logits', ...pastNames.map((n) => n.replace('past_key_values', 'present'))]);
    const shapes = Object.fromEntries(session.inputMetadata.map((m) => [m.name, m.isTensor ? [m.type, m.shape] : undefined]));
    expect(shapes.input_ids).toEqual(['int64', ['batch_size', 'sequence_length']]);
    expect(shapes.attention_mask).toEqual(['int64', ['batch_size', 'past_sequence_length + sequence_length']]);
    expect(shapes['past_key_values.1.value']).toEqual(['float32', ['batch_size', nHead, 'past_sequence_length', HEAD_DIM]]);
  });

  it('returns logits [batch, seq, vocab] and presents [batch, heads, past+seq, head_dim]', async () => {
    const first = await step([[464, 2068, 7586]], [[1, 1, 1]], [[0, 1, 2]], emptyPast(1));
    expect(first.logits.dims).toEqual([1, 3, vocabSize]);
    const second = await step([[21831]], [[1, 1, 1, 1]], [[3]], first.past);
    expect(second.past['past_key_values.0.key']?.dims).toEqual([1, nHead, 4, HEAD_DIM]);
  });

  it('gives the same logits with the KV cache as recomputing the whole sequence', async () => {
    const prompt = [464, 2068, 7586, 21831, 18045];
    const full = await step([prompt], [prompt.map(() => 1)], [prompt.map((_, i) => i)], emptyPast(1));
    const head = await step([prompt.slice(0, 3)], [[1, 1, 1]], [[0, 1, 2]], emptyPast(1));
    const tail = await step([prompt.slice(3)], [prompt.map(() => 1)], [[3, 4]], head.past);
    expect(maxAbsDiff(logitsAt(tail.logits, 0, 1), logitsAt(full.logits, 0, 4))).toBeLessThan(1e-3);
  });

  it('makes a left-padded row compute what its prompt alone computes, during prefill and decode', async () => {
    const short = [15496, 995];
    const long = [464, 2068, 7586, 21831, 18045];
    const alone = await step([short], [[1, 1]], [[0, 1]], emptyPast(1));
    const aloneNext = await step([[11]], [[1, 1, 1]], [[2]], alone.past);
    const pad = long.length - short.length;
    const batch = await step(
      [[...Array(pad).fill(50256), ...short], long],
      [[...Array(pad).fill(0), 1, 1], long.map(() => 1)],
      [[...Array(pad).fill(0), 0, 1], long.map((_, i) => i)],
      emptyPast(2),
    );
    expect(maxAbsDiff(logitsAt(batch.logits, 0, long.length - 1), logitsAt(alone.logits, 0, 1))).toBeLessThan(1e-3);
    const batchNext = await step([[11], [11]], [[...Array(pad).fill(0), 1, 1, 1], [...long.map(() => 1), 1]], [[2], [5]], batch.past);
    expect(maxAbsDiff(logitsAt(batchNext.logits, 0, 0), logitsAt(aloneNext.logits, 0, 0))).toBeLessThan(1e-3);
    expect((batchNext.logits.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('produces varied greedy output rather than one repeated token', async () => {
    const generated = await rawGreedy([464, 2068, 7586, 21831], 16);
    expect(new Set(generated).size).toBeGreaterThan(8);
  });

  it('is loaded offline by transformers.js, whose greedy ids and text match a raw onnxruntime loop', async () => {
    env.allowRemoteModels = false;
    env.localModelPath = `${dirname(dir)}/`;
    const generator = (await pipeline('text-generation', basename(dir), { dtype: 'fp32' })) as TextGenerationPipeline;
    try {
      const prompt = 'The quick brown fox';
      const promptIds = generator.tokenizer.encode(prompt);
      const expected = await rawGreedy(promptIds, 12);
      const [result] = (await generator(prompt, { max_new_tokens: 12, do_sample: false })) as { generated_text: string }[];
      expect(result?.generated_text).toBe(prompt + generator.tokenizer.decode(expected));
      const output = await generator.model.generate({
        input_ids: new (await import('@huggingface/transformers')).Tensor('int64', BigInt64Array.from(promptIds.map(BigInt)), [1, promptIds.length]),
        max_new_tokens: 12,
        do_sample: false,
      });
      const ids = Array.from((output as { data: BigInt64Array }).data, Number);
      expect(ids).toEqual([...promptIds, ...expected]);
    } finally {
      await generator.dispose();
    }
  });

  it('ships the real GPT-2 tokenizer: transformers.js ids equal r50k_base ids and decode back', async () => {
    env.allowRemoteModels = false;
    env.localModelPath = `${dirname(dir)}/`;
    const tokenizer = await AutoTokenizer.from_pretrained(basename(dir));
    const text = "Hello world! It's 2024 — naïve café, 你好, emoji 🤖, tabs\tand  double spaces.";
    expect(tokenizer.encode(text)).toEqual(r50kEncode(text));
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    expect(tokenizer.encode('<|endoftext|>')).toEqual([50256]);
  });

  it('writes config.json with the GPT2Config fields of the preset', async () => {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      activation_function: 'gelu_new',
      n_layer: nLayer,
      n_head: nHead,
      n_embd: nEmbd,
      n_positions: 1024,
      n_ctx: 1024,
      vocab_size: vocabSize,
      bos_token_id: 50256,
      eos_token_id: 50256,
    });
    expect(JSON.parse(await readFile(join(dir, 'generation_config.json'), 'utf8'))).toMatchObject({ eos_token_id: 50256 });
  });
});

describe('model:make --export merged', () => {
  it("has Xenova's merged signature and computes what the with-past model computes from explicit positions", async () => {
    const merged = await ort.InferenceSession.create(join(await tinyMergedModelDir(), 'onnx', 'decoder_model_merged.onnx'));
    try {
      expect(merged.inputNames).not.toContain('position_ids');
      expect(merged.inputNames).toContain('use_cache_branch');
      const ids = [[50256, 50256, 15496, 995], [464, 2068, 7586, 21831]];
      const mask = [[0, 0, 1, 1], [1, 1, 1, 1]];
      const expected = await step(ids, mask, [[1, 1, 0, 1], [0, 1, 2, 3]], emptyPast(2));
      const actual = await merged.run({
        input_ids: int64(ids),
        attention_mask: int64(mask),
        use_cache_branch: new ort.Tensor('bool', [false], [1]),
        ...emptyPast(2),
      });
      expect(maxAbsDiff(actual.logits?.data as Float32Array, expected.logits.data as Float32Array)).toBeLessThan(1e-4);
      const next = await merged.run({
        input_ids: int64([[11], [11]]),
        attention_mask: int64([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]),
        use_cache_branch: new ort.Tensor('bool', [true], [1]),
        ...Object.fromEntries(Object.entries(actual).filter(([k]) => k.startsWith('present')).map(([k, v]) => [k.replace('present', 'past_key_values'), v])),
      });
      const expectedNext = await step([[11], [11]], [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], [[2], [4]], expected.past);
      expect(maxAbsDiff(next.logits?.data as Float32Array, expectedNext.logits.data as Float32Array)).toBeLessThan(1e-4);
    } finally {
      await merged.release();
    }
  });
});

describe('model:make --export preallocated-kv', () => {
  const tinyShape = { ...PRESETS.tiny };
  const initializers = (model: onnx.ModelProto) => new Map((model.graph?.initializer ?? []).filter((t) => t.name?.startsWith('transformer.')).map((t) => [t.name, Buffer.from(t.rawData ?? [])]));

  it('has the same weights as the with-past graph of the seed, and the preallocated-cache signature', async () => {
    const concat = initializers(buildGpt2Model(tinyShape, 42));
    const preallocated = initializers(buildGpt2Model(tinyShape, 42, 'preallocated-kv'));
    expect([...preallocated.keys()]).toEqual([...concat.keys()]);
    for (const [name, bytes] of concat) expect(preallocated.get(name)?.equals(bytes)).toBe(true);
    const session = await ort.InferenceSession.create(join(await tinyVariantDir('tiny-preallocated-kv', { layout: 'preallocated-kv' }), 'onnx', 'model.onnx'));
    try {
      const shapes = (metadata: readonly ort.InferenceSession.ValueMetadata[]) => Object.fromEntries(metadata.map((m) => [m.name, m.isTensor ? m.shape : []]));
      expect(shapes(session.inputMetadata)).toMatchObject({
        attention_mask: ['batch_size', 'cache_capacity + sequence_length'],
        position_ids: ['batch_size', 'sequence_length'],
        'cache.0.key': ['batch_size', nHead, HEAD_DIM, 'cache_capacity'],
        'cache.0.value': ['batch_size', nHead, 'cache_capacity', HEAD_DIM],
      });
      expect(shapes(session.outputMetadata)).toMatchObject({
        'new.1.key': ['batch_size', nHead, HEAD_DIM, 'sequence_length'],
        'new.1.value': ['batch_size', nHead, 'sequence_length', HEAD_DIM],
      });
      expect(session.outputNames.filter((name) => name.startsWith('present'))).toEqual([]);
    } finally {
      await session.release();
    }
  });

  it('refuses fp16-io32, whose Cast nodes would copy the whole cache every step', () => {
    expect(() => buildGpt2Model(tinyShape, 42, 'preallocated-kv', 'fp16-io32')).toThrow(/use --dtype fp32 or fp16, not fp16-io32/);
  });
});

describe('model:make --dtype and --external-data', () => {
  const feeds = (io: 'float32' | 'float16') => {
    const empty = new ort.Tensor(io, io === 'float32' ? new Float32Array(0) : new Uint16Array(0), [1, nHead, 0, HEAD_DIM]);
    return {
      input_ids: int64([[464, 2068, 7586]]),
      attention_mask: int64([[1, 1, 1]]),
      position_ids: int64([[0, 1, 2]]),
      ...Object.fromEntries(Array.from({ length: nLayer }, (_, i) => [[`past_key_values.${i}.key`, empty], [`past_key_values.${i}.value`, empty]]).flat()),
    };
  };
  const typesOf = (s: ort.InferenceSession) => [...s.inputMetadata, ...s.outputMetadata].map((m) => `${m.name}:${m.isTensor ? m.type : '?'}`);

  it('fp16: fp16 weights, inputs and outputs in onnx/model_fp16.onnx', async () => {
    const fp16 = await ort.InferenceSession.create(join(await tinyVariantDir('tiny-fp16', { precision: 'fp16' }), 'onnx', 'model_fp16.onnx'));
    try {
      const types = typesOf(fp16);
      expect(types).toContain('past_key_values.0.key:float16');
      expect(types).toContain('present.1.value:float16');
      expect(types).toContain('logits:float16');
      const out = await fp16.run(feeds('float16'));
      expect(out.logits?.type).toBe('float16');
      expect(out.logits?.dims).toEqual([1, 3, vocabSize]);
    } finally {
      await fp16.release();
    }
  });

  it("fp16-io32: fp16 weights behind fp32 inputs and outputs (Cast nodes), as the hub's model_fp16.onnx; logits close to fp32's", async () => {
    const path = join(await tinyVariantDir('tiny-fp16-io32', { precision: 'fp16-io32' }), 'onnx', 'model_fp16.onnx');
    const proto = onnx.ModelProto.decode(await readFile(path));
    expect(new Set((proto.graph?.initializer ?? []).filter((t) => t.name?.startsWith('transformer.')).map((t) => t.dataType))).toEqual(new Set([onnx.TensorProto.DataType.FLOAT16]));
    expect((proto.graph?.node ?? []).filter((n) => n.opType === 'Cast').length).toBeGreaterThanOrEqual(1 + 4 * nLayer);
    const io32 = await ort.InferenceSession.create(path);
    try {
      expect(typesOf(io32).filter((t) => t.endsWith(':float16'))).toEqual([]);
      const half = await io32.run(feeds('float32'));
      const full = await session.run(feeds('float32'));
      const a = half.logits?.data as Float32Array;
      const b = full.logits?.data as Float32Array;
      // fp16 rounding of weights and activations: small next to the logits' spread (std about 2.4 here).
      expect(maxAbsDiff(a, b)).toBeLessThan(0.25);
      expect(argmax(a.subarray(2 * vocabSize))).toBe(argmax(b.subarray(2 * vocabSize)));
    } finally {
      await io32.release();
    }
  });

  it('--external-data keeps the graph small and the weights in onnx/model.onnx_data, and computes the same logits', async () => {
    const ext = await tinyVariantDir('tiny-external', { externalData: true });
    const graphBytes = (await stat(join(ext, 'onnx', 'model.onnx'))).size;
    const dataBytes = (await stat(join(ext, 'onnx', 'model.onnx_data'))).size;
    expect(graphBytes).toBeLessThan(100_000);
    expect(dataBytes).toBeGreaterThan(13_000_000);
    const proto = onnx.ModelProto.decode(await readFile(join(ext, 'onnx', 'model.onnx')));
    const wte = proto.graph?.initializer?.find((t) => t.name === 'transformer.wte.weight');
    expect(wte?.dataLocation).toBe(onnx.TensorProto.DataLocation.EXTERNAL);
    expect(Object.fromEntries((wte?.externalData ?? []).map((e) => [e.key, e.value]))).toMatchObject({ location: 'model.onnx_data', offset: expect.stringMatching(/^\d+$/) });
    const external = await ort.InferenceSession.create(join(ext, 'onnx', 'model.onnx'));
    try {
      const a = (await external.run(feeds('float32'))).logits?.data as Float32Array;
      const b = (await session.run(feeds('float32'))).logits?.data as Float32Array;
      expect(maxAbsDiff(a, b)).toBe(0);
    } finally {
      await external.release();
    }
  });
});

describe('model:make --tokenizer wordpiece-zh', () => {
  it("writes BERT's WordPiece format with the CJK block, sizes the model's vocabulary to it, and transformers.js reads it", async () => {
    const zh = await tinyVariantDir('tiny-wordpiece-zh', { tokenizer: 'wordpiece-zh' });
    const vocabTxt = (await readFile(join(zh, 'vocab.txt'), 'utf8')).trimEnd().split('\n');
    expect(vocabTxt.slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    expect(vocabTxt).toContain('中');
    const config = JSON.parse(await readFile(join(zh, 'config.json'), 'utf8')) as Record<string, number>;
    expect(config).toMatchObject({ vocab_size: vocabTxt.length, bos_token_id: 2, eos_token_id: 3 });
    env.localModelPath = dirname(zh);
    const tokenizer = await AutoTokenizer.from_pretrained(basename(zh));
    const ids = tokenizer.encode('你好，世界', { add_special_tokens: false });
    expect(ids.map((id) => vocabTxt[id])).toEqual(['你', '好', '，', '世', '界']);
  });
});

describe('buildGpt2Model', () => {
  const weights = (seed: number) => onnx.ModelProto.encode(buildGpt2Model(PRESETS.tiny, seed)).finish();

  it('is deterministic for a seed and differs between seeds', () => {
    const a = weights(7);
    expect(Buffer.from(weights(7)).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(weights(8)).equals(Buffer.from(a))).toBe(false);
  });

  it('has GPT-2-small parameters: the tiny graph matches the GPT-2 count formula, which gives 124M for the gpt2 preset', () => {
    const parameterCount = ({ nLayer: l, nEmbd: e, nPositions: p, vocabSize: v }: typeof PRESETS.gpt2 | typeof PRESETS.tiny) =>
      v * e + p * e + l * (4 * e + (e * 3 * e + 3 * e) + (e * e + e) + (e * 4 * e + 4 * e) + (4 * e * e + e)) + 2 * e;
    const initializers = buildGpt2Model(PRESETS.tiny, 1).graph?.initializer ?? [];
    const counted = initializers
      .filter((t) => t.name?.startsWith('transformer.'))
      .reduce((sum, t) => sum + (t.dims ?? []).reduce<number>((a, b) => a * Number(b), 1), 0);
    expect(counted).toBe(parameterCount(PRESETS.tiny));
    expect(parameterCount(PRESETS.gpt2)).toBe(124_439_808);
  });

  it("weightInit fan-in draws each linear layer's weights at std 1/sqrt(fan_in) and leaves the embeddings and the random stream as they were", () => {
    const tensors = (weightInit: 'fixed' | 'fan-in') =>
      new Map((buildGpt2Model({ ...PRESETS.tiny, weightInit }, 3).graph?.initializer ?? []).map((t) => [t.name ?? '', new Float32Array(new Uint8Array(t.rawData as Uint8Array).slice().buffer)]));
    const fixed = tensors('fixed');
    const fanIn = tensors('fan-in');
    const std = (values: Float32Array) => Math.sqrt(values.reduce((sum, v) => sum + v * v, 0) / values.length);
    const e = PRESETS.tiny.nEmbd;
    expect(std(fanIn.get('transformer.h.0.attn.c_attn.weight')!)).toBeCloseTo(1 / Math.sqrt(e), 2);
    expect(std(fanIn.get('transformer.h.1.mlp.c_proj.weight')!)).toBeCloseTo(1 / Math.sqrt(4 * e), 2);
    expect(std(fixed.get('transformer.h.0.attn.c_attn.weight')!)).toBeCloseTo(PRESETS.tiny.initStd, 2);
    // Same draws, scaled: the embeddings are identical and each linear weight is the fixed one times a constant.
    expect(fanIn.get('transformer.wte.weight')).toEqual(fixed.get('transformer.wte.weight'));
    const ratio = (fanIn.get('transformer.h.0.mlp.c_fc.weight')![5] as number) / (fixed.get('transformer.h.0.mlp.c_fc.weight')![5] as number);
    expect(ratio).toBeCloseTo(1 / Math.sqrt(e) / PRESETS.tiny.initStd, 4);
  });

  it('reports a running count of random weights drawn that ends at randomWeightCount (the progress bar total)', () => {
    const reported: number[] = [];
    buildGpt2Model(PRESETS.tiny, 1, 'with-past', 'fp32', (drawn) => reported.push(drawn));
    expect(reported.length).toBeGreaterThan(nLayer * 4);
    expect(reported).toEqual([...reported].sort((a, b) => a - b));
    expect(reported.at(-1)).toBe(randomWeightCount(PRESETS.tiny));
  });

  it('has a preset for every GPT-2 family shape, with the parameters modelFootprint counts', () => {
    const parameterCount = ({ nLayer: l, nEmbd: e, nPositions: p, vocabSize: v }: (typeof PRESETS)[keyof typeof PRESETS]) =>
      v * e + p * e + l * (4 * e + (e * 3 * e + 3 * e) + (e * e + e) + (e * 4 * e + 4 * e) + (4 * e * e + e)) + 2 * e;
    for (const [size, shape] of Object.entries(GPT2_FAMILY)) {
      expect(PRESET_NAMES).toContain(size);
      expect(parameterCount(PRESETS[size as keyof typeof GPT2_FAMILY])).toBe(modelFootprint(shape, 'fp32').parameters);
    }
  });
});

describe('npm run model:make', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'model-make-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('writes a complete folder and reports the parameter count', async () => {
    const target = join(out, 'tiny');
    const { stdout, stderr } = await run(TSX, ['scripts/model-make.ts', '--preset', 'tiny', '--out', target, '--seed', '3'], { cwd: REPO_ROOT });
    expect(stdout).toMatch(/wrote .*tiny \(preset tiny, seed 3, 3382080 parameters/);
    // Not a terminal here: plain progress lines, no carriage returns.
    expect(stderr).toMatch(/^weights: 3\.4M\/3\.4M \(100%\) in \d+\.\d s\nencoding and writing onnx\/model\.onnx\.\.\.$/m);
    expect(stderr).not.toContain('\r');
    for (const file of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'onnx/model.onnx']) {
      expect((await stat(join(target, file))).size).toBeGreaterThan(0);
    }
  });

  it('writes the chat template it is given into tokenizer_config.json', async () => {
    const target = join(out, 'chat');
    const template = join(out, 'template.jinja');
    await writeFile(template, '{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}');
    await run(TSX, ['scripts/model-make.ts', '--preset', 'tiny', '--out', target, '--chat-template', template], { cwd: REPO_ROOT });
    expect(JSON.parse(await readFile(join(target, 'tokenizer_config.json'), 'utf8'))).toMatchObject({ chat_template: '{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}' });
  });

  it('refuses weights over protobuf\'s 2 GB limit without --external-data, before building them', async () => {
    await expect(run(TSX, ['scripts/model-make.ts', '--preset', 'gpt2-large', '--out', join(out, 'large')], { cwd: REPO_ROOT })).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining("preset gpt2-large in fp32 has about 3.1 GB of weights, over protobuf's 2 GB limit for one .onnx file: add --external-data"),
    });
  });

  it('rejects an unknown preset with usage and exit code 2', async () => {
    await expect(run(TSX, ['scripts/model-make.ts', '--preset', 'huge', '--out', join(out, 'x')], { cwd: REPO_ROOT })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--preset must be one of tiny, distilgpt2, gpt2, gpt2-medium, gpt2-large, gpt2-xl'),
    });
  });
});
