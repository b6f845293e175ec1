// The up-front token estimate a request is charged against its key's tokens-per-minute limit:
// the characters of its input fields / 4, plus the completion tokens it may produce (reconciled
// with the upstream's usage later), and the estimate for text relayed when no usage came back.
import type { Protocol } from './endpoints';

/** The fields whose text the upstream counts as input tokens, per protocol (also what LOG_CONTENT logs of a request). */
export const INPUT_FIELDS: Readonly<Record<Protocol, readonly string[]>> = {
  chat: ['messages', 'tools', 'functions', 'response_format'],
  completions: ['prompt', 'suffix'],
  responses: ['input', 'instructions', 'tools', 'text'],
  embeddings: ['input'],
  moderations: ['input'],
};

/** Images, audio and files are charged a flat amount (OpenAI's low-detail image), not their base64 length. */
const MEDIA_TOKENS = 85;
const MEDIA_PART_TYPES: ReadonlySet<string> = new Set(['image_url', 'input_image', 'input_audio', 'image', 'file', 'input_file']);
const CHARS_PER_TOKEN = 4;

export interface TokenEstimate {
  readonly promptTokens: number;
  /** The prompt plus the most the request may generate. */
  readonly totalTokens: number;
}

/** Characters of text in `value`; token ids count four each so that /4 gives them back. Iterative: bodies may nest deeply. */
function inputCharacters(value: unknown): number {
  let total = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') total += next.length;
    else if (typeof next === 'number') total += CHARS_PER_TOKEN;
    else if (Array.isArray(next)) for (const item of next) pending.push(item);
    else if (typeof next === 'object' && next !== null) {
      const type = (next as { type?: unknown }).type;
      if (typeof type === 'string' && MEDIA_PART_TYPES.has(type)) total += MEDIA_TOKENS * CHARS_PER_TOKEN;
      else for (const item of Object.values(next)) pending.push(item);
    }
  }
  return total;
}

function positiveInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

function maxCompletionTokens(protocol: Protocol, body: Readonly<Record<string, unknown>>, assumedMaxTokens: number): number {
  switch (protocol) {
    case 'chat':
      return (positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens) ?? assumedMaxTokens) * (positiveInt(body.n) ?? 1);
    case 'completions':
      return (positiveInt(body.max_tokens) ?? assumedMaxTokens) * Math.max(positiveInt(body.n) ?? 1, positiveInt(body.best_of) ?? 1);
    case 'responses':
      return positiveInt(body.max_output_tokens) ?? assumedMaxTokens;
    case 'embeddings':
    case 'moderations':
      return 0;
  }
}

export function estimateTokens(protocol: Protocol, body: Readonly<Record<string, unknown>>, assumedMaxTokens: number): TokenEstimate {
  let characters = 0;
  for (const field of INPUT_FIELDS[protocol]) characters += inputCharacters(body[field]);
  const promptTokens = Math.ceil(characters / CHARS_PER_TOKEN);
  return { promptTokens, totalTokens: promptTokens + maxCompletionTokens(protocol, body, assumedMaxTokens) };
}

/** Tokens of text that was relayed when the upstream reported no usage (a stream that broke or was aborted). */
export function tokensOfText(characters: number): number {
  return Math.ceil(characters / CHARS_PER_TOKEN);
}
