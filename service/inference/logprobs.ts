// Renders the engine's per-token logprobs in the two shapes OpenAI uses: the legacy
// completions object (parallel arrays) and the chat `content` list (with UTF-8 bytes).
import type { ChatCompletionTokenLogprob } from 'openai/resources/chat/completions';
import type { CompletionChoice } from 'openai/resources/completions';
import type { TokenInfo, Tokenizer } from '../engine/types';

export type CompletionLogprobs = CompletionChoice.Logprobs;

/** `textOffset` is where the first token's text starts in prompt + completion. */
export function completionLogprobs(tokens: readonly TokenInfo[], textOffset: number): CompletionLogprobs {
  let offset = textOffset;
  const textOffsets: number[] = [];
  for (const token of tokens) {
    textOffsets.push(offset);
    offset += token.text.length;
  }
  return {
    tokens: tokens.map((token) => token.text),
    token_logprobs: tokens.map((token) => token.logprob ?? null) as number[],
    top_logprobs: tokens.map((token) =>
      token.topLogprobs ? Object.fromEntries(token.topLogprobs.map((top) => [top.text, top.logprob])) : null,
    ) as Array<Record<string, number>>,
    text_offset: textOffsets,
  };
}

/** Concatenates two chunks' logprobs (echo: prompt first, then the completion). */
export function joinCompletionLogprobs(first: CompletionLogprobs, second: CompletionLogprobs): CompletionLogprobs {
  return {
    tokens: [...(first.tokens ?? []), ...(second.tokens ?? [])],
    token_logprobs: [...(first.token_logprobs ?? []), ...(second.token_logprobs ?? [])],
    top_logprobs: [...(first.top_logprobs ?? []), ...(second.top_logprobs ?? [])],
    text_offset: [...(first.text_offset ?? []), ...(second.text_offset ?? [])],
  };
}

/** @param tokenizer gives each token's raw bytes (the engine's TokenInfo carries only ids and text) */
export function chatLogprobs(tokens: readonly TokenInfo[], tokenizer: Pick<Tokenizer, 'tokenBytes'>): ChatCompletionTokenLogprob[] {
  return tokens.map((token) => ({
    token: token.text,
    logprob: token.logprob ?? 0,
    bytes: Array.from(tokenizer.tokenBytes(token.tokenId)),
    top_logprobs: (token.topLogprobs ?? []).map((top) => ({
      token: top.text,
      logprob: top.logprob,
      bytes: Array.from(tokenizer.tokenBytes(top.tokenId)),
    })),
  }));
}
