import { MinPProcessor } from '../../../../service/engine/sampling/min-p';
import { kept, logitsOf } from './helpers';

describe('MinPProcessor', () => {
  const probs = [0.05, 0.5, 0.15, 0.3];

  it.each<[number, number[]]>([
    [0.05, [0, 1, 2, 3]],
    [0.2, [1, 2, 3]],
    [0.5, [1, 3]],
    [0.9, [1]],
    [1, [1]],
  ])('with min_p = %p keeps tokens at least min_p times as likely as the top one: %j', (minP, expected) => {
    const row = logitsOf(probs);
    new MinPProcessor(minP).process(row);
    expect(kept(row)).toEqual(expected);
  });

  it('leaves kept logits unchanged', () => {
    const row = Float32Array.from([3, 2.5, -10]);
    new MinPProcessor(0.1).process(row);
    expect(Array.from(row)).toEqual([3, 2.5, -Infinity]);
  });
});
