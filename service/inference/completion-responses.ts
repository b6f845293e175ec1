// Shapes engine output as OpenAI /v1/completions bodies and stream chunks.
import type { Completion, CompletionUsage } from 'openai/resources/completions';
import type { CompletionChunk } from './api';
import { choiceIndex, collectGeneration } from './choices';
import type { TaggedEvent } from './event-stream';
import { completionLogprobs, joinCompletionLogprobs, type CompletionLogprobs } from './logprobs';
import type { RequestMetrics } from './metrics';
import type { RequestPlan } from './request-plan';

export interface ResponseMeta {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

export interface CompletionOptions {
  readonly echo: boolean;
  readonly includeUsage: boolean;
}

export function promptTokenCount(plan: RequestPlan): number {
  return plan.prompts.reduce((sum, prompt) => sum + prompt.ids.length, 0);
}

function usage(plan: RequestPlan, completionTokens: number): CompletionUsage {
  const promptTokens = promptTokenCount(plan);
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

export async function completionBody(
  events: AsyncIterable<TaggedEvent>,
  plan: RequestPlan,
  options: CompletionOptions,
  meta: ResponseMeta,
  metrics: RequestMetrics,
): Promise<Completion> {
  const wantsLogprobs = plan.params.logprobs !== undefined;
  const generation = await collectGeneration(events, plan.prompts.length, plan.params.n, metrics);
  return {
    id: meta.id,
    object: 'text_completion',
    created: meta.created,
    model: meta.model,
    choices: generation.choices.map((choice) => {
      const prompt = plan.prompts[choice.promptIndex];
      const promptText = prompt?.text ?? '';
      let logprobs: CompletionLogprobs | null = null;
      if (wantsLogprobs) {
        const generated = completionLogprobs(choice.tokens, promptText.length);
        const promptTokens = generation.promptTokens.get(choice.promptIndex);
        logprobs = options.echo && promptTokens ? joinCompletionLogprobs(completionLogprobs(promptTokens, 0), generated) : generated;
      }
      return {
        index: choice.index,
        text: options.echo ? promptText + choice.text : choice.text,
        logprobs,
        finish_reason: choice.finishReason,
      };
    }),
    usage: usage(plan, generation.completionTokens),
  };
}

export async function* completionChunks(
  events: AsyncIterable<TaggedEvent>,
  plan: RequestPlan,
  options: CompletionOptions,
  meta: ResponseMeta,
  metrics: RequestMetrics,
): AsyncGenerator<CompletionChunk> {
  const { n } = plan.params;
  const wantsLogprobs = plan.params.logprobs !== undefined;
  const chunk = (choices: CompletionChunk['choices']): CompletionChunk => ({
    id: meta.id,
    object: 'text_completion',
    created: meta.created,
    model: meta.model,
    choices,
    ...(options.includeUsage ? { usage: null as unknown as undefined } : {}),
  });
  // Text offsets for logprobs continue from the prompt's end, per choice.
  const offsets = new Map<number, number>();
  const echoChunk = (promptIndex: number, logprobs: CompletionLogprobs | null): CompletionChunk => {
    const text = plan.prompts[promptIndex]?.text ?? '';
    return chunk(
      Array.from({ length: n }, (_, choice) => ({ index: choiceIndex(promptIndex, choice, n), text, logprobs, finish_reason: null })),
    );
  };
  if (options.echo && !plan.params.promptLogprobs) {
    for (let promptIndex = 0; promptIndex < plan.prompts.length; promptIndex += 1) yield echoChunk(promptIndex, null);
  }
  let completionTokens = 0;
  for await (const { promptIndex, event } of events) {
    if (event.type === 'prompt') {
      if (options.echo) yield echoChunk(promptIndex, completionLogprobs(event.tokens, 0));
      continue;
    }
    const index = choiceIndex(promptIndex, event.choice, n);
    if (event.type === 'delta') {
      metrics.firstToken();
      metrics.tokens(event.tokens.length);
      const offset = offsets.get(index) ?? plan.prompts[promptIndex]?.text.length ?? 0;
      offsets.set(index, offset + event.text.length);
      yield chunk([{ index, text: event.text, logprobs: wantsLogprobs ? completionLogprobs(event.tokens, offset) : null, finish_reason: null }]);
    } else {
      completionTokens += event.completionTokens;
      metrics.finish(event.reason, event.completionTokens, event.timings);
      yield chunk([{ index, text: '', logprobs: null, finish_reason: event.reason }]);
    }
  }
  if (options.includeUsage) yield { ...chunk([]), usage: usage(plan, completionTokens) };
}
