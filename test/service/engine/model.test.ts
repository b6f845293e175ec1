/** @jest-environment ./test/support/onnx-environment.js */
// loadModel: the tiny model loads with the signature the engine relies on, and every broken copy
// fails with a ModelLoadError that names the file and what was expected.
import { cp, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { ModelLoadError } from '../../../service/engine/errors';
import { loadModel } from '../../../service/engine/model';
import { readConfig } from '../../../service/engine/model-config';
import { tinyMergedModelDir, tinyModelDir, tinyVariantDir } from '../../support/models';

let tiny: string;
let tinyFp16: string;
let scratch: string;

beforeAll(async () => {
  tiny = await tinyModelDir();
  tinyFp16 = join(await tinyVariantDir('tiny-fp16', { precision: 'fp16' }), 'onnx', 'model_fp16.onnx');
  scratch = await mkdtemp(join(tmpdir(), 'model-test-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A copy of the tiny model, changed by `breakIt`. */
async function brokenCopy(name: string, breakIt: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(scratch, name);
  await cp(tiny, dir, { recursive: true });
  await breakIt(dir);
  return dir;
}

async function editConfig(dir: string, edit: (config: Record<string, unknown>) => void): Promise<void> {
  const path = join(dir, 'config.json');
  const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  edit(config);
  await writeFile(path, JSON.stringify(config));
}

async function loadError(dir: string, options?: Parameters<typeof loadModel>[1]): Promise<ModelLoadError> {
  const error = await loadModel(dir, options).then(
    (model) => model.release().then(() => undefined),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelLoadError);
  return error as ModelLoadError;
}

describe('loadModel', () => {
  it('loads the tiny model with its config and signature, and the session runs', async () => {
    const model = await loadModel(tiny, { intraOpThreads: 1 });
    try {
      expect(model.onnxPath).toBe(join(tiny, 'onnx', 'model.onnx'));
      expect(model.config).toEqual({ nLayer: 2, nHead: 4, nEmbd: 64, nPositions: 1024, vocabSize: 50257, bosTokenId: 50256, eosTokenId: 50256 });
      expect(model).toMatchObject({ usesCacheBranch: false, hasPositionIds: true, kvDtype: 'float32' });
      const empty = new ort.Tensor('float32', new Float32Array(0), [1, 4, 0, 16]);
      const out = await model.session.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from([464n, 2068n]), [1, 2]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from([1n, 1n]), [1, 2]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from([0n, 1n]), [1, 2]),
        ...Object.fromEntries([0, 1].flatMap((i) => [[`past_key_values.${i}.key`, empty], [`past_key_values.${i}.value`, empty]])),
      });
      expect(out.logits?.dims).toEqual([1, 2, 50257]);
    } finally {
      await model.release();
    }
  });

  it("loads Xenova's merged decoder layout: use_cache_branch, no position_ids", async () => {
    const dir = await tinyMergedModelDir();
    const model = await loadModel(dir);
    try {
      expect(model.onnxPath).toBe(join(dir, 'onnx', 'decoder_model_merged.onnx'));
      expect(model).toMatchObject({ usesCacheBranch: true, hasPositionIds: false, kvDtype: 'float32' });
    } finally {
      await model.release();
    }
  });

  it('picks the graph MODEL_DTYPE names among several, reads its float types, and refuses one the folder lacks', async () => {
    const dir = await brokenCopy('two-dtypes', (d) => cp(tinyFp16, join(d, 'onnx', 'model_fp16.onnx')));
    const fp16 = await loadModel(dir, { dtype: 'fp16' });
    await fp16.release();
    expect(fp16).toMatchObject({ onnxPath: join(dir, 'onnx', 'model_fp16.onnx'), kvDtype: 'float16', logitsDtype: 'float16', externalData: [] });
    const byFile = await loadModel(dir, { dtype: 'fp16', file: 'onnx/model.onnx' });
    await byFile.release();
    expect(byFile).toMatchObject({ onnxPath: join(dir, 'onnx', 'model.onnx'), kvDtype: 'float32', logitsDtype: 'float32' });
    expect((await loadError(dir, { dtype: 'q8' })).message).toBe(
      `MODEL_DIR=${dir} has no q8 graph (looked for onnx/model_quantized.onnx, onnx/decoder_model_merged_quantized.onnx); it has: fp32, fp16 (set MODEL_DTYPE to one of them) (expected an ONNX export of a GPT-2 model; run npm run model:make -- --preset tiny --out DIR for a test model)`,
    );
  });

  it('refuses at load a graph whose logits the engine cannot sample, naming the file, the type and what runs', async () => {
    const dir = await brokenCopy('double-logits', async (d) => {
      const path = join(d, 'onnx', 'model.onnx');
      const model = onnx.ModelProto.decode(await readFile(path));
      const graph = model.graph!;
      for (const node of graph.node ?? []) node.output = (node.output ?? []).map((name) => (name === 'logits' ? 'logits_float' : name));
      graph.node!.push(onnx.NodeProto.create({ name: 'to_double', opType: 'Cast', input: ['logits_float'], output: ['logits'], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.DOUBLE }] }));
      graph.output!.find((o) => o.name === 'logits')!.type!.tensorType!.elemType = onnx.TensorProto.DataType.DOUBLE;
      await writeFile(path, onnx.ModelProto.encode(model).finish());
    });
    expect((await loadError(dir)).message).toBe(
      `MODEL_DIR=${dir}: onnx/model.onnx output logits is float64; the engine runs float32 or float16 there (expected the Optimum gpt2 "with past" signature for config.json's n_layer=2, n_head=4)`,
    );
  });

  it('names the missing external data when the graph cannot find it', async () => {
    const dir = join(scratch, 'no-data');
    await cp(await tinyVariantDir('tiny-external', { externalData: true }), dir, { recursive: true });
    await rm(join(dir, 'onnx', 'model.onnx_data'));
    expect((await loadError(dir)).message).toMatch(
      /^MODEL_DIR=.*: onnxruntime could not load onnx\/model\.onnx \(.+\); the graph's external data \(model\.onnx_data, next to it\) is missing or incomplete: fetch the graph again with npm run model:fetch/,
    );
  });

  it('rejects a graph with an input the engine does not feed', async () => {
    const dir = await brokenCopy('extra-input', async (d) => {
      const path = join(d, 'onnx', 'model.onnx');
      const model = onnx.ModelProto.decode(await readFile(path));
      model.graph?.input?.push(
        onnx.ValueInfoProto.create({ name: 'token_type_ids', type: { tensorType: { elemType: onnx.TensorProto.DataType.INT64, shape: { dim: [{ dimParam: 'b' }, { dimParam: 's' }] } } } }),
      );
      await writeFile(path, onnx.ModelProto.encode(model).finish());
    });
    expect((await loadError(dir)).message).toContain(`MODEL_DIR=${dir}: onnx/model.onnx has inputs the engine does not feed: token_type_ids`);
  });

  it('rejects a folder that does not exist', async () => {
    const error = await loadError(join(scratch, 'nowhere'));
    expect(error.message).toBe(`MODEL_DIR=${join(scratch, 'nowhere')} is not a folder (expected a Hugging Face-layout export of gpt2; run npm run model:make -- --preset tiny --out DIR for a test model)`);
  });

  it('rejects a folder without an ONNX file, naming the files it looked for', async () => {
    const dir = await brokenCopy('no-onnx', (d) => rm(join(d, 'onnx'), { recursive: true }));
    const error = await loadError(dir);
    expect(error.message).toBe(
      `MODEL_DIR=${dir} has no fp32 graph (looked for onnx/model.onnx, onnx/decoder_model_merged.onnx); it has no graph named as transformers.js names them (expected an ONNX export of a GPT-2 model; run npm run model:make -- --preset tiny --out DIR for a test model)`,
    );
  });

  it('rejects a folder without config.json', async () => {
    const dir = await brokenCopy('no-config', (d) => rm(join(d, 'config.json')));
    expect((await loadError(dir)).message).toContain(`MODEL_DIR=${dir} has no config.json`);
  });

  it('rejects a config.json that is not JSON', async () => {
    const dir = await brokenCopy('bad-json', (d) => writeFile(join(d, 'config.json'), '{"model_type": "gpt2",'));
    expect((await loadError(dir)).message).toMatch(new RegExp(`^MODEL_DIR=${dir}: config.json is not valid JSON`));
  });

  it('refuses a config.json of another architecture, naming the model_type it found', async () => {
    const dir = await brokenCopy('llama-config', (d) => editConfig(d, (c) => (c.model_type = 'llama')));
    expect((await loadError(dir)).message).toBe(
      `MODEL_DIR=${dir}: config.json has model_type "llama": this engine runs GPT-2 architecture models only (model_type "gpt2": gpt2, distilgpt2, gpt2-medium/large/xl and their fine-tunes)`,
    );
  });

  it('rejects a GPT-2 config.json with missing fields, naming them', async () => {
    const dir = await brokenCopy('bad-config', (d) =>
      editConfig(d, (c) => {
        delete c.n_layer;
        delete c.vocab_size;
      }),
    );
    const { message } = await loadError(dir);
    expect(message).toContain(`MODEL_DIR=${dir}: config.json is not a GPT-2 config (`);
    expect(message).toContain('n_layer: ');
    expect(message).toContain('vocab_size: ');
  });

  it('rejects a config.json whose n_layer does not match the graph', async () => {
    const dir = await brokenCopy('wrong-layers', (d) => editConfig(d, (c) => (c.n_layer = 3)));
    expect((await loadError(dir)).message).toBe(
      `MODEL_DIR=${dir}: onnx/model.onnx has past_key_values inputs for 2 layers but config.json says n_layer=3 (expected the Optimum gpt2 "with past" signature for config.json's n_layer=3, n_head=4)`,
    );
  });

  it('rejects a preallocated-kv graph whose cache does not match config.json, naming that signature', async () => {
    const dir = join(scratch, 'preallocated-wrong-heads');
    await cp(await tinyVariantDir('tiny-preallocated-kv', { layout: 'preallocated-kv' }), dir, { recursive: true });
    await editConfig(dir, (c) => (c.n_head = 8));
    expect((await loadError(dir)).message).toBe(
      `MODEL_DIR=${dir}: onnx/model.onnx input cache.0.key has 4 heads but config.json says n_head=8 (expected model:make's preallocated-kv signature for config.json's n_layer=2, n_head=8)`,
    );
  });

  it('rejects a config.json whose n_head does not match the graph', async () => {
    const dir = await brokenCopy('wrong-heads', (d) => editConfig(d, (c) => (c.n_head = 8)));
    expect((await loadError(dir)).message).toContain('onnx/model.onnx input past_key_values.0.key has 4 heads but config.json says n_head=8');
  });

  it('rejects a config.json whose vocab_size does not match the logits', async () => {
    const dir = await brokenCopy('wrong-vocab', (d) => editConfig(d, (c) => (c.vocab_size = 50000)));
    expect((await loadError(dir)).message).toContain('output logits has vocab dimension 50257 but config.json says vocab_size=50000');
  });

  it('rejects a truncated ONNX file with a hint to re-fetch or regenerate', async () => {
    const dir = await brokenCopy('truncated', (d) => truncate(join(d, 'onnx', 'model.onnx'), 100_000));
    expect((await loadError(dir)).message).toMatch(/onnxruntime could not load onnx\/model\.onnx \(.+\); the file may be truncated or not an ONNX model: re-fetch or regenerate it$/);
  });

  it('explains that the CUDA provider is not installed when asked for cuda', async () => {
    const { message } = await loadError(tiny, { executionProvider: 'cuda' });
    expect(message).toMatch(/^EXECUTION_PROVIDER=cuda but onnxruntime-node's CUDA execution provider could not be loaded \(.+\)\. /);
    expect(message).toContain('or set EXECUTION_PROVIDER=cpu.');
  });
});

describe('readConfig', () => {
  it('accepts n_ctx when n_positions is absent', async () => {
    const dir = await brokenCopy('n-ctx-only', (d) => editConfig(d, (c) => delete c.n_positions));
    expect((await readConfig(dir)).nPositions).toBe(1024);
  });
});
