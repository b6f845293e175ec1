// The prompts benchmarks feed the engine: deterministic token ids.

/** `length` token ids; row `row` differs from the others so a batch is not one prompt repeated. */
export function promptIds(row: number, length: number): number[] {
  return Array.from({ length }, (_, i) => (1000 + 7919 * (i + 1) * (row + 1)) % 50000);
}
