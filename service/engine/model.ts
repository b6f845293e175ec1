// Loads a Hugging Face-layout GPT-2 ONNX export (Optimum "with past" or Xenova's merged decoder) into
// an onnxruntime-node session, after checking config.json and the graph's signature against each other.
import { readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { ModelLoadError } from './errors';

export interface Gpt2Config {
  readonly nLayer: number;
  readonly nHead: number;
  readonly nEmbd: number;
  readonly nPositions: number;
  readonly vocabSize: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
}

export interface LoadModelOptions {
  /** @default 'cpu' */
  readonly executionProvider?: 'cpu' | 'cuda';
  /** onnxruntime intra-op threads. @default onnxruntime's choice (one per physical core) */
  readonly intraOpThreads?: number;
}

export interface LoadedModel {
  readonly dir: string;
  readonly onnxPath: string;
  readonly config: Gpt2Config;
  readonly session: ort.InferenceSession;
  /** merged decoder export (decoder_model_merged.onnx) takes a bool `use_cache_branch` input */
  readonly usesCacheBranch: boolean;
  readonly hasPositionIds: boolean;
  readonly kvDtype: 'float32' | 'float16';
  release(): Promise<void>;
}

/** The ONNX files tried, in order: onnx-community's plain with-past export, then Xenova's merged decoder. */
export const ONNX_CANDIDATES = ['onnx/model.onnx', 'onnx/decoder_model_merged.onnx'] as const;

const MAKE_HINT = 'run npm run model:make -- --preset tiny --out DIR for a test model';

const ConfigFile = z
  .object({
    model_type: z.literal('gpt2'),
    n_layer: z.number().int().positive(),
    n_head: z.number().int().positive(),
    n_embd: z.number().int().positive(),
    n_positions: z.number().int().positive().optional(),
    n_ctx: z.number().int().positive().optional(),
    vocab_size: z.number().int().positive(),
    bos_token_id: z.number().int().nonnegative(),
    eos_token_id: z.number().int().nonnegative(),
  })
  .refine((c) => c.n_embd % c.n_head === 0, { message: 'n_embd must be a multiple of n_head', path: ['n_embd'] })
  .refine((c) => c.n_positions !== undefined || c.n_ctx !== undefined, { message: 'n_positions (or n_ctx) is required', path: ['n_positions'] })
  .transform(
    (c): Gpt2Config => ({
      nLayer: c.n_layer,
      nHead: c.n_head,
      nEmbd: c.n_embd,
      nPositions: (c.n_positions ?? c.n_ctx) as number,
      vocabSize: c.vocab_size,
      bosTokenId: c.bos_token_id,
      eosTokenId: c.eos_token_id,
    }),
  );

export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  if (!(await isDirectory(dir))) throw new ModelLoadError(`MODEL_DIR=${dir} is not a folder (expected a Hugging Face-layout export of gpt2; ${MAKE_HINT})`);
  const config = await readConfig(dir);
  const onnxPath = await findOnnxFile(dir);
  const session = await createSession(dir, onnxPath, options);
  try {
    const signature = checkSignature(session, config, `MODEL_DIR=${dir}: ${relative(dir, onnxPath)}`);
    return { dir, onnxPath, config, session, ...signature, release: () => session.release() };
  } catch (error) {
    await session.release();
    throw error;
  }
}

/** Reads and validates `{dir}/config.json`; exported for tools that need the shape without a session. */
export async function readConfig(dir: string): Promise<Gpt2Config> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ModelLoadError(`MODEL_DIR=${dir} has no config.json (expected an Optimum export of gpt2 with its GPT2Config; ${MAKE_HINT})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`MODEL_DIR=${dir}: config.json is not valid JSON (${(error as Error).message}); re-fetch or regenerate the model`);
  }
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelLoadError(`MODEL_DIR=${dir}: config.json is not a GPT-2 config (${problems}); expected model_type "gpt2" with integer n_layer, n_head, n_embd, n_positions, vocab_size, bos_token_id, eos_token_id`);
  }
  return parsed.data;
}

async function findOnnxFile(dir: string): Promise<string> {
  for (const candidate of ONNX_CANDIDATES) {
    const path = join(dir, candidate);
    if (await isFile(path)) return path;
  }
  throw new ModelLoadError(`MODEL_DIR=${dir} has no ${ONNX_CANDIDATES.join(' or ')} (expected an Optimum export of gpt2; ${MAKE_HINT})`);
}

async function createSession(dir: string, onnxPath: string, options: LoadModelOptions): Promise<ort.InferenceSession> {
  const provider = options.executionProvider ?? 'cpu';
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    ...(options.intraOpThreads === undefined ? {} : { intraOpNumThreads: options.intraOpThreads }),
  };
  try {
    return await ort.InferenceSession.create(onnxPath, sessionOptions);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (provider === 'cuda' && /cuda|shared library|providers/i.test(reason)) {
      throw new ModelLoadError(
        `EXECUTION_PROVIDER=cuda but onnxruntime-node's CUDA execution provider could not be loaded (${reason}). ` +
          'Install it by letting onnxruntime-node download its CUDA binaries at install time (do not set ONNXRUNTIME_NODE_INSTALL=skip) ' +
          'on a host with the CUDA 12 runtime and cuDNN 9, or set EXECUTION_PROVIDER=cpu.',
      );
    }
    throw new ModelLoadError(`MODEL_DIR=${dir}: onnxruntime could not load ${relative(dir, onnxPath)} (${reason}); the file may be truncated or not an ONNX model: re-fetch or regenerate it`);
  }
}

type Signature = Pick<LoadedModel, 'usesCacheBranch' | 'hasPositionIds' | 'kvDtype'>;
type TensorInfo = { readonly type: string; readonly shape: readonly (number | string)[] };

/** Checks names, element types and ranks of the graph's inputs and outputs against config.json. */
function checkSignature(session: ort.InferenceSession, config: Gpt2Config, where: string): Signature {
  const inputs = tensorInfos(session.inputMetadata, where);
  const outputs = tensorInfos(session.outputMetadata, where);
  const fail = (what: string): never => {
    throw new ModelLoadError(`${where} ${what} (expected the Optimum gpt2 "with past" signature for config.json's n_layer=${config.nLayer}, n_head=${config.nHead})`);
  };
  const expectTensor = (infos: Map<string, TensorInfo>, kind: string, name: string, types: readonly string[], rank: number): TensorInfo => {
    const info = infos.get(name) ?? fail(`has no ${kind} ${name}`);
    if (!types.includes(info.type)) fail(`${kind} ${name} is ${info.type}, not ${types.join(' or ')}`);
    if (info.shape.length !== rank) fail(`${kind} ${name} has rank ${info.shape.length}, not ${rank}`);
    return info;
  };

  expectTensor(inputs, 'input', 'input_ids', ['int64'], 2);
  expectTensor(inputs, 'input', 'attention_mask', ['int64'], 2);
  const hasPositionIds = inputs.has('position_ids');
  if (hasPositionIds) expectTensor(inputs, 'input', 'position_ids', ['int64'], 2);
  const usesCacheBranch = inputs.has('use_cache_branch');
  if (usesCacheBranch) expectTensor(inputs, 'input', 'use_cache_branch', ['bool'], 1);
  const logits = expectTensor(outputs, 'output', 'logits', ['float32', 'float16'], 3);
  const vocab = logits.shape[2];
  if (typeof vocab === 'number' && vocab !== config.vocabSize) fail(`output logits has vocab dimension ${vocab} but config.json says vocab_size=${config.vocabSize}`);

  const pastLayers = countLayers([...inputs.keys()], /^past_key_values\.(\d+)\.(key|value)$/) ?? fail('has past_key_values inputs that are not one key and one value per layer 0..n-1');
  if (pastLayers !== config.nLayer) fail(`has past_key_values inputs for ${pastLayers} layers but config.json says n_layer=${config.nLayer}`);
  const presentLayers = countLayers([...outputs.keys()], /^present\.(\d+)\.(key|value)$/) ?? fail('has present outputs that are not one key and one value per layer 0..n-1');
  if (presentLayers !== config.nLayer) fail(`has present outputs for ${presentLayers} layers but config.json says n_layer=${config.nLayer}`);

  const headDim = config.nEmbd / config.nHead;
  const kvDtype = expectTensor(inputs, 'input', 'past_key_values.0.key', ['float32', 'float16'], 4).type as Signature['kvDtype'];
  for (let i = 0; i < config.nLayer; i++) {
    for (const kind of ['key', 'value']) {
      const past = expectTensor(inputs, 'input', `past_key_values.${i}.${kind}`, [kvDtype], 4);
      expectTensor(outputs, 'output', `present.${i}.${kind}`, [kvDtype], 4);
      const [, heads, , dim] = past.shape;
      if (typeof heads === 'number' && heads !== config.nHead) fail(`input past_key_values.${i}.${kind} has ${heads} heads but config.json says n_head=${config.nHead}`);
      if (typeof dim === 'number' && dim !== headDim) fail(`input past_key_values.${i}.${kind} has head size ${dim}, not n_embd/n_head=${headDim}`);
    }
  }
  const known = new Set(['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch']);
  const unknown = [...inputs.keys()].filter((name) => !known.has(name) && !name.startsWith('past_key_values.'));
  if (unknown.length > 0) fail(`has inputs the engine does not feed: ${unknown.join(', ')}`);
  return { usesCacheBranch, hasPositionIds, kvDtype };
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

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}
