// The prompt of a chat request: the model's own chat template (tokenizer_config.json `chat_template`
// or chat_template.jinja, rendered with @huggingface/jinja as transformers does) when it has one, else
// the "Role: text" transcript of chat-template.ts; with the ids and the stops that end the turn.
import { Template } from '@huggingface/jinja';
import { InvalidParameterError } from '../engine/errors';
import type { Tokenizer } from '../engine/types';
import type { ChatMessage } from './schemas';
import { CHAT_TURN_STOPS, messageText, renderChatPrompt } from './chat-template';

export interface ChatPrompt {
  readonly text: string;
  readonly ids: number[];
  /** Stops added to the request's own: the default transcript's next-speaker lines; none with the model's template (its EOS ends the turn). */
  readonly turnStops: readonly string[];
}

export interface ChatFormatter {
  /** `model` when the model's chat template renders the turns, `default` for the built-in transcript. */
  readonly template: 'model' | 'default';
  render(messages: readonly ChatMessage[]): ChatPrompt;
}

export function createChatFormatter(tokenizer: Pick<Tokenizer, 'chatTemplate' | 'specialTokens' | 'encode' | 'encodeWithSpecialTokens'>): ChatFormatter {
  if (tokenizer.chatTemplate === undefined) {
    return {
      template: 'default',
      render: (messages) => {
        const text = renderChatPrompt(messages);
        return { text, ids: tokenizer.encode(text), turnStops: CHAT_TURN_STOPS };
      },
    };
  }
  const compiled = compile(tokenizer.chatTemplate);
  return {
    template: 'model',
    render: (messages) => {
      const text = renderModelTemplate(compiled, messages, tokenizer.specialTokens);
      return { text, ids: tokenizer.encodeWithSpecialTokens(text), turnStops: [] };
    },
  };
}

function compile(source: string): Template {
  try {
    return new Template(source);
  } catch (error) {
    // A template the Jinja engine cannot parse is the model's fault, found at start-up.
    throw new Error(`the model's chat template does not parse (${(error as Error).message}); fix chat_template in tokenizer_config.json or remove it to use the default transcript`);
  }
}

/**
 * As transformers' apply_chat_template: `messages` with string contents, the special tokens by
 * name, add_generation_prompt so the prompt ends where the assistant speaks. A trailing assistant
 * message is continued instead (continue_final_message): the rendering is cut after its text.
 */
function renderModelTemplate(template: Template, messages: readonly ChatMessage[], specialTokens: Readonly<Record<string, string>>): string {
  const conversation = messages.map((message) => ({ role: message.role === 'developer' ? 'system' : message.role, content: messageText(message) }));
  const last = conversation[conversation.length - 1];
  const continues = last?.role === 'assistant' && last.content.length > 0;
  let rendered: string;
  try {
    rendered = template.render({ messages: conversation, add_generation_prompt: !continues, ...specialTokens });
  } catch (error) {
    // Templates reject conversations they do not support (raise_exception), e.g. roles that do not alternate.
    throw new InvalidParameterError('messages', `The model's chat template refused these messages: ${(error as Error).message}`);
  }
  if (!continues || last === undefined) return rendered;
  const end = rendered.lastIndexOf(last.content.trim());
  return end < 0 ? rendered : rendered.slice(0, end + last.content.trim().length);
}
