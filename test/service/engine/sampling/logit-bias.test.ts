import { LogitBiasProcessor } from '../../../../service/engine/sampling/logit-bias';

describe('LogitBiasProcessor', () => {
  it('adds each bias to its token and leaves the others', () => {
    const row = Float32Array.from([1, 2, 3, 4]);
    new LogitBiasProcessor(new Map([[1, 0.5], [3, -2]])).process(row);
    expect(Array.from(row)).toEqual([1, 2.5, 3, 2]);
  });

  it('turns -100 into a hard ban', () => {
    const row = Float32Array.from([1, 50, 3]);
    new LogitBiasProcessor(new Map([[1, -100]])).process(row);
    expect(row[1]).toBe(-Infinity);
  });

  it('ignores ids beyond the row (a vocabulary smaller than the validated limit)', () => {
    const row = Float32Array.from([1, 2]);
    new LogitBiasProcessor(new Map([[5, 10]])).process(row);
    expect(Array.from(row)).toEqual([1, 2]);
  });
});
