// Writes a complete Hugging Face-layout GPT-2 folder (config, tokenizer, onnx/model.onnx) for a preset.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { onnx } from 'onnx-proto';
import { generationConfigJson, gpt2ConfigJson } from './config-files';
import { buildGpt2Model, randomWeightCount, type ExportLayout } from './gpt2-graph';
import { PRESETS, type PresetName } from './presets';
import { gpt2TokenizerFiles } from './tokenizer-files';

/**
 * Bump when the graph or files change: test/support/models.ts regenerates cached test models whose
 * marker carries another version.
 */
export const GENERATOR_VERSION = 2;
export const MARKER_FILE = 'model-make.json';

export interface WriteModelOptions {
  readonly preset: PresetName;
  /** @default 42 */
  readonly seed?: number;
  /** @default 'with-past' */
  readonly layout?: ExportLayout;
  /** Progress: the random weights drawn so far of their total, then the start of encoding and writing. */
  readonly onProgress?: (progress: ModelWriteProgress) => void;
}

export type ModelWriteProgress = { readonly stage: 'weights'; readonly drawn: number; readonly total: number } | { readonly stage: 'writing' };

/** Where each layout's graph lives in the folder, as the hub's exports name it. */
export const ONNX_FILE: Record<ExportLayout, string> = { 'with-past': 'onnx/model.onnx', merged: 'onnx/decoder_model_merged.onnx' };

export interface WrittenModel {
  readonly dir: string;
  readonly onnxBytes: number;
  readonly parameters: number;
}

export async function writeModelDir(dir: string, options: WriteModelOptions): Promise<WrittenModel> {
  const seed = options.seed ?? 42;
  const shape = PRESETS[options.preset];
  const layout = options.layout ?? 'with-past';
  const total = randomWeightCount(shape);
  const onProgress = options.onProgress;
  const model = buildGpt2Model(shape, seed, layout, onProgress && ((drawn) => onProgress({ stage: 'weights', drawn, total })));
  onProgress?.({ stage: 'writing' });
  const parameters = (model.graph?.initializer ?? [])
    .filter((t) => t.name?.startsWith('transformer.'))
    .reduce((sum, t) => sum + (t.dims ?? []).reduce<number>((a, b) => a * Number(b), 1), 0);
  const bytes = onnx.ModelProto.encode(model).finish();

  await mkdir(join(dir, 'onnx'), { recursive: true });
  await writeFile(join(dir, ONNX_FILE[layout]), bytes);
  await writeFile(join(dir, 'config.json'), gpt2ConfigJson(shape, `random-gpt2-${options.preset}`));
  await writeFile(join(dir, 'generation_config.json'), generationConfigJson());
  for (const [name, text] of Object.entries(gpt2TokenizerFiles(shape.nPositions))) {
    await writeFile(join(dir, name), text);
  }
  await writeFile(join(dir, MARKER_FILE), JSON.stringify({ generatorVersion: GENERATOR_VERSION, preset: options.preset, seed, layout }, null, 2));
  return { dir, onnxBytes: bytes.byteLength, parameters };
}

/**
 * The benchmarks' model: `model` when given, else models/bench-gpt2 (models/bench-tiny when `quick`),
 * generated from its preset on first use. Returns the absolute folder.
 */
export async function benchModelDir(model: string | undefined, quick: boolean): Promise<string> {
  if (model !== undefined) return resolve(model);
  const preset: PresetName = quick ? 'tiny' : 'gpt2';
  const dir = resolve(__dirname, '..', '..', 'models', `bench-${preset}`);
  if (existsSync(join(dir, ONNX_FILE['with-past']))) return dir;
  console.error(`generating ${dir} (preset ${preset})...`);
  await writeModelDir(dir, { preset });
  return dir;
}
