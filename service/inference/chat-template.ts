// The default chat template, for models without their own (GPT-2 was never trained on chat):
// messages become a plain "Role: text" transcript ending in "Assistant:", the format GPT-2 continues
// most naturally. chat-prompt.ts uses the model's template instead when it has one.
import type { ChatMessage } from './schemas';

const ROLE_LABELS: Readonly<Record<ChatMessage['role'], string>> = {
  system: 'System',
  developer: 'System',
  user: 'User',
  assistant: 'Assistant',
};

/**
 * Stop strings that end the assistant's turn when GPT-2 starts writing the next speaker's line.
 * Added to the request's own stops (they are not counted against its limit of four).
 */
export const CHAT_TURN_STOPS: readonly string[] = ['\nUser:', '\nSystem:'];

/** A message's content as one string (text parts joined). */
export function messageText(message: ChatMessage): string {
  const content = message.content;
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => part.text).join('');
}

/**
 * Renders messages as:
 *
 *     System: You are terse.
 *
 *     User: Hello
 *
 *     Assistant:
 *
 * Each message is "<Role>: <text>" followed by a blank line; the prompt ends with "Assistant:"
 * so the model writes the reply. A trailing assistant message is continued rather than closed.
 */
export function renderChatPrompt(messages: readonly ChatMessage[]): string {
  const last = messages[messages.length - 1];
  const continuesAssistant = last?.role === 'assistant';
  const closed = continuesAssistant ? messages.slice(0, -1) : messages;
  const turns = closed.map((message) => `${ROLE_LABELS[message.role]}: ${messageText(message).trim()}\n\n`);
  const open = continuesAssistant && last ? `Assistant: ${messageText(last).trim()}` : 'Assistant:';
  return turns.join('') + open;
}
