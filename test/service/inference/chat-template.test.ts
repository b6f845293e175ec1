import { CHAT_TURN_STOPS, renderChatPrompt } from '../../../service/inference/chat-template';

describe('renderChatPrompt', () => {
  it('renders each message as "Role: text" and ends with an open assistant turn', () => {
    const prompt = renderChatPrompt([
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'Hello there' },
    ]);
    expect(prompt).toBe('System: Be terse.\n\nUser: Hello there\n\nAssistant:');
  });

  it('joins text parts and treats developer messages as system messages', () => {
    const prompt = renderChatPrompt([
      { role: 'developer', content: [{ type: 'text', text: 'Rule ' }, { type: 'text', text: 'one.' }] },
      { role: 'user', content: 'Hi' },
    ]);
    expect(prompt).toBe('System: Rule one.\n\nUser: Hi\n\nAssistant:');
  });

  it('continues a trailing assistant message instead of closing it', () => {
    const prompt = renderChatPrompt([
      { role: 'user', content: 'Count to three' },
      { role: 'assistant', content: 'One, two,' },
    ]);
    expect(prompt).toBe('User: Count to three\n\nAssistant: One, two,');
  });

  it('ends the turn when the model starts a new speaker line', () => {
    const transcript = renderChatPrompt([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }]);
    expect(CHAT_TURN_STOPS.some((stop) => transcript.includes(stop))).toBe(true);
  });
});
