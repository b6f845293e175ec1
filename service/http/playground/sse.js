// @ts-check
// Server-sent events read from a fetch() body: the byte stream split into events, each event's
// `data` yielded as one string (OpenAI streams send one JSON object per event, then `[DONE]`).

/**
 * An incremental parser: `push` takes text as it arrives (events may be split anywhere, even inside
 * a line) and returns the data of the events it completed; `end` returns the last unterminated one.
 * @returns {{ push(text: string): string[], end(): string[] }}
 */
export function createSseParser() {
  let pending = '';
  /** @type {string[]} */
  let data = [];

  /** @param {string} line @param {string[]} out */
  const take = (line, out) => {
    if (line === '') {
      if (data.length > 0) out.push(data.join('\n'));
      data = [];
      return;
    }
    // Comments (":keep-alive") and fields other than data (event, id, retry) carry nothing we show.
    if (!line.startsWith('data:')) return;
    const value = line.slice('data:'.length);
    data.push(value.startsWith(' ') ? value.slice(1) : value);
  };

  return {
    push(text) {
      /** @type {string[]} */
      const out = [];
      pending += text;
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        const line = pending.slice(0, newline);
        take(line.endsWith('\r') ? line.slice(0, -1) : line, out);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
      return out;
    },
    end() {
      /** @type {string[]} */
      const out = [];
      if (pending !== '') take(pending, out);
      pending = '';
      take('', out);
      return out;
    },
  };
}

/**
 * The data of each event of an SSE response body, as it arrives.
 * @param {ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<string>}
 */
export async function* sseData(body) {
  const reader = body.getReader();
  // stream: true keeps a UTF-8 sequence split between two reads whole.
  const decoder = new TextDecoder();
  const parser = createSseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode());
    yield* parser.end();
  } finally {
    reader.releaseLock();
  }
}
