// config.json of a GPT-2 family model -> the shape and special ids the engine needs; refuses other
// architectures by the model_type it finds. No onnxruntime here: the tokenizer and tools read it too.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ModelLoadError } from './errors';

export const MAKE_HINT = 'run npm run model:make -- --preset tiny --out DIR for a test model';

export interface Gpt2Config {
  readonly nLayer: number;
  readonly nHead: number;
  readonly nEmbd: number;
  readonly nPositions: number;
  readonly vocabSize: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
}

const ConfigFile = z
  .object({
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
  return parseGpt2Config(json, `MODEL_DIR=${dir}: config.json`);
}

/**
 * Validates a parsed config.json: GPT-2 architecture first (a clear refusal naming the model_type
 * found, since other architectures need another graph signature), then the fields the engine uses.
 */
export function parseGpt2Config(json: unknown, where: string): Gpt2Config {
  const modelType = typeof json === 'object' && json !== null && 'model_type' in json ? (json as { model_type: unknown }).model_type : undefined;
  if (modelType !== 'gpt2') {
    const found = modelType === undefined ? 'no model_type' : `model_type ${JSON.stringify(modelType)}`;
    throw new ModelLoadError(`${where} has ${found}: this engine runs GPT-2 architecture models only (model_type "gpt2": gpt2, distilgpt2, gpt2-medium/large/xl and their fine-tunes)`);
  }
  const parsed = ConfigFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelLoadError(`${where} is not a GPT-2 config (${problems}); expected integer n_layer, n_head, n_embd, n_positions, vocab_size, bos_token_id, eos_token_id`);
  }
  return parsed.data;
}

