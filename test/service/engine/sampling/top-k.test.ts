import { TopKProcessor } from '../../../../service/engine/sampling/top-k';
import { GPT2_VOCAB, kept, randomLogits } from './helpers';

describe('TopKProcessor', () => {
  it('keeps exactly the k highest logits of a vocabulary row, unchanged', () => {
    const row = randomLogits(GPT2_VOCAB, 5);
    const original = Float32Array.from(row);
    new TopKProcessor(50).process(row);
    const survivors = kept(row);
    expect(survivors).toHaveLength(50);
    const lowestKept = Math.min(...survivors.map((i) => original[i]!));
    const highestMasked = original.reduce((m, v, i) => (row[i] === -Infinity ? Math.max(m, v) : m), -Infinity);
    expect(lowestKept).toBeGreaterThan(highestMasked);
    for (const i of survivors) expect(row[i]).toBe(original[i]);
  });

  it('keeps every token tied with the k-th', () => {
    const row = Float32Array.from([5, 3, 3, 1]);
    new TopKProcessor(2).process(row);
    expect(kept(row)).toEqual([0, 1, 2]);
  });

  it('does nothing when k covers the vocabulary', () => {
    const row = Float32Array.from([1, 2, 3]);
    new TopKProcessor(3).process(row);
    expect(kept(row)).toEqual([0, 1, 2]);
  });
});
