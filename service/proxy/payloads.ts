// What the proxy reads from the upstream's answers, per protocol: the token usage, and the generated
// text of a body, a chunk or an event (for the token estimate of a broken stream and LOG_CONTENT).
// Read by hand from the parsed JSON: no schema rebuilds what is relayed.
import type { Protocol } from './endpoints';
import { InvalidUpstreamResponse } from './upstream-errors';

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

/** Usage as the protocol reports it (`prompt_tokens`/`completion_tokens`, or the Responses API's `input_tokens`/`output_tokens`). */
export function usageOf(protocol: Protocol, usage: unknown): Usage | undefined {
  if (!isObject(usage)) return undefined;
  if (protocol === 'responses') return { promptTokens: count(usage.input_tokens), completionTokens: count(usage.output_tokens) };
  if (typeof usage.prompt_tokens !== 'number') return undefined;
  return { promptTokens: count(usage.prompt_tokens), completionTokens: count(usage.completion_tokens) };
}

/** Parses a whole (non-streaming) answer; anything but a JSON object is not an OpenAI response. */
export function parseAnswer(text: string): Json {
  const value: unknown = JSON.parse(text);
  if (!isObject(value)) throw new InvalidUpstreamResponse('the upstream answered with JSON that is not an object');
  return value;
}

/** Generated text of a chat delta or message: content, refusal, reasoning, tool-call arguments. */
function messageTexts(message: unknown, into: string[]): void {
  if (!isObject(message)) return;
  for (const field of ['content', 'refusal', 'reasoning_content']) {
    const text = message[field];
    if (typeof text === 'string') into.push(text);
  }
  const calls = message.tool_calls;
  if (!Array.isArray(calls)) return;
  for (const call of calls) {
    const fn = isObject(call) ? call.function : undefined;
    if (isObject(fn) && typeof fn.arguments === 'string') into.push(fn.arguments);
  }
}

/** The text pieces a chat or completions chunk (or body) carries, in choice order. */
export function choiceTexts(value: Json, into: string[]): void {
  const choices = value.choices;
  if (!Array.isArray(choices)) return;
  for (const choice of choices) {
    if (!isObject(choice)) continue;
    if (typeof choice.text === 'string') into.push(choice.text);
    messageTexts(choice.delta, into);
    messageTexts(choice.message, into);
  }
}

/** The text of a whole answer, for LOG_CONTENT. */
export function answerTexts(protocol: Protocol, value: Json): string[] {
  const texts: string[] = [];
  if (protocol === 'chat' || protocol === 'completions') choiceTexts(value, texts);
  if (protocol === 'responses' && Array.isArray(value.output)) {
    for (const item of value.output) {
      if (!isObject(item) || !Array.isArray(item.content)) continue;
      for (const part of item.content) if (isObject(part) && typeof part.text === 'string') texts.push(part.text);
    }
  }
  return texts;
}
