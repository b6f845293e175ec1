// Turns one choice's generated tokens into GenerationEvents: whole-character, stop-safe text deltas
// with the tokens that produced them, and one finish event with the reason and the token count.
import type { BeamHypothesis } from './beam-search';
import type { SampledToken } from './sampling';
import { StopMatcher } from './stop-matcher';
import type { FinishReason, GenerationEvent, SamplingParams, StreamDecoder, TokenInfo, Tokenizer } from './types';

/** What a choice needs of the tokenizer: a streaming decoder and each token's text. */
export type ChoiceTokenizer = Pick<Tokenizer, 'createDecoder' | 'tokenText'>;

export class ChoiceOutput {
  private readonly decoder: StreamDecoder;
  private readonly stopMatcher: StopMatcher;
  private pending: TokenInfo[] = [];
  private generated = 0;
  private done = false;

  /** @param promptIds the prompt as the caller gave it: context for the decoder's first delta */
  constructor(
    private readonly index: number,
    private readonly params: SamplingParams,
    private readonly eosTokenId: number,
    private readonly tokenizer: ChoiceTokenizer,
    promptIds: readonly number[] = [],
  ) {
    this.decoder = tokenizer.createDecoder(promptIds);
    this.stopMatcher = new StopMatcher(params.stop);
  }

  get finished(): boolean {
    return this.done;
  }

  /** Takes the next sampled token; returns the events it releases (none while text is held back). */
  accept(token: SampledToken): GenerationEvent[] {
    if (this.done) throw new Error(`choice ${this.index} already finished`);
    this.generated++;
    if (token.tokenId === this.eosTokenId && this.params.stopOnEos) return this.finishFlushed('stop', '');
    this.pending.push(this.tokenInfo(token));
    const { text, stop } = this.stopMatcher.push(this.decoder.push(token.tokenId));
    if (stop !== undefined) return this.finish('stop', text);
    if (this.generated >= this.params.maxTokens) return this.finishFlushed('length', text);
    return text.length > 0 ? [this.delta(text)] : [];
  }

  /** A finished beam: its whole text in one delta, then its finish event. */
  acceptBeam(hypothesis: BeamHypothesis): GenerationEvent[] {
    let text = '';
    for (const [i, tokenId] of hypothesis.tokens.entries()) {
      this.generated++;
      const logprob = hypothesis.logprobs[i];
      this.pending.push(this.tokenInfo({ tokenId, ...(this.params.logprobs !== undefined && logprob !== undefined ? { logprob } : {}) }));
      const piece = this.stopMatcher.push(this.decoder.push(tokenId));
      text += piece.text;
      if (piece.stop !== undefined) return this.finish('stop', text);
    }
    if (hypothesis.endedOnEos) this.generated++;
    return this.finishFlushed(hypothesis.endedOnEos ? 'stop' : 'length', text);
  }

  /** Ends the choice after releasing held-back text; that text may still complete a stop string. */
  private finishFlushed(reason: FinishReason, text: string): GenerationEvent[] {
    const held = this.stopMatcher.push(this.decoder.flush());
    if (held.stop !== undefined) return this.finish('stop', text + held.text);
    return this.finish(reason, text + held.text + this.stopMatcher.flush());
  }

  private finish(reason: FinishReason, text: string): GenerationEvent[] {
    this.done = true;
    const events: GenerationEvent[] = [];
    if (text.length > 0 || this.pending.length > 0) events.push(this.delta(text));
    events.push({ type: 'finish', choice: this.index, reason, completionTokens: this.generated });
    return events;
  }

  private delta(text: string): GenerationEvent {
    const tokens = this.pending;
    this.pending = [];
    return { type: 'delta', choice: this.index, text, tokens };
  }

  private tokenInfo(token: SampledToken): TokenInfo {
    const info: TokenInfo = { tokenId: token.tokenId, text: this.tokenizer.tokenText(token.tokenId) };
    if (this.params.logprobs === undefined) return info;
    return {
      ...info,
      logprob: token.logprob ?? null,
      topLogprobs: (token.topLogprobs ?? []).map((t) => ({ tokenId: t.tokenId, text: this.tokenizer.tokenText(t.tokenId), logprob: t.logprob })),
    };
  }
}
