import { PresenceFrequencyPenaltyProcessor } from '../../../../service/engine/sampling/presence-frequency-penalty';

describe('PresenceFrequencyPenaltyProcessor', () => {
  it('lowers a token by count * frequency + presence, per OpenAI formula', () => {
    const row = new Float32Array(4).fill(10);
    new PresenceFrequencyPenaltyProcessor(0.5, 0.25).process(row, { promptIds: [], generatedIds: [1, 2, 1, 1] });
    // token 1: 3 * 0.25 + 0.5; token 2: 1 * 0.25 + 0.5; tokens 0 and 3 never generated.
    expect(Array.from(row)).toEqual([10, 10 - 1.25, 10 - 0.75, 10]);
  });

  it('ignores prompt tokens', () => {
    const row = new Float32Array(2).fill(1);
    new PresenceFrequencyPenaltyProcessor(2, 2).process(row, { promptIds: [0, 1], generatedIds: [] });
    expect(Array.from(row)).toEqual([1, 1]);
  });

  it('raises repeated tokens with negative penalties', () => {
    const row = new Float32Array(2).fill(0);
    new PresenceFrequencyPenaltyProcessor(-1, -0.5).process(row, { promptIds: [], generatedIds: [0, 0] });
    expect(Array.from(row)).toEqual([2, 0]);
  });

  it('applies the presence penalty once per call, including on the next step', () => {
    const processor = new PresenceFrequencyPenaltyProcessor(1, 0);
    for (let step = 0; step < 3; step++) {
      const row = new Float32Array(1).fill(0);
      processor.process(row, { promptIds: [], generatedIds: [0, 0, 0] });
      expect(row[0]).toBe(-1);
    }
  });
});
