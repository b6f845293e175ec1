// Writes a complete Hugging Face-layout GPT-2 folder (config, tokenizer, one ONNX graph) for a preset,
// named as the public exports name it so MODEL_DTYPE picks it: onnx/model{suffix}.onnx (with-past) or
// onnx/decoder_model_merged{suffix}.onnx (merged), weights inside or in {graph}_data beside it.
import { existsSync } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { onnx } from 'onnx-proto';
import { DTYPE_SUFFIX } from '../../service/models/model-files';
import type { ModelDtype } from '../../service/models/footprint';
import { generationConfigJson, gpt2ConfigJson } from './config-files';
import { moveToExternalData } from './external-data';
import { buildGpt2Model, randomWeightCount, type ExportLayout, type GraphPrecision } from './gpt2-graph';
import { PRESETS, type PresetName, type WeightInit } from './presets';
import { gpt2TokenizerFiles, type TokenizerFiles } from './tokenizer-files';
import { wordpieceZhTokenizerFiles } from './wordpiece-zh-files';

/**
 * Bump when the graph or files change: test/support/models.ts regenerates cached test models whose
 * marker carries another version.
 */
export const GENERATOR_VERSION = 3;
export const MARKER_FILE = 'model-make.json';

/** The tokenizers model:make can write: GPT-2's real one, or a Chinese WordPiece vocabulary. */
export type TokenizerKind = 'gpt2' | 'wordpiece-zh';
export const TOKENIZER_KINDS: readonly TokenizerKind[] = ['gpt2', 'wordpiece-zh'];

/** The dtype each precision is served as: both fp16 graphs are `_fp16` files, as on the hub. */
const SERVED_DTYPE: Readonly<Record<GraphPrecision, ModelDtype>> = { fp32: 'fp32', fp16: 'fp16', 'fp16-io32': 'fp16' };

const BASENAME: Readonly<Record<ExportLayout, string>> = { 'with-past': 'model', merged: 'decoder_model_merged', 'preallocated-kv': 'model' };

/** protobuf cannot encode a message of 2 GiB or more: larger weights must go to external data. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface WriteModelOptions {
  readonly preset: PresetName;
  /** @default 42 */
  readonly seed?: number;
  /** @default 'with-past' */
  readonly layout?: ExportLayout;
  /** @default 'fp32' */
  readonly precision?: GraphPrecision;
  /** Weights in `{graph}_data` beside the graph. @default false */
  readonly externalData?: boolean;
  /** @default 'gpt2' */
  readonly tokenizer?: TokenizerKind;
  /** How the linear layers' weights are drawn (see WeightInit). @default 'fixed' */
  readonly weightInit?: WeightInit;
  /** A Jinja chat template for tokenizer_config.json's `chat_template`. @default none */
  readonly chatTemplate?: string;
  /** Progress: the random weights drawn so far of their total, then the start of encoding and writing. */
  readonly onProgress?: (progress: ModelWriteProgress) => void;
}

export type ModelWriteProgress = { readonly stage: 'weights'; readonly drawn: number; readonly total: number } | { readonly stage: 'writing'; readonly graph: string };

/** Where a layout's graph of a precision lives in the folder, as the hub's exports name it. */
export function graphFile(layout: ExportLayout, precision: GraphPrecision): string {
  return `onnx/${BASENAME[layout]}${DTYPE_SUFFIX[SERVED_DTYPE[precision]]}.onnx`;
}

export interface WrittenModel {
  readonly dir: string;
  readonly graph: string;
  /** The graph and its external data, in bytes. */
  readonly onnxBytes: number;
  readonly parameters: number;
}

export async function writeModelDir(dir: string, options: WriteModelOptions): Promise<WrittenModel> {
  const seed = options.seed ?? 42;
  const layout = options.layout ?? 'with-past';
  const precision = options.precision ?? 'fp32';
  const tokenizerKind = options.tokenizer ?? 'gpt2';
  const preset = PRESETS[options.preset];
  const tokenizer = tokenizerFiles(tokenizerKind, preset.nPositions);
  // The vocabulary decides the embedding and the logits' width.
  const weightInit = options.weightInit ?? 'fixed';
  const shape = { ...preset, vocabSize: tokenizer.vocabSize, weightInit };
  const bytesPerWeight = precision === 'fp32' ? 4 : 2;
  const parameterEstimate = randomWeightCount(shape);
  if (!options.externalData && parameterEstimate * bytesPerWeight >= PROTOBUF_LIMIT) {
    throw new Error(`preset ${options.preset} in ${precision} has about ${((parameterEstimate * bytesPerWeight) / 1e9).toFixed(1)} GB of weights, over protobuf's 2 GB limit for one .onnx file: add --external-data`);
  }
  const onProgress = options.onProgress;
  const model = buildGpt2Model(shape, seed, layout, precision, onProgress && ((drawn) => onProgress({ stage: 'weights', drawn, total: parameterEstimate })));
  const parameters = (model.graph?.initializer ?? [])
    .filter((t) => t.name?.startsWith('transformer.'))
    .reduce((sum, t) => sum + (t.dims ?? []).reduce<number>((a, b) => a * Number(b), 1), 0);

  const graph = graphFile(layout, precision);
  onProgress?.({ stage: 'writing', graph });
  await mkdir(join(dir, 'onnx'), { recursive: true });
  let dataBytes = 0;
  if (options.externalData) {
    const dataFile = `${graph.slice('onnx/'.length)}_data`;
    const handle = await open(join(dir, 'onnx', dataFile), 'w');
    try {
      for (const chunk of moveToExternalData(model, dataFile)) {
        await handle.write(chunk);
        dataBytes += chunk.byteLength;
      }
    } finally {
      await handle.close();
    }
  }
  const bytes = onnx.ModelProto.encode(model).finish();
  await writeFile(join(dir, graph), bytes);

  const ids = { bosTokenId: tokenizer.bosTokenId, eosTokenId: tokenizer.eosTokenId };
  await writeFile(join(dir, 'config.json'), gpt2ConfigJson(shape, `random-gpt2-${options.preset}`, ids));
  await writeFile(join(dir, 'generation_config.json'), generationConfigJson(ids));
  for (const [name, text] of Object.entries(tokenizer.files)) {
    await writeFile(join(dir, name), name === 'tokenizer_config.json' && options.chatTemplate !== undefined ? withChatTemplate(text, options.chatTemplate) : text);
  }
  const marker = { generatorVersion: GENERATOR_VERSION, preset: options.preset, seed, layout, precision, externalData: options.externalData === true, tokenizer: tokenizerKind, chatTemplate: options.chatTemplate ?? null, weightInit };
  await writeFile(join(dir, MARKER_FILE), JSON.stringify(marker, null, 2));
  return { dir, graph, onnxBytes: bytes.byteLength + dataBytes, parameters };
}

function tokenizerFiles(kind: TokenizerKind, modelMaxLength: number): TokenizerFiles {
  return kind === 'gpt2' ? gpt2TokenizerFiles(modelMaxLength) : wordpieceZhTokenizerFiles(modelMaxLength);
}

function withChatTemplate(tokenizerConfig: string, template: string): string {
  return JSON.stringify({ ...(JSON.parse(tokenizerConfig) as Record<string, unknown>), chat_template: template }, null, 2);
}

/**
 * The benchmarks' model: `model` when given, else models/bench-gpt2 (models/bench-tiny when `quick`;
 * with `-fan-in` after the name for that weight init), generated from its preset on first use.
 * Returns the absolute folder.
 */
export async function benchModelDir(model: string | undefined, quick: boolean, weightInit: WeightInit = 'fixed'): Promise<string> {
  if (model !== undefined) return resolve(model);
  const preset: PresetName = quick ? 'tiny' : 'gpt2';
  const dir = resolve(__dirname, '..', '..', 'models', `bench-${preset}${weightInit === 'fixed' ? '' : `-${weightInit}`}`);
  if (existsSync(join(dir, graphFile('with-past', 'fp32')))) return dir;
  console.error(`generating ${dir} (preset ${preset}, weights ${weightInit})...`);
  await writeModelDir(dir, { preset, weightInit });
  return dir;
}

/**
 * The preallocated-kv graph of the benchmarks' model (the same preset and seed, so the same weights):
 * `given` when given; else models/bench-gpt2-preallocated-kv (bench-tiny-... when `quick`), generated
 * on first use; undefined when only another `model` was given (its weights are not ours to match).
 */
export async function benchPreallocatedModelDir(given: string | undefined, model: string | undefined, quick: boolean): Promise<string | undefined> {
  if (given !== undefined) return resolve(given);
  if (model !== undefined) return undefined;
  const preset: PresetName = quick ? 'tiny' : 'gpt2';
  const dir = resolve(__dirname, '..', '..', 'models', `bench-${preset}-preallocated-kv`);
  if (existsSync(join(dir, graphFile('preallocated-kv', 'fp32')))) return dir;
  console.error(`generating ${dir} (preset ${preset}, --export preallocated-kv)...`);
  await writeModelDir(dir, { preset, layout: 'preallocated-kv' });
  return dir;
}
