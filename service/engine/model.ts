// Loads a Hugging Face-layout GPT-2 ONNX export (Optimum "with past" or Xenova's merged decoder, any
// dtype, external data beside it; or model:make's preallocated-kv graph) into an onnxruntime-node
// session, after checking config.json and the graph's signature (names, element types, ranks) against
// each other; the signature also says which KV cache strategy the graph takes.
import { stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ModelDtype } from '../models/footprint';
import { findGraph } from '../models/model-files';
import { explainWebGpuFailure, missingVulkanPiece } from './device-kv/vulkan-check';
import { ModelLoadError } from './errors';
import type { ExecutionProvider } from './defaults';
import { MAKE_HINT, readConfig, type Gpt2Config } from './model-config';

export type { ExecutionProvider } from './defaults';

export interface LoadModelOptions {
  /** @default 'cpu' */
  readonly executionProvider?: ExecutionProvider;
  /** onnxruntime intra-op threads. @default onnxruntime's choice (one per physical core) */
  readonly intraOpThreads?: number;
  /** MODEL_DTYPE: which graph of the folder to load (transformers.js' names). @default 'fp32' */
  readonly dtype?: ModelDtype;
  /** MODEL_FILE: a graph path inside the folder; overrides `dtype`. */
  readonly file?: string | undefined;
}

/** Element types of the graph's float inputs and outputs, as read from it at load. */
export type FloatType = 'float32' | 'float16';

/**
 * How the graph takes its KV cache, read from its signature: `concat` (past_key_values in, present
 * out: the public exports) or `preallocated` (cache.{i} buffers read in place, new.{i} out: model:make
 * --export preallocated-kv). The engine picks its cache strategy from it.
 */
export type KvCacheLayout = 'concat' | 'preallocated';

export interface LoadedModel {
  readonly dir: string;
  readonly onnxPath: string;
  /** External data files loaded beside the graph (paths inside the folder). */
  readonly externalData: readonly string[];
  readonly config: Gpt2Config;
  readonly session: ort.InferenceSession;
  readonly executionProvider: ExecutionProvider;
  /** merged decoder export (decoder_model_merged.onnx) takes a bool `use_cache_branch` input */
  readonly usesCacheBranch: boolean;
  readonly hasPositionIds: boolean;
  readonly kvCache: KvCacheLayout;
  /** The cache's inputs and outputs (past_key_values/present, or cache/new). */
  readonly kvDtype: FloatType;
  /** logits output; float16 logits are widened to float32 for sampling. */
  readonly logitsDtype: FloatType;
  release(): Promise<void>;
}

const FLOAT_TYPES: readonly FloatType[] = ['float32', 'float16'];

export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  if (!(await isDirectory(dir))) throw new ModelLoadError(`MODEL_DIR=${dir} is not a folder (expected a Hugging Face-layout export of gpt2; ${MAKE_HINT})`);
  const config = await readConfig(dir);
  const { graph, externalData } = await findGraph(dir, options);
  const onnxPath = join(dir, graph);
  const session = await createSession(dir, onnxPath, externalData, options);
  try {
    const signature = checkSignature(session, config, `MODEL_DIR=${dir}: ${graph}`);
    const executionProvider = options.executionProvider ?? 'cpu';
    return { dir, onnxPath, externalData, config, session, executionProvider, ...signature, release: () => session.release() };
  } catch (error) {
    await session.release();
    throw error;
  }
}

/** Session options per provider: webgpu keeps every output (present.*, logits) on the device. */
function sessionOptionsFor(provider: ExecutionProvider, intraOpThreads?: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    ...(intraOpThreads === undefined ? {} : { intraOpNumThreads: intraOpThreads }),
    ...(provider === 'webgpu' ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
  };
}

async function createSession(dir: string, onnxPath: string, externalData: readonly string[], options: LoadModelOptions): Promise<ort.InferenceSession> {
  const provider = options.executionProvider ?? 'cpu';
  if (provider === 'webgpu') {
    const missing = missingVulkanPiece();
    if (missing) throw new ModelLoadError(missing);
  }
  try {
    return await ort.InferenceSession.create(onnxPath, sessionOptionsFor(provider, options.intraOpThreads));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (provider === 'webgpu' && /vulkan|adapter|webgpu|dawn/i.test(reason)) throw new ModelLoadError(explainWebGpuFailure(reason));
    if (provider === 'cuda' && /cuda|shared library|providers/i.test(reason)) {
      throw new ModelLoadError(
        `EXECUTION_PROVIDER=cuda but onnxruntime-node's CUDA execution provider could not be loaded (${reason}). ` +
          'Install it by letting onnxruntime-node download its CUDA binaries at install time (do not set ONNXRUNTIME_NODE_INSTALL=skip) ' +
          'on a host with the CUDA 12 runtime and cuDNN 9, or set EXECUTION_PROVIDER=cpu.',
      );
    }
    // A graph whose weights live in external data names the data file in each initializer; onnxruntime
    // reads it from beside the graph (given a path, as here, also when it is many GB).
    const data = externalData.length > 0 ? `; its external data: ${externalData.join(', ')}` : '';
    const hint = /external|data file|No such file|open file/i.test(reason)
      ? `the graph's external data (${basename(onnxPath)}_data, next to it) is missing or incomplete${data}: fetch the graph again with npm run model:fetch (it downloads the data files with it)`
      : `the file may be truncated or not an ONNX model${data}: re-fetch or regenerate it`;
    throw new ModelLoadError(`MODEL_DIR=${dir}: onnxruntime could not load ${relative(dir, onnxPath)} (${reason}); ${hint}`);
  }
}

type Signature = Pick<LoadedModel, 'usesCacheBranch' | 'hasPositionIds' | 'kvCache' | 'kvDtype' | 'logitsDtype'>;
type TensorInfo = { readonly type: string; readonly shape: readonly (number | string)[] };

/**
 * Checks names, element types and ranks of the graph's inputs and outputs against config.json, at
 * load, so that a graph the engine cannot run fails at start-up rather than at the first request.
 * Quantized graphs (MatMulInteger, MatMulNBits, MatMulBnb4) and fp16 graphs converted with
 * keep_io_types have float32 inputs and outputs; fp16 graphs without it have float16 ones.
 */
function checkSignature(session: ort.InferenceSession, config: Gpt2Config, where: string): Signature {
  const inputs = tensorInfos(session.inputMetadata, where);
  const outputs = tensorInfos(session.outputMetadata, where);
  const preallocated = inputs.has('cache.0.key');
  const expected = preallocated ? "model:make's preallocated-kv signature" : 'the Optimum gpt2 "with past" signature';
  const fail = (what: string): never => {
    throw new ModelLoadError(`${where} ${what} (expected ${expected} for config.json's n_layer=${config.nLayer}, n_head=${config.nHead})`);
  };
  const expectTensor = (infos: Map<string, TensorInfo>, kind: string, name: string, types: readonly string[], rank: number): TensorInfo => {
    const info = infos.get(name) ?? fail(`has no ${kind} ${name}`);
    if (!types.includes(info.type)) fail(`${kind} ${name} is ${info.type}; the engine runs ${types.join(' or ')} there`);
    if (info.shape.length !== rank) fail(`${kind} ${name} has rank ${info.shape.length}, not ${rank}`);
    return info;
  };

  expectTensor(inputs, 'input', 'input_ids', ['int64'], 2);
  expectTensor(inputs, 'input', 'attention_mask', ['int64'], 2);
  const hasPositionIds = inputs.has('position_ids');
  if (hasPositionIds) expectTensor(inputs, 'input', 'position_ids', ['int64'], 2);
  const usesCacheBranch = inputs.has('use_cache_branch');
  if (usesCacheBranch) expectTensor(inputs, 'input', 'use_cache_branch', ['bool'], 1);
  const logits = expectTensor(outputs, 'output', 'logits', FLOAT_TYPES, 3);
  const vocab = logits.shape[2];
  if (typeof vocab === 'number' && vocab !== config.vocabSize) fail(`output logits has vocab dimension ${vocab} but config.json says vocab_size=${config.vocabSize}`);

  const headDim = config.nEmbd / config.nHead;
  const checkHeads = (name: string, info: TensorInfo, headsAt: number, dimAt: number) => {
    const heads = info.shape[headsAt];
    const dim = info.shape[dimAt];
    if (typeof heads === 'number' && heads !== config.nHead) fail(`input ${name} has ${heads} heads but config.json says n_head=${config.nHead}`);
    if (typeof dim === 'number' && dim !== headDim) fail(`input ${name} has head size ${dim}, not n_embd/n_head=${headDim}`);
  };
  const logitsDtype = logits.type as FloatType;
  if (preallocated) {
    return { usesCacheBranch, hasPositionIds, logitsDtype, kvCache: 'preallocated', kvDtype: checkPreallocatedCache(inputs, outputs, config, expectTensor, checkHeads, fail) };
  }

  const pastLayers = countLayers([...inputs.keys()], /^past_key_values\.(\d+)\.(key|value)$/) ?? fail('has past_key_values inputs that are not one key and one value per layer 0..n-1');
  if (pastLayers !== config.nLayer) fail(`has past_key_values inputs for ${pastLayers} layers but config.json says n_layer=${config.nLayer}`);
  const presentLayers = countLayers([...outputs.keys()], /^present\.(\d+)\.(key|value)$/) ?? fail('has present outputs that are not one key and one value per layer 0..n-1');
  if (presentLayers !== config.nLayer) fail(`has present outputs for ${presentLayers} layers but config.json says n_layer=${config.nLayer}`);

  // The cache's type is the first past input's; every past and present must share it, since a
  // step's present becomes the next step's past as it is.
  const kvDtype = expectTensor(inputs, 'input', 'past_key_values.0.key', FLOAT_TYPES, 4).type as FloatType;
  for (let i = 0; i < config.nLayer; i++) {
    for (const kind of ['key', 'value']) {
      const name = `past_key_values.${i}.${kind}`;
      checkHeads(name, expectTensor(inputs, 'input', name, [kvDtype], 4), 1, 3);
      expectTensor(outputs, 'output', `present.${i}.${kind}`, [kvDtype], 4);
    }
  }
  checkNoUnknownInputs(inputs, 'past_key_values.', fail);
  return { usesCacheBranch, hasPositionIds, kvCache: 'concat', kvDtype, logitsDtype };
}

type ExpectTensor = (infos: Map<string, TensorInfo>, kind: string, name: string, types: readonly string[], rank: number) => TensorInfo;
type CheckHeads = (name: string, info: TensorInfo, headsAt: number, dimAt: number) => void;

/**
 * The preallocated-cache signature: position_ids, no use_cache_branch, and per layer `cache.{i}.key`
 * `[batch, heads, head_dim, capacity]` (keys stored transposed, so attention reads them in place),
 * `cache.{i}.value` `[batch, heads, capacity, head_dim]` in, `new.{i}.key` `[batch, heads, head_dim, seq]`
 * and `new.{i}.value` `[batch, heads, seq, head_dim]` out. Returns the cache's element type.
 */
function checkPreallocatedCache(
  inputs: Map<string, TensorInfo>,
  outputs: Map<string, TensorInfo>,
  config: Gpt2Config,
  expectTensor: ExpectTensor,
  checkHeads: CheckHeads,
  fail: (what: string) => never,
): FloatType {
  if (!inputs.has('position_ids')) fail('has cache.* inputs but no position_ids input (the preallocated-cache signature needs it)');
  if (inputs.has('use_cache_branch')) fail('has cache.* inputs and a use_cache_branch input (the preallocated-cache signature has no branch)');
  const layers = countLayers([...inputs.keys()], /^cache\.(\d+)\.(key|value)$/) ?? fail('has cache inputs that are not one key and one value per layer 0..n-1');
  if (layers !== config.nLayer) fail(`has cache inputs for ${layers} layers but config.json says n_layer=${config.nLayer}`);
  const kvDtype = expectTensor(inputs, 'input', 'cache.0.key', FLOAT_TYPES, 4).type as FloatType;
  for (let i = 0; i < config.nLayer; i++) {
    checkHeads(`cache.${i}.key`, expectTensor(inputs, 'input', `cache.${i}.key`, [kvDtype], 4), 1, 2);
    checkHeads(`cache.${i}.value`, expectTensor(inputs, 'input', `cache.${i}.value`, [kvDtype], 4), 1, 3);
    expectTensor(outputs, 'output', `new.${i}.key`, [kvDtype], 4);
    expectTensor(outputs, 'output', `new.${i}.value`, [kvDtype], 4);
  }
  checkNoUnknownInputs(inputs, 'cache.', fail);
  return kvDtype;
}

function checkNoUnknownInputs(inputs: Map<string, TensorInfo>, cachePrefix: string, fail: (what: string) => never): void {
  const known = new Set(['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch']);
  const unknown = [...inputs.keys()].filter((name) => !known.has(name) && !name.startsWith(cachePrefix));
  if (unknown.length > 0) fail(`has inputs the engine does not feed: ${unknown.join(', ')}`);
}

function tensorInfos(metadata: readonly ort.InferenceSession.ValueMetadata[], where: string): Map<string, TensorInfo> {
  const infos = new Map<string, TensorInfo>();
  for (const value of metadata) {
    if (!value.isTensor) throw new ModelLoadError(`${where} has a non-tensor input or output ${value.name} (expected a GPT-2 decoder export)`);
    infos.set(value.name, { type: value.type, shape: value.shape });
  }
  return infos;
}

/** Number of layers whose key and value both appear; undefined if the names have gaps or half pairs. */
function countLayers(names: readonly string[], pattern: RegExp): number | undefined {
  const seen = new Map<number, Set<string>>();
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match) continue;
    const layer = Number(match[1]);
    seen.set(layer, (seen.get(layer) ?? new Set()).add(match[2] as string));
  }
  for (let i = 0; i < seen.size; i++) if (seen.get(i)?.size !== 2) return undefined;
  return seen.size;
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}
