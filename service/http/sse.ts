// Server-sent events framing: `data: {json}\n\n` per chunk, then `data: [DONE]\n\n`; an error after
// the stream started becomes a final `data: {"error":...}` event. Frames a backend already wrote
// (relayed bytes) go out as they are.
import { Readable } from 'node:stream';

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  // Tells nginx-style reverse proxies not to buffer the stream.
  'x-accel-buffering': 'no',
};

export function sseFrame(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

export const SSE_DONE = 'data: [DONE]\n\n';

export type StreamOutcome = 'done' | 'error' | 'aborted';

export interface EventStreamOptions<T> {
  /** The text of one item's event. */
  frame(item: T): string;
  /** Written after the last item: `[DONE]` for chunks; nothing for frames, whose source writes its own end. */
  readonly end: string | undefined;
  /** The last event to write when the source throws part-way. */
  errorFrame(error: unknown): string;
  /** Called once when the stream ends, however it ended. */
  onEnd?(outcome: StreamOutcome): void;
}

/**
 * Writes `first` (already taken from `rest` so that errors before the first item could still get
 * a proper status code) and the remaining items, each as soon as it arrives. When the client goes
 * away the stream is destroyed, which returns `rest` so the backend stops.
 */
export function eventStream<T>(first: IteratorResult<T>, rest: AsyncIterator<T>, options: EventStreamOptions<T>): Readable {
  async function* frames(): AsyncGenerator<string> {
    let outcome: StreamOutcome = 'aborted';
    try {
      let next = first;
      while (next.done !== true) {
        yield options.frame(next.value);
        next = await rest.next();
      }
      outcome = 'done';
      if (options.end !== undefined) yield options.end;
    } catch (error) {
      outcome = 'error';
      yield options.errorFrame(error);
    } finally {
      options.onEnd?.(outcome);
      // A backend that fails while cleaning up must not turn a finished stream into a socket error.
      await rest.return?.()?.catch(() => undefined);
    }
  }
  return Readable.from(frames());
}
