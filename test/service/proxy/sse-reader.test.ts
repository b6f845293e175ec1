// The event-stream grammar the proxy reads upstream streams with: events split anywhere across
// chunks (even inside a CRLF or a UTF-8 character) come out whole and in order.
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
  it('reads events with LF, CRLF and CR line ends, fed one byte at a time', async () => {
    const text = 'data: {"a":1}\n\ndata: {"b":"日本"}\r\n\r\ndata: 😀\r\rdata: [DONE]\n\n';
    expect(await collect(bytewise(text))).toEqual([
      { event: 'message', data: '{"a":1}' },
      { event: 'message', data: '{"b":"日本"}' },
      { event: 'message', data: '😀' },
      { event: 'message', data: '[DONE]' },
    ]);
  });

  it('joins data lines, keeps the event name, skips comments and strips only one space after the colon', async () => {
    const text = ': keep-alive\n\nevent: error\ndata:first\ndata:  second\nid: 7\n\n';
    expect(await collect([text])).toEqual([{ event: 'error', data: 'first\n second' }]);
  });

  it('drops an event the stream ended before terminating, and events without data', async () => {
    expect(await collect(['event: ping\n\n', 'data: whole\n\n', 'data: cut off'])).toEqual([{ event: 'message', data: 'whole' }]);
  });
});
