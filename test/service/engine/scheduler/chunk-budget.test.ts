import { ChunkBudget, MIN_AUTO_CHUNK_TOKENS, STEP_FACTOR } from '../../../../service/engine/scheduler/chunk-budget';

// The prefill chunk size while other sequences decode: fixed, off, or sized from measured step times.

/** Runs `steps` chunks whose time is `cost(tokens)`, decode steps taking `decodeSeconds`; returns the sizes chosen. */
function drive(budget: ChunkBudget, steps: number, cost: (tokens: number) => number, decodeSeconds: number): number[] {
  const sizes: number[] = [];
  for (let i = 0; i < steps; i++) {
    const tokens = budget.next();
    sizes.push(tokens);
    budget.observe(tokens, cost(tokens), decodeSeconds);
  }
  return sizes;
}

describe('ChunkBudget', () => {
  it('keeps a fixed size whatever the steps take, capped at the prefill run size', () => {
    const fixed = new ChunkBudget(32, 256);
    expect(drive(fixed, 5, () => 10, 0.01)).toEqual([32, 32, 32, 32, 32]);
    expect(new ChunkBudget(1000, 256).next()).toBe(256);
    expect(fixed.interleaves).toBe(true);
  });

  it('does not interleave at 0', () => {
    expect(new ChunkBudget(0, 256).interleaves).toBe(false);
  });

  it('auto: settles on the chunk that makes a step take STEP_FACTOR decode steps', () => {
    // A CPU-like pass: 20 ms fixed (reading every weight) plus 4 ms per prompt token; decode 50 ms.
    const cost = (tokens: number) => 0.02 + 0.004 * tokens;
    const sizes = drive(new ChunkBudget('auto', 256), 20, cost, 0.05);
    const settled = sizes[sizes.length - 1]!;
    // (STEP_FACTOR - 1) x 50 ms for the chunk: 7.5 tokens.
    expect(Math.abs(cost(settled) - (STEP_FACTOR - 1) * 0.05)).toBeLessThanOrEqual(0.004);
    expect(new Set(sizes.slice(-5)).size).toBe(1);
  });

  it('auto: shrinks as chunks get slower (a growing past), but not below its minimum', () => {
    const budget = new ChunkBudget('auto', 256);
    drive(budget, 20, (tokens) => 0.02 + 0.004 * tokens, 0.05);
    const early = budget.next();
    drive(budget, 20, (tokens) => 0.035 + 0.004 * tokens, 0.05);
    expect(budget.next()).toBeLessThan(early);
    drive(budget, 20, (tokens) => 0.2 + 0.004 * tokens, 0.05);
    expect(budget.next()).toBe(MIN_AUTO_CHUNK_TOKENS);
  });

  it('auto: grows to the prefill run size where prompt tokens are cheap next to a decode step (a GPU)', () => {
    const sizes = drive(new ChunkBudget('auto', 256), 20, (tokens) => 0.002 + 0.00001 * tokens, 0.01);
    expect(sizes[sizes.length - 1]).toBe(256);
  });
});
