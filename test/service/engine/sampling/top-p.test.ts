import { TopPProcessor } from '../../../../service/engine/sampling/top-p';
import { GPT2_VOCAB, kept, logitsOf, randomLogits, softmax } from './helpers';

const { max, min } = Math;
const MASKED = Number.NEGATIVE_INFINITY;

describe('TopPProcessor', () => {
  const probs = [0.05, 0.5, 0.15, 0.3];

  it.each<[number, number[]]>([
    [0.3, [1]],
    [0.5, [1]],
    [0.6, [1, 3]],
    [0.8, [1, 3]],
    [0.85, [1, 2, 3]],
    [0.96, [0, 1, 2, 3]],
  ])('with p = %p keeps the smallest set whose mass reaches p: %j', (p, expected) => {
    const row = logitsOf(probs);
    new TopPProcessor(p).process(row);
    expect(kept(row)).toEqual(expected);
  });

  it.each([0.1, 0.5, 0.9, 0.95, 0.999])('keeps the smallest top set with mass >= p on a vocabulary row (p = %p)', (p) => {
    const row = randomLogits(GPT2_VOCAB, 21, 2);
    const probs = softmax(row);
    new TopPProcessor(p).process(row);
    let keptMass = 0;
    let smallestKept = -MASKED;
    let largestMasked = 0;
    row.forEach((v, i) => {
      if (v === MASKED) {
        largestMasked = max(largestMasked, probs[i]!);
      } else {
        keptMass += probs[i]!;
        smallestKept = min(smallestKept, probs[i]!);
      }
    });
    // A top set: nothing masked is more likely than anything kept.
    expect(smallestKept).toBeGreaterThanOrEqual(largestMasked);
    // Reaches p (up to the documented 1e-6 float slack) ...
    expect(keptMass).toBeGreaterThanOrEqual(p - 1e-6);
    // ... and is the smallest such set: without its least likely token it falls short.
    expect(keptMass - smallestKept).toBeLessThan(p);
  });

  it('keeps all tokens tied at the cut-off', () => {
    const row = logitsOf([0.4, 0.2, 0.2, 0.2]);
    new TopPProcessor(0.5).process(row);
    expect(kept(row)).toEqual([0, 1, 2, 3]);
  });

  it('always keeps the most likely token, however small p is', () => {
    const row = logitsOf([0.2, 0.7, 0.1]);
    new TopPProcessor(1e-9).process(row);
    expect(kept(row)).toEqual([1]);
  });

  it('only considers tokens an earlier processor left unmasked', () => {
    const row = Float32Array.from([0, -Infinity, Math.log(3), -Infinity]);
    new TopPProcessor(0.7).process(row);
    expect(kept(row)).toEqual([2]);
  });
});
