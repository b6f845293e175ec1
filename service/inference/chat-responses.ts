// Shapes engine output as OpenAI /v1/chat/completions bodies and stream chunks.
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { CompletionUsage } from 'openai/resources/completions';
import type { Tokenizer } from '../engine/types';
import { collectGeneration } from './choices';
import type { ResponseMeta } from './completion-responses';
import type { TaggedEvent } from './event-stream';
import { chatLogprobs } from './logprobs';
import type { RequestMetrics } from './metrics';
import type { RequestPlan } from './request-plan';

function usage(plan: RequestPlan, completionTokens: number): CompletionUsage {
  const promptTokens = plan.prompts[0]?.ids.length ?? 0;
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** What the responses need of the tokenizer: token bytes for logprobs. */
type BytesOf = Pick<Tokenizer, 'tokenBytes'>;

export async function chatBody(
  events: AsyncIterable<TaggedEvent>,
  plan: RequestPlan,
  tokenizer: BytesOf,
  meta: ResponseMeta,
  metrics: RequestMetrics,
): Promise<ChatCompletion> {
  const wantsLogprobs = plan.params.logprobs !== undefined;
  const generation = await collectGeneration(events, 1, plan.params.n, metrics);
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: generation.choices.map((choice) => ({
      index: choice.index,
      message: { role: 'assistant', content: choice.text, refusal: null },
      logprobs: wantsLogprobs ? { content: chatLogprobs(choice.tokens, tokenizer), refusal: null } : null,
      finish_reason: choice.finishReason,
    })),
    usage: usage(plan, generation.completionTokens),
  };
}

export async function* chatChunks(
  events: AsyncIterable<TaggedEvent>,
  plan: RequestPlan,
  tokenizer: BytesOf,
  includeUsage: boolean,
  meta: ResponseMeta,
  metrics: RequestMetrics,
): AsyncGenerator<ChatCompletionChunk> {
  const wantsLogprobs = plan.params.logprobs !== undefined;
  const chunk = (choices: ChatCompletionChunk['choices']): ChatCompletionChunk => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    choices,
    ...(includeUsage ? { usage: null } : {}),
  });
  // The role comes first, in its own delta, for every choice.
  yield chunk(
    Array.from({ length: plan.params.n }, (_, index) => ({
      index,
      delta: { role: 'assistant' as const, content: '' },
      logprobs: null,
      finish_reason: null,
    })),
  );
  let completionTokens = 0;
  for await (const { event } of events) {
    if (event.type === 'prompt') continue;
    if (event.type === 'delta') {
      metrics.firstToken();
      metrics.tokens(event.tokens.length);
      yield chunk([
        {
          index: event.choice,
          delta: { content: event.text },
          logprobs: wantsLogprobs ? { content: chatLogprobs(event.tokens, tokenizer), refusal: null } : null,
          finish_reason: null,
        },
      ]);
    } else {
      completionTokens += event.completionTokens;
      metrics.finish(event.reason, event.completionTokens, event.timings);
      yield chunk([{ index: event.choice, delta: {}, logprobs: null, finish_reason: event.reason }]);
    }
  }
  if (includeUsage) yield { ...chunk([]), usage: usage(plan, completionTokens) };
}
