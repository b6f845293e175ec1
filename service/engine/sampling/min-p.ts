// min_p: masks tokens whose probability is below min_p times the most likely token's. In logit
// space that is a fixed offset below the maximum, so it needs no softmax.
import type { LogitsProcessor } from './logits-processor';
import { MASKED, maskBelow, maxValue } from './math';

export class MinPProcessor implements LogitsProcessor {
  readonly name = 'min_p';
  private readonly logOffset: number;

  constructor(minP: number) {
    if (!(minP > 0 && minP <= 1)) throw new RangeError(`min_p must be in (0, 1] here (got ${minP})`);
    this.logOffset = Math.log(minP);
  }

  process(logits: Float32Array): void {
    const max = maxValue(logits);
    if (max === MASKED) return;
    maskBelow(logits, max + this.logOffset);
  }
}
