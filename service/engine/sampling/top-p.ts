// top_p (nucleus): keeps the smallest set of most likely tokens whose probability mass reaches p
// and masks the rest. The cut-off is found by a mass-weighted quickselect (expected O(V)) over the
// tokens still unmasked, so no step sorts the vocabulary; after top_k only k tokens are weighed.
import type { LogitsProcessor } from './logits-processor';
import { expNonPositive, MASKED as MASKED_VALUE, maxValue } from './math';

// Local bindings for the loop below: imported names are getter calls on the module object.
const exp = expNonPositive;
const MASKED = MASKED_VALUE;

/**
 * Float32 logits make the mass of a set exact only to about 1e-7; without this slack a set whose
 * mass is p up to rounding would pull in one more token.
 */
const MASS_TOLERANCE = 1e-6;

export class TopPProcessor implements LogitsProcessor {
  readonly name = 'top_p';
  private indices = new Int32Array(0);
  private weights = new Float64Array(0);

  constructor(private readonly p: number) {
    if (!(p > 0 && p <= 1)) throw new RangeError(`top_p must be in (0, 1] here (got ${p})`);
  }

  process(logits: Float32Array): void {
    if (this.p >= 1) return;
    const max = maxValue(logits);
    if (max === MASKED) return;
    if (this.indices.length < logits.length) {
      this.indices = new Int32Array(logits.length);
      this.weights = new Float64Array(logits.length);
    }
    const { indices, weights } = this;
    let n = 0;
    let total = 0;
    for (let i = 0; i < logits.length; i++) {
      const logit = logits[i]!;
      if (logit === MASKED) continue;
      const w = exp(logit - max);
      indices[n] = i;
      weights[n] = w;
      total += w;
      n++;
    }
    const cutoff = nucleusCutoff(indices, weights, n, total * (this.p - MASS_TOLERANCE));
    for (let j = 0; j < n; j++) if (weights[j]! < cutoff) logits[indices[j]!] = MASKED;
  }
}

/**
 * The smallest weight w* such that the weights >= w* sum to at least `target` (ties at w* are all
 * kept, so the result does not depend on token order). Permutes `indices`/`weights[0..n)` in place.
 */
function nucleusCutoff(indices: Int32Array, weights: Float64Array, n: number, target: number): number {
  let lo = 0;
  let hi = n;
  // Mass of the weights already known to be above everything in [lo, hi).
  let above = 0;
  while (lo < hi) {
    const pivot = medianOfThree(weights[lo]!, weights[(lo + hi) >> 1]!, weights[hi - 1]!);
    // Three-way partition, largest first: [lo, gt) > pivot, [gt, i) === pivot, [lt, hi) < pivot.
    let gt = lo;
    let i = lo;
    let lt = hi;
    let massGreater = 0;
    let massEqual = 0;
    while (i < lt) {
      const w = weights[i]!;
      if (w > pivot) {
        massGreater += w;
        swap(indices, weights, i++, gt++);
      } else if (w < pivot) {
        swap(indices, weights, i, --lt);
      } else {
        massEqual += w;
        i++;
      }
    }
    if (gt > lo && above + massGreater >= target) {
      hi = gt;
    } else if (above + massGreater + massEqual >= target) {
      return pivot;
    } else {
      above += massGreater + massEqual;
      lo = lt;
    }
  }
  // Rounding left the target just out of reach: keep every candidate.
  return 0;
}

function medianOfThree(a: number, b: number, c: number): number {
  if (a < b) return b < c ? b : a < c ? c : a;
  return a < c ? a : b < c ? c : b;
}

function swap(indices: Int32Array, weights: Float64Array, a: number, b: number): void {
  const index = indices[a]!;
  indices[a] = indices[b]!;
  indices[b] = index;
  const weight = weights[a]!;
  weights[a] = weights[b]!;
  weights[b] = weight;
}
