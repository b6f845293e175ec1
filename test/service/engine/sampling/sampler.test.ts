import { createRng } from '../../../../service/engine/rng';
import { argmax } from '../../../../service/engine/sampling/math';
import { Sampler } from '../../../../service/engine/sampling/sampler';
import type { SamplingParamsInput } from '../../../../service/engine/types';
import { GPT2_VOCAB, logitsOf, noContext, params, randomLogits } from './helpers';

function drawMany(input: SamplingParamsInput, row: Float32Array, count: number, choice = 0): number[] {
  const sampler = new Sampler(params(input, row.length), { choice });
  return Array.from({ length: count }, () => sampler.sample(row, noContext).tokenId);
}

/** Pearson chi-square statistic of observed token counts against expected probabilities. */
function chiSquare(draws: number[], probs: readonly number[]): number {
  const counts = probs.map(() => 0);
  for (const id of draws) counts[id]!++;
  return probs.reduce((sum, p, i) => sum + (counts[i]! - p * draws.length) ** 2 / (p * draws.length), 0);
}

describe('Sampler', () => {
  const rows = [1, 2, 3].map((seed) => randomLogits(GPT2_VOCAB, seed));

  it('takes the argmax when temperature is 0', () => {
    for (const row of rows) {
      expect(new Sampler(params({ temperature: 0 })).sample(row, noContext).tokenId).toBe(argmax(row));
    }
  });

  it('with top_k = 1 picks the greedy token at any temperature and seed', () => {
    for (const [i, row] of rows.entries()) {
      const greedy = new Sampler(params({ temperature: 0 })).sample(row, noContext).tokenId;
      const sampled = new Sampler(params({ temperature: 2, topK: 1, seed: i })).sample(row, noContext).tokenId;
      expect(sampled).toBe(greedy);
    }
  });

  it('applies penalties before the greedy argmax', () => {
    const row = Float32Array.from([5, 4.5, 0]);
    const sampler = new Sampler(params({ temperature: 0, frequencyPenalty: 1 }, 3));
    expect(sampler.sample(row, { promptIds: [], generatedIds: [0] }).tokenId).toBe(1);
  });

  it('never picks a token banned with logit_bias -100, even when it is the most likely', () => {
    const row = logitsOf([0.9, 0.05, 0.05]);
    expect(new Sampler(params({ temperature: 0, logitBias: { '0': -100 } }, 3)).sample(row, noContext).tokenId).toBe(1);
    expect(drawMany({ temperature: 2, logitBias: { '0': -100 }, seed: 1 }, row, 2000)).not.toContain(0);
  });

  it('forces a token with logit_bias +100 under sampling', () => {
    const row = randomLogits(GPT2_VOCAB, 4);
    const unlikely = Array.from(row.keys()).reduce((lo, i) => (row[i]! < row[lo]! ? i : lo), 0);
    const draws = drawMany({ temperature: 1, logitBias: { [unlikely]: 100 }, seed: 2 }, row, 50);
    expect(new Set(draws)).toEqual(new Set([unlikely]));
  });

  it('repeats its draws for the same seed and differs for another seed or choice', () => {
    const row = randomLogits(GPT2_VOCAB, 9, 1);
    const first = drawMany({ seed: 42 }, row, 30);
    expect(drawMany({ seed: 42 }, row, 30)).toEqual(first);
    expect(drawMany({ seed: 43 }, row, 30)).not.toEqual(first);
    expect(drawMany({ seed: 42 }, row, 30, 1)).not.toEqual(first);
  });

  it('draws tokens with the frequencies of the distribution', () => {
    const probs = [0.1, 0.2, 0.3, 0.4];
    // Chi-square, 3 degrees of freedom: 16.27 is the 0.1% critical value.
    expect(chiSquare(drawMany({ seed: 5 }, logitsOf(probs), 40_000), probs)).toBeLessThan(16.27);
  });

  it('draws from the renormalised nucleus after top_p', () => {
    const draws = drawMany({ seed: 6, topP: 0.6 }, logitsOf([0.4, 0.3, 0.2, 0.1]), 20_000);
    // p = 0.6 keeps 0.4 and 0.3, renormalised to 4/7 and 3/7; the others are never drawn.
    expect(draws.filter((id) => id > 1)).toEqual([]);
    expect(chiSquare(draws, [4 / 7, 3 / 7])).toBeLessThan(10.83);
  });

  it('draws with the temperature-scaled frequencies', () => {
    // Temperature 0.5 squares the probabilities: 0.2^2 : 0.8^2 = 1 : 16.
    const draws = drawMany({ seed: 8, temperature: 0.5 }, logitsOf([0.2, 0.8]), 20_000);
    // Chi-square, 1 degree of freedom: 10.83 is the 0.1% critical value.
    expect(chiSquare(draws, [1 / 17, 16 / 17])).toBeLessThan(10.83);
  });

  it('does not modify the caller\'s logits', () => {
    const row = randomLogits(1000, 3);
    const copy = Float32Array.from(row);
    new Sampler(params({ temperature: 0.7, topK: 10, topP: 0.5, logitBias: { '3': -100 } }, 1000)).sample(row, noContext);
    expect(row).toEqual(copy);
  });

  it('reports logprobs of the raw distribution with the top alternatives, most likely first', () => {
    const row = logitsOf([0.1, 0.6, 0.3]);
    const sampler = new Sampler(params({ temperature: 0, logprobs: 2, logitBias: { '2': 50 } }, 3));
    const token = sampler.sample(row, noContext);
    // Bias steered the choice to token 2, but logprobs describe the model's own distribution.
    expect(token.tokenId).toBe(2);
    expect(token.logprob).toBeCloseTo(Math.log(0.3), 5);
    expect(token.topLogprobs?.map((t) => t.tokenId)).toEqual([1, 2]);
    expect(token.topLogprobs?.[0]?.logprob).toBeCloseTo(Math.log(0.6), 5);
  });

  it('reports the chosen token\'s logprob with no alternatives for logprobs = 0, and nothing when unset', () => {
    const row = logitsOf([0.25, 0.75]);
    expect(new Sampler(params({ temperature: 0, logprobs: 0 }, 2)).sample(row, noContext)).toEqual({
      tokenId: 1,
      logprob: expect.closeTo(Math.log(0.75), 5),
      topLogprobs: [],
    });
    expect(new Sampler(params({ temperature: 0 }, 2)).sample(row, noContext)).toEqual({ tokenId: 1 });
  });

  it('uses an injected RNG', () => {
    const row = logitsOf([0.5, 0.5]);
    const low = { nextFloat: () => 0.01, nextUint32: () => 0 };
    const high = { nextFloat: () => 0.99, nextUint32: () => 0 };
    expect(new Sampler(params({}, 2), { rng: low }).sample(row, noContext).tokenId).toBe(0);
    expect(new Sampler(params({}, 2), { rng: high }).sample(row, noContext).tokenId).toBe(1);
  });

  it('falls back to the argmax when every token is masked', () => {
    const row = Float32Array.from([1, 2]);
    const sampler = new Sampler(params({ logitBias: { '0': -100, '1': -100 } }, 2), { rng: createRng(1) });
    expect(sampler.sample(row, noContext).tokenId).toBe(0);
  });
});
