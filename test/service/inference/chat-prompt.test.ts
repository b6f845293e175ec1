// createChatFormatter: the model's Jinja chat template when the tokenizer has one (rendered as
// transformers renders it, its special tokens encoded as their ids), else the default transcript.
import { InvalidParameterError } from '../../../service/engine/errors';
import { createGpt2Tokenizer, GPT2_EOS_TOKEN_ID } from '../../../service/engine/tokenizer';
import { createChatFormatter } from '../../../service/inference/chat-prompt';
import { CHAT_TURN_STOPS, renderChatPrompt } from '../../../service/inference/chat-template';

/** DialoGPT-style: each turn's text followed by EOS (GPT2Tokenizer's old default template). */
const EOS_BETWEEN_TURNS = '{% for message in messages %}{{ message.content }}{{ eos_token }}{% endfor %}';
/** ChatML-style, with roles and a generation prompt. */
const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

describe('createChatFormatter', () => {
  it('renders with the model template and encodes its special tokens as their ids', () => {
    const tokenizer = createGpt2Tokenizer({ chatTemplate: EOS_BETWEEN_TURNS });
    const chat = createChatFormatter(tokenizer);
    const prompt = chat.render([
      { role: 'user', content: 'Does money buy happiness?' },
      { role: 'assistant', content: 'Depends how much.' },
      { role: 'user', content: 'Why?' },
    ]);
    expect(chat.template).toBe('model');
    expect(prompt.text).toBe('Does money buy happiness?<|endoftext|>Depends how much.<|endoftext|>Why?<|endoftext|>');
    expect(prompt.ids.filter((id) => id === GPT2_EOS_TOKEN_ID)).toHaveLength(3);
    expect(prompt.ids).toEqual([
      ...tokenizer.encode('Does money buy happiness?'),
      GPT2_EOS_TOKEN_ID,
      ...tokenizer.encode('Depends how much.'),
      GPT2_EOS_TOKEN_ID,
      ...tokenizer.encode('Why?'),
      GPT2_EOS_TOKEN_ID,
    ]);
    // The model's EOS ends its turn; no transcript stops are added.
    expect(prompt.turnStops).toEqual([]);
  });

  it('passes add_generation_prompt, maps developer to system, and continues a trailing assistant message', () => {
    const chat = createChatFormatter(createGpt2Tokenizer({ chatTemplate: CHATML }));
    expect(chat.render([{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'Hi' }]).text).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(chat.render([{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello, I' }]).text).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello, I');
  });

  it("turns the template's raise_exception into a 400-class error on messages", () => {
    const strict = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversations must start with a user message') }}{% endif %}{{ messages[0]['content'] }}";
    const chat = createChatFormatter(createGpt2Tokenizer({ chatTemplate: strict }));
    const render = () => chat.render([{ role: 'assistant', content: 'x' }]);
    expect(render).toThrow(InvalidParameterError);
    expect(render).toThrow("The model's chat template refused these messages: Conversations must start with a user message");
  });

  it('uses the default transcript and its turn stops when the model has no template', () => {
    const tokenizer = createGpt2Tokenizer();
    const chat = createChatFormatter(tokenizer);
    const messages = [{ role: 'user' as const, content: 'Hello <|endoftext|>' }];
    const prompt = chat.render(messages);
    expect(chat.template).toBe('default');
    expect(prompt.text).toBe(renderChatPrompt(messages));
    // User text stays plain text: <|endoftext|> typed by a user is not the EOS token.
    expect(prompt.ids).toEqual(tokenizer.encode(prompt.text));
    expect(prompt.ids).not.toContain(GPT2_EOS_TOKEN_ID);
    expect(prompt.turnStops).toEqual(CHAT_TURN_STOPS);
  });

  it('fails at start-up on a template that does not parse', () => {
    expect(() => createChatFormatter(createGpt2Tokenizer({ chatTemplate: '{% for m in messages %}' }))).toThrow(/^the model's chat template does not parse/);
  });
});
