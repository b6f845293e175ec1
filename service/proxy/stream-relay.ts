// Relays an upstream stream to the client as the upstream wrote it: opens it (reading up to its
// first event, so a failure before then can still be retried), then passes each event on as it
// arrives, with an idle timeout between events. A stream that breaks off, goes idle or ends before
// it is complete ends with the protocol's error event (upstream_stream_interrupted); it is never
// retried, since part of the answer is already with the client.
import { ApiError } from '../http/api-error';
import { readServerSentEvents, type ServerSentEvent } from './sse-reader';
import type { StreamTracker } from './stream-tracker';
import type { Attempt, RequestDeadline } from './upstream';
import { InvalidUpstreamResponse, UpstreamStreamError } from './upstream-errors';

export interface OpenedStream {
  /** What to relay first: any keep-alives and the first event. */
  readonly head: string;
  readonly events: AsyncIterator<ServerSentEvent>;
}

/** Reads `body` up to its first data event; throws UpstreamStreamError if that is an error event. */
export async function openStream(body: AsyncIterable<Buffer>, tracker: StreamTracker): Promise<OpenedStream> {
  const events = readServerSentEvents(body)[Symbol.asyncIterator]();
  let head = '';
  for (;;) {
    const next = await events.next();
    if (next.done === true) throw new InvalidUpstreamResponse('the upstream ended the stream before its first event');
    head += tracker.accept(next.value) ?? '';
    if (tracker.started) return { head, events };
  }
}

/** How a relayed stream ended: undefined error for a complete one. */
export interface StreamEnd {
  readonly error: ApiError | undefined;
  /** The upstream broke the stream (not the client, the deadline or the proxy): counts towards its cooldown. */
  readonly upstreamFault: boolean;
}

export interface RelayOptions {
  readonly stream: OpenedStream;
  readonly tracker: StreamTracker;
  readonly attempt: Attempt;
  readonly deadline: RequestDeadline;
  readonly idleTimeoutMs: number;
  /** Called once, however the stream ended (the client leaving included). */
  onEnd(end: StreamEnd): void;
}

function interrupted(message: string): ApiError {
  return new ApiError({ status: 502, type: 'server_error', code: 'upstream_stream_interrupted', message });
}

const aborted = (): ApiError => new ApiError({ status: 499, type: 'service_unavailable', code: 'request_aborted', message: 'The client stopped reading.' });

/** Why the stream stopped, in words for the client's error event. */
function describe(error: unknown, attempt: Attempt): string {
  if (attempt.cause() === 'stream_idle_timeout') {
    return 'The upstream sent nothing for longer than the proxy waits between events (PROXY_STREAM_IDLE_TIMEOUT_MS); the response is incomplete. Retry the request.';
  }
  if (error instanceof UpstreamStreamError) return `The upstream reported an error part-way (${error.message}); the response is incomplete. Retry the request.`;
  if (error instanceof InvalidUpstreamResponse || (error as { name?: unknown } | undefined)?.name === 'SyntaxError') {
    return 'The upstream sent an event that is not valid JSON; the response is incomplete. Retry the request.';
  }
  return 'The upstream stream broke off part-way; the response is incomplete. Retry the request.';
}

export async function* relayFrames(options: RelayOptions): AsyncGenerator<string> {
  const { tracker, attempt, deadline } = options;
  let end: StreamEnd = { error: aborted(), upstreamFault: false };
  const idle = setTimeout(() => attempt.abort('stream_idle_timeout'), options.idleTimeoutMs);
  try {
    if (options.stream.head !== '') yield options.stream.head;
    for (;;) {
      idle.refresh();
      const next = await options.stream.events.next();
      if (next.done === true) break;
      const frame = tracker.accept(next.value);
      if (frame !== undefined) yield frame;
    }
    // The deadline may pass just as the upstream ends the stream (disconnect, total timeout): still a failure.
    if (deadline.signal.aborted) throw deadline.signal.reason;
    if (!tracker.complete) {
      const error = interrupted('The upstream ended the stream before the response was complete. Retry the request.');
      end = { error, upstreamFault: true };
      yield tracker.interruptionFrame(error);
      return;
    }
    const closing = tracker.closingFrame();
    if (closing !== undefined) yield closing;
    end = { error: undefined, upstreamFault: false };
  } catch (caught) {
    if (deadline.signal.aborted && deadline.cause !== 'total_timeout') {
      // The client left (or the proxy is closing): nobody reads an error event.
      end = { error: aborted(), upstreamFault: false };
      return;
    }
    const error =
      deadline.cause === 'total_timeout'
        ? new ApiError({
            status: 504,
            type: 'server_error',
            code: 'upstream_timeout',
            message: "The stream outlived the proxy's total timeout (PROXY_TOTAL_TIMEOUT_MS); the response is incomplete.",
          })
        : interrupted(describe(caught, attempt));
    end = { error, upstreamFault: deadline.cause !== 'total_timeout' };
    yield tracker.interruptionFrame(error);
  } finally {
    clearTimeout(idle);
    attempt.abort('closed');
    options.onEnd(end);
  }
}
