// Numeric kernels over one row of logits: argmax, max, exp, log-sum-exp, log-softmax, masking and
// top-k partial selection. Shared by the processors, the sampler, beam search and prompt logprobs.
// Every loop over a whole vocabulary row lives here, on module-local names: see MASKED.

/**
 * The value of a masked token. Hot loops read this and `log` from module-local constants, never
 * the globals `-Infinity`/`Math.*`, nor names imported from another module: inside a vm context
 * (jest) every global read goes through an interceptor, and under tsx/SWC every imported name is a
 * getter on the module object; either made a 50257-entry pass 2 to 20 times slower.
 */
export const MASKED = Number.NEGATIVE_INFINITY;
const { log } = Math;

const LOG2E = 1.4426950408889634;
const LN2 = 0.6931471805599453;
/** POW2_NEG[k] = 2^-k down to the smallest subnormal. */
const POW2_NEG = Float64Array.from({ length: 1075 }, (_, k) => 2 ** -k);

/**
 * exp(x) for x <= 0 (what softmax needs after subtracting the maximum): about twice as fast as
 * Math.exp, which dominates sampling. 2^x = 2^n * e^(g) with n = round(x log2 e) from a table and
 * |g| <= ln2/2 by a degree-7 Taylor polynomial: relative error below 1e-8, under float32 precision.
 * Returns 0 for -Infinity, NaN and x below about -745; positive x falls back to Math.exp.
 */
export function expNonPositive(x: number): number {
  const t = x * LOG2E;
  if (!(t > -1074)) return 0;
  if (t > 0) return Math.exp(x);
  // k = round(-t) by truncating 0.5 - t (>= 0.5); then t + k is in [-0.5, 0.5] and 2^t = 2^-k * e^g.
  const k = (0.5 - t) | 0;
  const g = (t + k) * LN2;
  const poly = 1 + g * (1 + g * (1 / 2 + g * (1 / 6 + g * (1 / 24 + g * (1 / 120 + g * (1 / 720 + g / 5040))))));
  return POW2_NEG[k]! * poly;
}

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
  for (let i = 0; i < values.length; i++) sum += expNonPositive(values[i]! - m);
  return m + log(sum);
}

/**
 * Replaces each logit by exp(logit - max) (unnormalised probability; masked tokens become 0) and
 * returns the sum of the stored float32 weights, so a cumulative walk over the row reaches it.
 */
export function exponentiateInPlace(values: Float32Array): number {
  const m = maxValue(values);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const logit = values[i]!;
    values[i] = logit === MASKED ? 0 : expNonPositive(logit - m);
    total += values[i]!;
  }
  return total;
}

/** Masks (sets to -Infinity) every entry below `cutoff`; entries equal to it stay. */
export function maskBelow(values: Float32Array, cutoff: number): void {
  for (let i = 0; i < values.length; i++) if (values[i]! < cutoff) values[i] = MASKED;
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
