// Server-sent events framing: `data: {json}\n\n` per chunk, then `data: [DONE]\n\n`; an error after
// the stream started becomes a final `data: {"error":...}` event.
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

export interface EventStreamHooks<T> {
  /** Sees every chunk as it is sent (content logging). */
  onChunk?(chunk: T): void;
  /** The envelope to send when the backend's iterator throws mid-stream. */
  errorEvent(error: unknown): unknown;
  /** Called once when the stream ends, however it ended. */
  onEnd?(outcome: 'done' | 'error' | 'aborted'): void;
}

/**
 * Frames `first` (already taken from `rest` so that errors before the first chunk could still get
 * a proper status code) and the remaining chunks. Each frame is written as soon as it arrives.
 * When the client goes away the stream is destroyed, which returns `rest` so the backend stops.
 */
export function eventStream<T>(first: IteratorResult<T>, rest: AsyncIterator<T>, hooks: EventStreamHooks<T>): Readable {
  async function* frames(): AsyncGenerator<string> {
    let outcome: 'done' | 'error' | 'aborted' = 'aborted';
    try {
      let next = first;
      while (next.done !== true) {
        hooks.onChunk?.(next.value);
        yield sseFrame(next.value);
        next = await rest.next();
      }
      outcome = 'done';
      yield SSE_DONE;
    } catch (error) {
      outcome = 'error';
      yield sseFrame(hooks.errorEvent(error));
    } finally {
      hooks.onEnd?.(outcome);
      // A backend that fails while cleaning up must not turn a finished stream into a socket error.
      await rest.return?.()?.catch(() => undefined);
    }
  }
  return Readable.from(frames());
}
