import { createLogitsPipeline } from '../../../../service/engine/sampling/pipeline';
import { params } from './helpers';

const names = (input: Parameters<typeof params>[0]) => createLogitsPipeline(params(input)).processors.map((p) => p.name);

describe('createLogitsPipeline', () => {
  it('is empty for default parameters (plain sampling at temperature 1)', () => {
    expect(names({})).toEqual([]);
  });

  it('runs every active processor in the documented order', () => {
    expect(
      names({
        logitBias: { '1': 2 },
        repetitionPenalty: 1.1,
        presencePenalty: 0.1,
        temperature: 0.7,
        topK: 40,
        topP: 0.9,
        minP: 0.05,
      }),
    ).toEqual(['logit_bias', 'repetition_penalty', 'presence_frequency_penalty', 'temperature', 'top_k', 'top_p', 'min_p']);
  });

  it('keeps bias and penalties but drops the sampling warpers when greedy', () => {
    expect(names({ temperature: 0, logitBias: { '1': 2 }, frequencyPenalty: 1, topK: 5, topP: 0.5, minP: 0.1 })).toEqual([
      'logit_bias',
      'presence_frequency_penalty',
    ]);
  });

  it('applies the processors to the row in order', () => {
    const pipeline = createLogitsPipeline(params({ logitBias: { '0': 2 }, temperature: 0.5 }, 3));
    const row = Float32Array.from([1, 1, 1]);
    pipeline.process(row, { promptIds: [], generatedIds: [] });
    // Bias first, then temperature: (1 + 2) / 0.5.
    expect(Array.from(row)).toEqual([6, 2, 2]);
  });
});
