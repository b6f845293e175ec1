import { InvalidParameterError } from '../../../service/engine/errors';
import { createSamplingParams } from '../../../service/engine/params';
import type { SamplingParamsInput } from '../../../service/engine/types';

const limits = { vocabSize: 50257 };

function rejection(input: unknown): InvalidParameterError {
  try {
    createSamplingParams(input as SamplingParamsInput, limits);
  } catch (error) {
    if (error instanceof InvalidParameterError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('createSamplingParams', () => {
  it('applies OpenAI-like defaults to an empty input', () => {
    const params = createSamplingParams({}, limits);
    expect(params).toEqual({
      maxTokens: 16,
      temperature: 1,
      topK: 0,
      topP: 1,
      minP: 0,
      repetitionPenalty: 1,
      presencePenalty: 0,
      frequencyPenalty: 0,
      logitBias: new Map(),
      seed: undefined,
      n: 1,
      numBeams: 1,
      lengthPenalty: 1,
      stop: [],
      stopOnEos: true,
      logprobs: undefined,
      promptLogprobs: false,
    });
  });

  it('returns a frozen object whose stop list cannot be changed', () => {
    const params = createSamplingParams({ stop: ['a'] }, limits);
    expect(Object.isFrozen(params)).toBe(true);
    expect(Object.isFrozen(params.stop)).toBe(true);
  });

  it('treats explicit nulls as unset', () => {
    const input = { temperature: null, stop: null, seed: null } as unknown as SamplingParamsInput;
    const params = createSamplingParams(input, limits);
    expect(params.temperature).toBe(1);
    expect(params.stop).toEqual([]);
    expect(params.seed).toBeUndefined();
  });

  it('keeps valid values as given', () => {
    const params = createSamplingParams(
      {
        maxTokens: 7,
        temperature: 0.5,
        topK: 40,
        topP: 0.9,
        minP: 0.05,
        repetitionPenalty: 1.2,
        presencePenalty: -2,
        frequencyPenalty: 2,
        logitBias: { '50256': -100, '11': 5 },
        seed: -42,
        n: 3,
        stop: 'END',
        stopOnEos: false,
        logprobs: 20,
        promptLogprobs: true,
      },
      limits,
    );
    expect(params).toMatchObject({ maxTokens: 7, temperature: 0.5, topK: 40, topP: 0.9, minP: 0.05, seed: -42, n: 3 });
    expect(params.logitBias.get(50256)).toBe(-100);
    expect(params.logitBias.get(11)).toBe(5);
    expect(params.logitBias.size).toBe(2);
    expect(params.stop).toEqual(['END']);
    expect(params.logprobs).toBe(20);
  });

  it('accepts logit_bias as a Map of numeric ids', () => {
    const params = createSamplingParams({ logitBias: new Map([[3, 1.5]]) }, limits);
    expect(params.logitBias.get(3)).toBe(1.5);
  });

  it('defaults temperature to 0 with beam search and accepts an explicit 0', () => {
    expect(createSamplingParams({ numBeams: 4, n: 2 }, limits).temperature).toBe(0);
    expect(createSamplingParams({ numBeams: 4, temperature: 0 }, limits).temperature).toBe(0);
  });

  it('deduplicates stop strings', () => {
    expect(createSamplingParams({ stop: ['x', 'x', 'y'] }, limits).stop).toEqual(['x', 'y']);
  });

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['negative max_tokens', { maxTokens: -1 }, 'max_tokens', /integer >= 1/],
    ['zero max_tokens', { maxTokens: 0 }, 'max_tokens', /integer >= 1/],
    ['fractional max_tokens', { maxTokens: 2.5 }, 'max_tokens', /integer >= 1/],
    ['temperature above 2', { temperature: 2.5 }, 'temperature', /between 0 and 2/],
    ['negative temperature', { temperature: -0.1 }, 'temperature', /between 0 and 2/],
    ['NaN temperature', { temperature: Number.NaN }, 'temperature', /between 0 and 2/],
    ['top_p above 1', { topP: 1.5 }, 'top_p', /greater than 0 and at most 1/],
    ['top_p of 0', { topP: 0 }, 'top_p', /greater than 0 and at most 1/],
    ['negative top_k', { topK: -1 }, 'top_k', /integer >= 0/],
    ['min_p above 1', { minP: 1.01 }, 'min_p', /between 0 and 1/],
    ['repetition_penalty of 0', { repetitionPenalty: 0 }, 'repetition_penalty', /greater than 0/],
    ['presence_penalty below -2', { presencePenalty: -2.5 }, 'presence_penalty', /between -2 and 2/],
    ['frequency_penalty above 2', { frequencyPenalty: 3 }, 'frequency_penalty', /between -2 and 2/],
    ['bias key out of vocab', { logitBias: { '50257': 1 } }, 'logit_bias', /token ids from 0 to 50256/],
    ['bias key not a number', { logitBias: { abc: 1 } }, 'logit_bias', /token ids/],
    ['bias value above 100', { logitBias: { '5': 101 } }, 'logit_bias', /between -100 and 100/],
    ['bias given as an array', { logitBias: [1, 2] }, 'logit_bias', /object mapping token ids/],
    ['fractional seed', { seed: 1.5 }, 'seed', /integer/],
    ['n = 0', { n: 0 }, 'n', /between 1 and 128/],
    ['n = 129', { n: 129 }, 'n', /between 1 and 128/],
    ['num_beams = 17', { numBeams: 17 }, 'num_beams', /between 1 and 16/],
    ['n above num_beams', { numBeams: 2, n: 3 }, 'n', /n must be <= num_beams/],
    [
      'num_beams with temperature > 0',
      { numBeams: 4, temperature: 0.7 },
      'temperature',
      /deterministic.*temperature must be 0 or unset/,
    ],
    ['non-finite length_penalty', { lengthPenalty: Number.POSITIVE_INFINITY }, 'length_penalty', /must be finite/],
    ['unknown stop type (number)', { stop: 42 }, 'stop', /Unknown stop type/],
    ['unknown stop type (object)', { stop: { text: 'x' } }, 'stop', /Unknown stop type/],
    ['unknown stop type (array with a number)', { stop: ['a', 1] }, 'stop', /Unknown stop type/],
    ['5 stop strings', { stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /at most 4/],
    ['an empty stop string', { stop: ['a', ''] }, 'stop', /non-empty/],
    ['logprobs above 20', { logprobs: 21 }, 'logprobs', /between 0 and 20/],
    ['negative logprobs', { logprobs: -1 }, 'logprobs', /between 0 and 20/],
  ])('rejects %s', (_name, input, param, message) => {
    const error = rejection(input);
    expect(error.param).toBe(param);
    expect(error.message).toMatch(message);
  });
});
