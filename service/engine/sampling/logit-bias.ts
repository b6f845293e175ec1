// logit_bias (OpenAI): adds a per-token bias to its logit. -100 is a hard ban (-Infinity) so that
// no temperature can bring the token back, as OpenAI documents -100 as "ban".
import type { LogitsProcessor } from './logits-processor';
import { MASKED } from './math';

export const BAN_BIAS = -100;

export class LogitBiasProcessor implements LogitsProcessor {
  readonly name = 'logit_bias';
  private readonly ids: Int32Array;
  private readonly biases: Float32Array;

  constructor(bias: ReadonlyMap<number, number>) {
    this.ids = Int32Array.from(bias.keys());
    this.biases = Float32Array.from(bias.values());
  }

  process(logits: Float32Array): void {
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids[i]!;
      if (id >= logits.length) continue;
      const bias = this.biases[i]!;
      logits[id] = bias <= BAN_BIAS ? MASKED : logits[id]! + bias;
    }
  }
}
