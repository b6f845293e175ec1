import { RepetitionPenaltyProcessor } from '../../../../service/engine/sampling/repetition-penalty';

describe('RepetitionPenaltyProcessor', () => {
  it('divides positive and multiplies negative logits of tokens seen in the prompt or the output', () => {
    const row = Float32Array.from([2, -2, 4, -4, 1]);
    new RepetitionPenaltyProcessor(2).process(row, { promptIds: [0, 1], generatedIds: [3] });
    expect(Array.from(row)).toEqual([1, -4, 4, -8, 1]);
  });

  it('penalises a token once however often it repeats', () => {
    const row = Float32Array.from([8, 8]);
    new RepetitionPenaltyProcessor(2).process(row, { promptIds: [0, 0, 0], generatedIds: [0, 0] });
    expect(Array.from(row)).toEqual([4, 8]);
  });

  it('with a penalty below 1 favours repeated tokens', () => {
    const row = Float32Array.from([2, -2]);
    new RepetitionPenaltyProcessor(0.5).process(row, { promptIds: [0, 1], generatedIds: [] });
    expect(Array.from(row)).toEqual([4, -1]);
  });

  it('starts afresh on every call (its scratch does not leak marks between steps)', () => {
    const processor = new RepetitionPenaltyProcessor(2);
    const first = Float32Array.from([8, 8]);
    processor.process(first, { promptIds: [0], generatedIds: [] });
    const second = Float32Array.from([8, 8]);
    processor.process(second, { promptIds: [0], generatedIds: [] });
    expect(Array.from(second)).toEqual([4, 8]);
  });
});
