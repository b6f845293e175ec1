// Numeric kernels over one row of logits: argmax, log-sum-exp, log-softmax and top-k partial
// selection. Shared by the processors, the sampler, beam search and prompt logprobs.

/**
 * The value of a masked token. Hot loops use this and the `exp`/`log` below instead of the globals
 * `-Infinity`/`Math.exp`: inside a vm context (jest runs tests in one) every global read goes
 * through an interceptor and made a 50257-entry pass about 20 times slower.
 */
export const MASKED = Number.NEGATIVE_INFINITY;
export const { exp, log } = Math;

/** Rows are model outputs (Float32Array) or scratch copies; both kinds are accepted. */
export type Row = Float32Array | Float64Array;

/** Index of the largest value; the lowest index wins ties. -1 for an empty row. NaN never wins. */
export function argmax(values: Row): number {
  let best = -1;
  let bestValue = MASKED;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  // All -Infinity: any index is as good; 0 keeps callers from handling -1 on a non-empty row.
  return best === -1 && values.length > 0 ? 0 : best;
}

/** Largest value of the row (-Infinity when every entry is -Infinity). */
export function maxValue(values: Row): number {
  let m = MASKED;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > m) m = v;
  }
  return m;
}

/** log(sum(exp(values))), shifted by the maximum so large logits do not overflow. */
export function logSumExp(values: Row): number {
  const m = maxValue(values);
  if (m === MASKED || m === -MASKED) return m;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += exp(values[i]! - m);
  return m + log(sum);
}

/**
 * Log-probabilities of a row of logits. Writes into `out` when given (reuse one buffer per step to
 * avoid allocating 200 KB per call); `out` may be `values` itself.
 */
export function logSoftmax<T extends Row = Float32Array>(values: Row, out?: T): T {
  const target = (out ?? new Float32Array(values.length)) as T;
  if (target.length !== values.length) {
    throw new RangeError(`logSoftmax: out has length ${target.length}, expected ${values.length}`);
  }
  const lse = logSumExp(values);
  for (let i = 0; i < values.length; i++) target[i] = values[i]! - lse;
  return target;
}

/**
 * Indices of the `k` largest values, largest first (lower index first among equal values), by a
 * size-k min-heap: O(V log k) worst case and close to one comparison per entry in practice, instead
 * of sorting the whole vocabulary. NaN entries are never selected.
 */
export function topKIndices(values: Row, k: number): number[] {
  const size = Math.min(Math.max(0, Math.floor(k)), values.length);
  if (size === 0) return [];
  // heap[0] is the worst kept entry: smallest value, and among equal values the highest index.
  const heap = new Int32Array(size);
  let count = 0;
  const worse = (a: number, b: number): boolean => {
    const va = values[a]!;
    const vb = values[b]!;
    return va < vb || (va === vb && a > b);
  };
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= count) return;
      const r = l + 1;
      const c = r < count && worse(heap[r]!, heap[l]!) ? r : l;
      if (!worse(heap[c]!, heap[i]!)) return;
      const tmp = heap[i]!;
      heap[i] = heap[c]!;
      heap[c] = tmp;
      i = c;
    }
  };
  for (let idx = 0; idx < values.length; idx++) {
    const v = values[idx]!;
    // v !== v is the NaN test without a global lookup.
    if (v !== v) continue;
    if (count < size) {
      let i = count++;
      heap[i] = idx;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(heap[i]!, heap[p]!)) break;
        const tmp = heap[i]!;
        heap[i] = heap[p]!;
        heap[p] = tmp;
        i = p;
      }
    } else if (v > values[heap[0]!]!) {
      // Strictly greater only: an equal value at a higher index loses the tie to the kept one.
      heap[0] = idx;
      siftDown(0);
    }
  }
  const result = Array.from(heap.subarray(0, count));
  result.sort((a, b) => values[b]! - values[a]! || a - b);
  return result;
}

/** The k-th largest value (1-based k), e.g. the top-k cut-off; -Infinity when k exceeds the row. */
export function kthLargest(values: Row, k: number): number {
  const indices = topKIndices(values, k);
  return indices.length < k ? MASKED : values[indices[indices.length - 1]!]!;
}
