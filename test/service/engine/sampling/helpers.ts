// Shared fixtures for the sampling tests: parameter objects and reproducible logit rows.
import { createSamplingParams } from '../../../../service/engine/params';
import { createRng } from '../../../../service/engine/rng';
import type { SamplingParams, SamplingParamsInput } from '../../../../service/engine/types';

export const GPT2_VOCAB = 50257;

// Module-level copies: global lookups inside jest's vm context are slow in 50257-entry loops.
const { exp, log, max: maxOf } = Math;
const MASKED = Number.NEGATIVE_INFINITY;

export function params(input: SamplingParamsInput = {}, vocabSize = GPT2_VOCAB): SamplingParams {
  return createSamplingParams(input, { vocabSize });
}

/** Logits whose softmax is exactly `probs` (up to float32 rounding). */
export function logitsOf(probs: readonly number[]): Float32Array {
  return Float32Array.from(probs, (p) => log(p));
}

/** A row of roughly N(0, scale^2) logits, reproducible from `seed`. */
export function randomLogits(length: number, seed: number, scale = 3): Float32Array {
  const rng = createRng(seed);
  const row = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    // Sum of uniforms: close enough to a normal for a realistic spread of logits.
    row[i] = (rng.nextFloat() + rng.nextFloat() + rng.nextFloat() - 1.5) * 2 * scale;
  }
  return row;
}

export function softmax(row: Float32Array): number[] {
  const max = row.reduce((a, b) => maxOf(a, b), MASKED);
  const exps = Array.from(row, (v) => exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/** Indices whose logit is not masked. */
export function kept(row: Float32Array): number[] {
  const result: number[] = [];
  row.forEach((v, i) => {
    if (v !== MASKED) result.push(i);
  });
  return result;
}

export const noContext = { promptIds: [], generatedIds: [] } as const;
