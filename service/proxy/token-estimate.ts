// The up-front token estimate a request is charged against its key's tokens-per-minute limit:
// prompt characters / 4 plus the completion tokens it may produce (reconciled with the upstream's usage later).
import type { ChatCompletionRequest, CompletionRequest } from '../http/schemas';

/** Token ids already are tokens; count them as four characters each so that /4 gives them back. */
function promptCharacters(prompt: CompletionRequest['prompt']): number {
  if (typeof prompt === 'string') return prompt.length;
  let total = 0;
  for (const part of prompt) {
    if (typeof part === 'string') total += part.length;
    else if (typeof part === 'number') total += 4;
    else total += part.length * 4;
  }
  return total;
}

function messageCharacters(messages: ChatCompletionRequest['messages']): number {
  let total = 0;
  for (const message of messages) {
    const content = message.content;
    if (typeof content === 'string') total += content.length;
    else if (Array.isArray(content)) for (const part of content) total += part.text.length;
  }
  return total;
}

export function estimateTokens(request: CompletionRequest | ChatCompletionRequest, assumedMaxTokens: number): number {
  const chat = 'messages' in request;
  const promptTokens = Math.ceil((chat ? messageCharacters(request.messages) : promptCharacters(request.prompt)) / 4);
  const maxTokens = (chat ? (request.max_completion_tokens ?? request.max_tokens) : request.max_tokens) ?? assumedMaxTokens;
  const choices = Math.max(request.n ?? 1, request.best_of ?? 1);
  return promptTokens + maxTokens * choices;
}
