// Helpers for tests that compare forward passes: token ids as the graph's int64 input, and the
// largest difference between two logits arrays of the same length.

export const ids = (values: readonly number[]): BigInt64Array => BigInt64Array.from(values, BigInt);

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
