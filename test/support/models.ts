// Test models: generates the tiny random GPT-2 once into models/test/tiny (gitignored) and shares it
// between jest workers, which may race to create it.
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GENERATOR_VERSION, MARKER_FILE, writeModelDir } from '../../scripts/gpt2-onnx/write-model-dir';

const REPO_ROOT = resolve(__dirname, '..', '..');
const TEST_MODELS = join(REPO_ROOT, 'models', 'test');
const TINY_SEED = 42;

let tiny: Promise<string> | undefined;

/** Path of the tiny test model (2 layers, 64 dims, real GPT-2 tokenizer), generated on first use. */
export async function tinyModelDir(): Promise<string> {
  tiny ??= ensureModel('tiny').catch((error: unknown) => {
    tiny = undefined;
    throw error;
  });
  return tiny;
}

async function ensureModel(preset: 'tiny'): Promise<string> {
  const dir = join(TEST_MODELS, preset);
  if (await isCurrent(dir, preset)) return dir;
  await mkdir(TEST_MODELS, { recursive: true });
  const unique = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const staging = join(TEST_MODELS, `.${preset}.tmp-${unique}`);
  try {
    await writeModelDir(staging, { preset, seed: TINY_SEED });
    // rename is atomic and refuses to replace a non-empty folder: of several racing workers exactly
    // one installs its copy and the others use the winner's. A stale folder (older generator) is
    // moved aside first.
    if (!(await isCurrent(dir, preset))) await rename(dir, join(TEST_MODELS, `.${preset}.stale-${unique}`)).catch(() => undefined);
    await rename(staging, dir).catch(async (error: unknown) => {
      if (!(await isCurrent(dir, preset))) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(join(TEST_MODELS, `.${preset}.stale-${unique}`), { recursive: true, force: true });
  }
  return dir;
}

async function isCurrent(dir: string, preset: string): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(join(dir, MARKER_FILE), 'utf8')) as Record<string, unknown>;
    return marker.generatorVersion === GENERATOR_VERSION && marker.preset === preset && marker.seed === TINY_SEED;
  } catch {
    return false;
  }
}
