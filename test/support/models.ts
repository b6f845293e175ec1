// Test models: generates the tiny random GPT-2 once into models/test/ (gitignored) and shares it
// between jest workers, which may race to create it.
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ExportLayout } from '../../scripts/gpt2-onnx/gpt2-graph';
import { GENERATOR_VERSION, MARKER_FILE, writeModelDir } from '../../scripts/gpt2-onnx/write-model-dir';

const REPO_ROOT = resolve(__dirname, '..', '..');
const TEST_MODELS = join(REPO_ROOT, 'models', 'test');
const TINY_SEED = 42;

const pending = new Map<string, Promise<string>>();

/** Path of the tiny test model (2 layers, 64 dims, real GPT-2 tokenizer, onnx/model.onnx), generated on first use. */
export async function tinyModelDir(): Promise<string> {
  return shared('tiny', 'with-past');
}

/**
 * The same weights as Xenova exports them: onnx/decoder_model_merged.onnx with a `use_cache_branch`
 * input and no `position_ids` (the graph derives positions from attention_mask).
 */
export async function tinyMergedModelDir(): Promise<string> {
  return shared('tiny-merged', 'merged');
}

function shared(name: string, layout: ExportLayout): Promise<string> {
  let dir = pending.get(name);
  if (!dir) {
    dir = ensureModel(name, layout).catch((error: unknown) => {
      pending.delete(name);
      throw error;
    });
    pending.set(name, dir);
  }
  return dir;
}

async function ensureModel(name: string, layout: ExportLayout): Promise<string> {
  const dir = join(TEST_MODELS, name);
  if (await isCurrent(dir, layout)) return dir;
  await mkdir(TEST_MODELS, { recursive: true });
  const unique = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const staging = join(TEST_MODELS, `.${name}.tmp-${unique}`);
  const stale = join(TEST_MODELS, `.${name}.stale-${unique}`);
  try {
    await writeModelDir(staging, { preset: 'tiny', seed: TINY_SEED, layout });
    // rename is atomic and refuses to replace a non-empty folder: of several racing workers exactly
    // one installs its copy and the others use the winner's. A stale folder (older generator) is
    // moved aside first.
    if (!(await isCurrent(dir, layout))) await rename(dir, stale).catch(() => undefined);
    await rename(staging, dir).catch(async (error: unknown) => {
      if (!(await isCurrent(dir, layout))) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(stale, { recursive: true, force: true });
  }
  return dir;
}

async function isCurrent(dir: string, layout: ExportLayout): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(join(dir, MARKER_FILE), 'utf8')) as Record<string, unknown>;
    return marker.generatorVersion === GENERATOR_VERSION && marker.preset === 'tiny' && marker.seed === TINY_SEED && marker.layout === layout;
  } catch {
    return false;
  }
}
