// Collects a whole generation (every prompt, every choice) for non-streaming responses.
import type { FinishReason, TokenInfo } from '../engine/types';
import type { TaggedEvent } from './event-stream';
import type { RequestMetrics } from './metrics';

export interface CollectedChoice {
  /** OpenAI's index: prompt-major (prompt * n + choice). */
  readonly index: number;
  readonly promptIndex: number;
  text: string;
  readonly tokens: TokenInfo[];
  finishReason: FinishReason;
  completionTokens: number;
}

export interface CollectedGeneration {
  readonly choices: readonly CollectedChoice[];
  /** Prompt tokens with logprobs, per prompt (only when prompt logprobs were asked for). */
  readonly promptTokens: ReadonlyMap<number, readonly TokenInfo[]>;
  readonly completionTokens: number;
}

export function choiceIndex(promptIndex: number, choice: number, n: number): number {
  return promptIndex * n + choice;
}

/** Reads every event and feeds the request's metrics on the way. */
export async function collectGeneration(
  events: AsyncIterable<TaggedEvent>,
  promptCount: number,
  n: number,
  metrics: RequestMetrics,
): Promise<CollectedGeneration> {
  const choices: CollectedChoice[] = [];
  for (let promptIndex = 0; promptIndex < promptCount; promptIndex += 1) {
    for (let choice = 0; choice < n; choice += 1) {
      choices.push({ index: choiceIndex(promptIndex, choice, n), promptIndex, text: '', tokens: [], finishReason: 'length', completionTokens: 0 });
    }
  }
  const promptTokens = new Map<number, readonly TokenInfo[]>();
  let completionTokens = 0;
  for await (const { promptIndex, event } of events) {
    if (event.type === 'prompt') {
      promptTokens.set(promptIndex, event.tokens);
      continue;
    }
    const target = choices[choiceIndex(promptIndex, event.choice, n)];
    if (!target) continue;
    if (event.type === 'delta') {
      metrics.firstToken();
      metrics.tokens(event.tokens.length);
      target.text += event.text;
      target.tokens.push(...event.tokens);
    } else {
      target.finishReason = event.reason;
      target.completionTokens = event.completionTokens;
      completionTokens += event.completionTokens;
      metrics.finish(event.reason, event.completionTokens, event.timings);
    }
  }
  return { choices, promptTokens, completionTokens };
}
