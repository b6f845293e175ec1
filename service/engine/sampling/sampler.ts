// Picks the next token of one choice: runs the logits pipeline on a private copy of the model's row,
// then takes the argmax (temperature 0) or draws from the distribution with the choice's own RNG,
// and reports logprobs of the raw model distribution when asked (as vLLM does by default).
import { createRng, type Rng } from '../rng';
import type { SamplingParams } from '../types';
import type { LogitsContext } from './logits-processor';
import { argmax, exponentiateInPlace, logSumExp, topKIndices } from './math';
import { createLogitsPipeline, type LogitsPipeline } from './pipeline';

export interface TokenLogprob {
  readonly tokenId: number;
  readonly logprob: number;
}

export interface SampledToken {
  readonly tokenId: number;
  /** Log-probability of the token under the model's raw distribution; set when params.logprobs is. */
  readonly logprob?: number;
  /** The params.logprobs most likely tokens (raw distribution), most likely first. */
  readonly topLogprobs?: readonly TokenLogprob[];
}

export interface SamplerOptions {
  /**
   * Which choice of the request this sampler serves: with a seed, choice i draws from stream i so
   * the n choices differ from each other yet each is reproducible.
   * @default 0
   */
  readonly choice?: number;
  /** Overrides the RNG derived from params.seed and choice (tests, benchmarks). */
  readonly rng?: Rng;
}

export class Sampler {
  private readonly pipeline: LogitsPipeline;
  private readonly rng: Rng;
  private scratch = new Float32Array(0);

  constructor(
    private readonly params: SamplingParams,
    options: SamplerOptions = {},
  ) {
    this.pipeline = createLogitsPipeline(params);
    this.rng = options.rng ?? createRng(params.seed, options.choice ?? 0);
  }

  /** Chooses the next token. `logits` (one vocabulary row, e.g. a view of the model output) is not modified. */
  sample(logits: Float32Array, context: LogitsContext): SampledToken {
    const tokenId = this.choose(logits, context);
    if (this.params.logprobs === undefined) return { tokenId };
    const lse = logSumExp(logits);
    const topLogprobs = topKIndices(logits, this.params.logprobs).map((id) => ({ tokenId: id, logprob: logits[id]! - lse }));
    return { tokenId, logprob: logits[tokenId]! - lse, topLogprobs };
  }

  private choose(logits: Float32Array, context: LogitsContext): number {
    const greedy = this.params.temperature === 0;
    // Plain greedy needs no processed copy: skip the 200 KB copy on the hottest path.
    if (greedy && this.pipeline.processors.length === 0) return argmax(logits);
    if (this.scratch.length !== logits.length) this.scratch = new Float32Array(logits.length);
    const row = this.scratch;
    row.set(logits);
    this.pipeline.process(row, context);
    return greedy ? argmax(row) : drawFromLogits(row, this.rng);
  }
}

/**
 * Draws an index with probability softmax(logits) by inverting the cumulative distribution.
 * Overwrites `logits` with unnormalised probabilities (it is the sampler's scratch row).
 */
export function drawFromLogits(logits: Float32Array, rng: Rng): number {
  const total = exponentiateInPlace(logits);
  // Everything masked (weights all 0): no distribution to draw from; argmax then gives token 0.
  if (!(total > 0)) return argmax(logits);
  const u = rng.nextFloat() * total;
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < logits.length; i++) {
    const w = logits[i]!;
    if (w === 0) continue;
    cumulative += w;
    if (u < cumulative) return i;
    last = i;
  }
  // Unreachable in exact arithmetic (u < total); kept so a rounding surprise still yields a token.
  return last;
}
