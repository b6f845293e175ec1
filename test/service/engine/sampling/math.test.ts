import {
  argmax,
  expNonPositive,
  exponentiateInPlace,
  kthLargest,
  logSoftmax,
  logSumExp,
  maskBelow,
  topKIndices,
} from '../../../../service/engine/sampling/math';
import { GPT2_VOCAB, randomLogits } from './helpers';

function sortedIndices(row: Float32Array): number[] {
  return Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
}

describe('topKIndices', () => {
  const row = randomLogits(GPT2_VOCAB, 11);
  const reference = sortedIndices(row);

  it.each([1, 5, 50, 1000])('returns the %i largest of a vocabulary row, largest first, like a full sort', (k) => {
    expect(topKIndices(row, k)).toEqual(reference.slice(0, k));
  });

  it('breaks ties by the lower index, wherever the tied entries are', () => {
    const tied = Float32Array.from([1, 3, 2, 3, 0, 3]);
    expect(topKIndices(tied, 2)).toEqual([1, 3]);
    expect(topKIndices(tied, 4)).toEqual([1, 3, 5, 2]);
  });

  it('returns everything when k exceeds the row, and nothing for k = 0', () => {
    expect(topKIndices(Float32Array.from([0.5, 2, 1]), 10)).toEqual([1, 2, 0]);
    expect(topKIndices(Float32Array.from([0.5, 2, 1]), 0)).toEqual([]);
  });

  it('never selects NaN and ranks -Infinity last', () => {
    expect(topKIndices(Float32Array.from([Number.NaN, -Infinity, 1, Number.NaN]), 3)).toEqual([2, 1]);
  });
});

describe('kthLargest', () => {
  it('gives the value of the k-th largest entry, or -Infinity beyond the row', () => {
    const row = Float32Array.from([4, 9, 1, 7]);
    expect(kthLargest(row, 1)).toBe(9);
    expect(kthLargest(row, 3)).toBe(4);
    expect(kthLargest(row, 5)).toBe(-Infinity);
  });
});

describe('argmax', () => {
  it('returns the first index of the maximum', () => {
    expect(argmax(Float32Array.from([1, 5, 2, 5]))).toBe(1);
  });

  it('returns 0 when every entry is masked', () => {
    expect(argmax(Float32Array.from([-Infinity, -Infinity]))).toBe(0);
  });
});

describe('logSoftmax and logSumExp', () => {
  it('gives log-probabilities whose exponentials sum to 1 on a vocabulary row', () => {
    const lp = logSoftmax(randomLogits(GPT2_VOCAB, 3));
    let total = 0;
    for (const v of lp) total += Math.exp(v);
    expect(total).toBeCloseTo(1, 4);
  });

  it('stays finite for huge logits (no overflow) and matches the closed form', () => {
    const lp = logSoftmax(Float32Array.from([1000, 1001, 999]));
    const lse = 1001 + Math.log(Math.exp(-1) + 1 + Math.exp(-2));
    expect(lp[0]).toBeCloseTo(1000 - lse, 5);
    expect(lp[1]).toBeCloseTo(1001 - lse, 5);
  });

  it('keeps masked entries at -Infinity and writes into a given buffer', () => {
    const out = new Float64Array(3);
    const result = logSoftmax(Float32Array.from([0, -Infinity, 0]), out);
    expect(result).toBe(out);
    expect(Array.from(out)).toEqual([Math.log(0.5), -Infinity, Math.log(0.5)]);
  });

  it('rejects an output buffer of the wrong length', () => {
    expect(() => logSoftmax(new Float32Array(3), new Float32Array(2))).toThrow(/length 2, expected 3/);
  });

  it('is -Infinity for an all-masked row', () => {
    expect(logSumExp(Float32Array.from([-Infinity, -Infinity]))).toBe(-Infinity);
  });
});

describe('expNonPositive', () => {
  it('agrees with Math.exp to 1e-8 relative over the range softmax uses', () => {
    let worst = 0;
    for (let x = 0; x >= -700; x -= 0.0137) {
      worst = Math.max(worst, Math.abs(expNonPositive(x) - Math.exp(x)) / Math.exp(x));
    }
    expect(worst).toBeLessThan(1e-8);
  });

  it('is exact at 0, 0 for -Infinity, NaN and underflow, and Math.exp for positive input', () => {
    expect(expNonPositive(0)).toBe(1);
    expect(expNonPositive(-Infinity)).toBe(0);
    expect(expNonPositive(Number.NaN)).toBe(0);
    expect(expNonPositive(-800)).toBe(0);
    expect(expNonPositive(2)).toBe(Math.exp(2));
  });
});

describe('exponentiateInPlace and maskBelow', () => {
  it('turns logits into weights relative to the maximum and returns their sum', () => {
    const row = Float32Array.from([0, Math.log(0.5), -Infinity, Math.log(0.25)]);
    const total = exponentiateInPlace(row);
    expect(Array.from(row)).toEqual([1, expect.closeTo(0.5, 6), 0, expect.closeTo(0.25, 6)]);
    expect(total).toBeCloseTo(1.75, 6);
  });

  it('masks entries strictly below the cut-off', () => {
    const row = Float32Array.from([3, 1, 2, 0]);
    maskBelow(row, 2);
    expect(Array.from(row)).toEqual([3, -Infinity, 2, -Infinity]);
  });
});
