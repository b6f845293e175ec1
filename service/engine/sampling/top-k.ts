// top_k: keeps the k highest logits (and any tied with the k-th, as Hugging Face does) and masks
// the rest, finding the cut-off by partial selection rather than sorting the vocabulary.
import type { LogitsProcessor } from './logits-processor';
import { kthLargest, maskBelow } from './math';

export class TopKProcessor implements LogitsProcessor {
  readonly name = 'top_k';

  constructor(private readonly k: number) {
    if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`top_k must be an integer >= 1 here (got ${k})`);
  }

  process(logits: Float32Array): void {
    if (this.k >= logits.length) return;
    maskBelow(logits, kthLargest(logits, this.k));
  }
}
