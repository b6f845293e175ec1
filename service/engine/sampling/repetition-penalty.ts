// repetition_penalty (CTRL, as in Hugging Face and vLLM): for every distinct token of the prompt and
// of the generated text, divides a positive logit by the penalty and multiplies a negative one, so a
// penalty > 1 always makes the token less likely.
import type { LogitsContext, LogitsProcessor } from './logits-processor';
import { SeenTokens } from './seen-tokens';

export class RepetitionPenaltyProcessor implements LogitsProcessor {
  readonly name = 'repetition_penalty';
  private readonly seen = new SeenTokens();

  constructor(private readonly penalty: number) {}

  process(logits: Float32Array, context: LogitsContext): void {
    this.seen.reset(logits.length);
    this.apply(logits, context.promptIds);
    this.apply(logits, context.generatedIds);
  }

  private apply(logits: Float32Array, ids: readonly number[]): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!this.seen.add(id)) continue;
      const logit = logits[id]!;
      logits[id] = logit > 0 ? logit / this.penalty : logit * this.penalty;
    }
  }
}
