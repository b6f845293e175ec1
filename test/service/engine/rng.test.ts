import { createRng } from '../../../service/engine/rng';

function draws(rng: { nextFloat(): number }, count: number): number[] {
  return Array.from({ length: count }, () => rng.nextFloat());
}

describe('createRng', () => {
  it('repeats the same sequence for the same seed and stream', () => {
    expect(draws(createRng(1234, 2), 50)).toEqual(draws(createRng(1234, 2), 50));
  });

  it('gives different sequences for different seeds, streams, and high bits of the seed', () => {
    const base = draws(createRng(1234, 0), 20);
    expect(draws(createRng(1235, 0), 20)).not.toEqual(base);
    expect(draws(createRng(1234, 1), 20)).not.toEqual(base);
    expect(draws(createRng(1234 + 2 ** 40, 0), 20)).not.toEqual(base);
    expect(draws(createRng(-1234, 0), 20)).not.toEqual(base);
  });

  it('gives each stream of one seed a different first draw (so n choices do not start alike)', () => {
    const firsts = Array.from({ length: 8 }, (_, stream) => createRng(7, stream).nextFloat());
    expect(new Set(firsts).size).toBe(8);
  });

  it('gives different sequences to unseeded generators', () => {
    expect(draws(createRng(undefined), 10)).not.toEqual(draws(createRng(undefined), 10));
  });

  it('draws floats in [0, 1) that are close to uniform', () => {
    const rng = createRng(7);
    const buckets = new Array<number>(10).fill(0);
    const count = 100_000;
    let outOfRange = 0;
    for (let i = 0; i < count; i++) {
      const x = rng.nextFloat();
      if (!(x >= 0 && x < 1)) outOfRange++;
      else buckets[Math.floor(x * 10)]!++;
    }
    expect(outOfRange).toBe(0);
    // Chi-square with 9 degrees of freedom: 27.9 is the 0.1% critical value.
    const expected = count / 10;
    const chi2 = buckets.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.9);
  });

  it('rejects a seed that is not a safe integer', () => {
    expect(() => createRng(0.5)).toThrow(/safe integers/);
  });
});
