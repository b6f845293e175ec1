// presence_penalty and frequency_penalty (OpenAI's formula, over generated tokens only):
// logit[j] -= count[j] * frequency_penalty + (count[j] > 0 ? presence_penalty : 0).
import type { LogitsContext, LogitsProcessor } from './logits-processor';
import { SeenTokens } from './seen-tokens';

export class PresenceFrequencyPenaltyProcessor implements LogitsProcessor {
  readonly name = 'presence_frequency_penalty';
  private readonly seen = new SeenTokens();

  constructor(
    private readonly presencePenalty: number,
    private readonly frequencyPenalty: number,
  ) {}

  process(logits: Float32Array, context: LogitsContext): void {
    this.seen.reset(logits.length);
    const ids = context.generatedIds;
    // Subtracting the frequency penalty once per occurrence sums to count * penalty without a
    // count table; the presence penalty is subtracted on the first occurrence only.
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < logits.length)) continue;
      const first = this.seen.add(id);
      logits[id] = logits[id]! - this.frequencyPenalty - (first ? this.presencePenalty : 0);
    }
  }
}
