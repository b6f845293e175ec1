import { TemperatureProcessor } from '../../../../service/engine/sampling/temperature';
import { softmax } from './helpers';

describe('TemperatureProcessor', () => {
  it('divides logits by the temperature', () => {
    const row = Float32Array.from([1, -2, 4, -Infinity]);
    new TemperatureProcessor(0.5).process(row);
    expect(Array.from(row)).toEqual([2, -4, 8, -Infinity]);
  });

  it('flattens the distribution above 1 and sharpens it below 1', () => {
    const base = Float32Array.from([2, 1, 0]);
    const hot = Float32Array.from(base);
    const cold = Float32Array.from(base);
    new TemperatureProcessor(2).process(hot);
    new TemperatureProcessor(0.5).process(cold);
    expect(softmax(hot)[0]!).toBeLessThan(softmax(base)[0]!);
    expect(softmax(cold)[0]!).toBeGreaterThan(softmax(base)[0]!);
  });

  it('refuses 0, which is greedy and handled by the sampler', () => {
    expect(() => new TemperatureProcessor(0)).toThrow(/0 means greedy/);
  });
});
