// Test models: generates tiny random GPT-2s once into models/test/ (gitignored) and shares them
// between jest workers, which may race to create them. Each variant is one model:make option set.
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GENERATOR_VERSION, MARKER_FILE, writeModelDir, type WriteModelOptions } from '../../scripts/gpt2-onnx/write-model-dir';

const REPO_ROOT = resolve(__dirname, '..', '..');
const TEST_MODELS = join(REPO_ROOT, 'models', 'test');
const TINY_SEED = 42;

const pending = new Map<string, Promise<string>>();

/** Path of the tiny test model (2 layers, 64 dims, real GPT-2 tokenizer, onnx/model.onnx), generated on first use. */
export async function tinyModelDir(): Promise<string> {
  return tinyVariantDir('tiny', {});
}

/**
 * The same weights as Xenova exports them: onnx/decoder_model_merged.onnx with a `use_cache_branch`
 * input and no `position_ids` (the graph derives positions from attention_mask).
 */
export async function tinyMergedModelDir(): Promise<string> {
  return tinyVariantDir('tiny-merged', { layout: 'merged' });
}

/** A tiny model made with other model:make options (dtype, external data, tokenizer, chat template), the same seed. */
export async function tinyVariantDir(name: string, options: Omit<WriteModelOptions, 'preset' | 'seed'>): Promise<string> {
  let dir = pending.get(name);
  if (!dir) {
    const full: WriteModelOptions = { preset: 'tiny', seed: TINY_SEED, ...options };
    dir = ensureModel(name, full).catch((error: unknown) => {
      pending.delete(name);
      throw error;
    });
    pending.set(name, dir);
  }
  return dir;
}

async function ensureModel(name: string, options: WriteModelOptions): Promise<string> {
  const dir = join(TEST_MODELS, name);
  if (await isCurrent(dir, options)) return dir;
  await mkdir(TEST_MODELS, { recursive: true });
  const unique = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const staging = join(TEST_MODELS, `.${name}.tmp-${unique}`);
  const stale = join(TEST_MODELS, `.${name}.stale-${unique}`);
  try {
    await writeModelDir(staging, options);
    // rename is atomic and refuses to replace a non-empty folder: of several racing workers exactly
    // one installs its copy and the others use the winner's. A stale folder (older generator or
    // other options) is moved aside first.
    if (!(await isCurrent(dir, options))) await rename(dir, stale).catch(() => undefined);
    await rename(staging, dir).catch(async (error: unknown) => {
      if (!(await isCurrent(dir, options))) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(stale, { recursive: true, force: true });
  }
  return dir;
}

async function isCurrent(dir: string, options: WriteModelOptions): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(join(dir, MARKER_FILE), 'utf8')) as Record<string, unknown>;
    const expected = {
      generatorVersion: GENERATOR_VERSION,
      preset: options.preset,
      seed: options.seed,
      layout: options.layout ?? 'with-past',
      precision: options.precision ?? 'fp32',
      externalData: options.externalData === true,
      tokenizer: options.tokenizer ?? 'gpt2',
      chatTemplate: options.chatTemplate ?? null,
      weightInit: options.weightInit ?? 'fixed',
    };
    return Object.entries(expected).every(([key, value]) => marker[key] === value);
  } catch {
    return false;
  }
}
