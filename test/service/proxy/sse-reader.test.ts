// The event-stream grammar the proxy reads upstream streams with: events split anywhere across
// chunks (even inside a CRLF or a UTF-8 character) come out whole, in order, with their original text.
import { readServerSentEvents, type ServerSentEvent } from '../../../service/proxy/sse-reader';

async function* arriving(chunks: readonly (Buffer | string)[]): AsyncGenerator<Buffer | string> {
  yield* chunks;
}

async function collect(chunks: readonly (Buffer | string)[]): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  for await (const event of readServerSentEvents(arriving(chunks))) events.push(event);
  return events;
}

const bytewise = (text: string): Buffer[] => [...Buffer.from(text, 'utf8')].map((byte) => Buffer.of(byte));

describe('readServerSentEvents', () => {
  it('reads events with LF, CRLF and CR line ends, fed one byte at a time, keeping each one\'s text', async () => {
    const text = 'data: {"a":1}\n\ndata: {"b":"日本"}\r\n\r\ndata: 😀\r\rdata: [DONE]\n\n';
    expect(await collect(bytewise(text))).toEqual([
      { event: 'message', data: '{"a":1}', raw: 'data: {"a":1}\n\n' },
      { event: 'message', data: '{"b":"日本"}', raw: 'data: {"b":"日本"}\r\n\r\n' },
      { event: 'message', data: '😀', raw: 'data: 😀\r\r' },
      { event: 'message', data: '[DONE]', raw: 'data: [DONE]\n\n' },
    ]);
  });

  it('gives back exactly the bytes it read, so a relay of the raw texts is byte for byte', async () => {
    const text = 'event: response.created\ndata: {"type":"response.created"}\n\n: ping\n\nevent: error\ndata:first\ndata:  second\nid: 7\n\n';
    const events = await collect([text.slice(0, 7), text.slice(7, 40), text.slice(40)]);
    expect(events.map((event) => event.raw).join('')).toBe(text);
    expect(events.map(({ event, data }) => ({ event, data }))).toEqual([
      { event: 'response.created', data: '{"type":"response.created"}' },
      { event: 'message', data: undefined },
      { event: 'error', data: 'first\n second' },
    ]);
  });

  it('drops an event the stream ended before terminating', async () => {
    expect(await collect(['event: ping\n\n', 'data: whole\n\n', 'data: cut off'])).toEqual([
      { event: 'ping', data: undefined, raw: 'event: ping\n\n' },
      { event: 'message', data: 'whole', raw: 'data: whole\n\n' },
    ]);
  });
});
