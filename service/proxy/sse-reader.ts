// Server-sent events from a byte stream, per the WHATWG event-stream grammar: events are separated
// by a blank line, lines end in LF, CRLF or CR, `data:` lines join with LF, `:` lines are comments.
// Each block keeps its original text, so a relay can pass on exactly the bytes the upstream sent.
import { StringDecoder } from 'node:string_decoder';

export interface ServerSentEvent {
  /** The `event:` field; `message` when the block named none. */
  readonly event: string;
  /** The joined `data:` lines; undefined for a block without any (a keep-alive comment). */
  readonly data: string | undefined;
  /** The block's text as received, its terminating blank line included. */
  readonly raw: string;
}

/** Yields each complete block of `body` as it arrives; an unterminated last block is dropped, as the grammar says. */
export async function* readServerSentEvents(body: AsyncIterable<Buffer | string>): AsyncGenerator<ServerSentEvent> {
  // One decoder for the whole stream, so a UTF-8 character split across chunks stays whole.
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  /** Text of the current block that was consumed from earlier chunks. */
  let carried = '';
  let data: string[] = [];
  let event = '';
  let blockHasLines = false;
  for await (const chunk of body) {
    buffered += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    let blockStart = 0;
    for (;;) {
      const end = lineEnd(buffered, start);
      if (end === -1) break;
      // A CR at the very end of the buffer may be the first half of a CRLF: decide with the next chunk.
      if (buffered.charCodeAt(end) === 13 && end + 1 === buffered.length) break;
      const line = buffered.slice(start, end);
      start = end + (buffered.charCodeAt(end) === 13 && buffered.charCodeAt(end + 1) === 10 ? 2 : 1);
      if (line !== '') {
        blockHasLines = true;
        if (line.charCodeAt(0) === 58) continue; // ':' comment (keep-alive)
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.charCodeAt(0) === 32) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'event') event = value;
        continue;
      }
      const raw = carried + buffered.slice(blockStart, start);
      carried = '';
      blockStart = start;
      // Blank lines between blocks are not events.
      if (blockHasLines) yield { event: event || 'message', data: data.length > 0 ? data.join('\n') : undefined, raw };
      data = [];
      event = '';
      blockHasLines = false;
    }
    carried += buffered.slice(blockStart, start);
    buffered = buffered.slice(start);
  }
}

function lineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 10 || code === 13) return i;
  }
  return -1;
}
