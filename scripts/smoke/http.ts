// Plain-fetch HTTP for the smoke test: one request with a deadline, errors described for a human,
// and a reader for server-sent events. No dependency on the service's code.

export class CheckFailure extends Error {
  override readonly name = 'CheckFailure';
  constructor(
    readonly expected: string,
    readonly received: string,
  ) {
    super(`expected ${expected}; got ${received}`);
  }
}

export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

export interface RequestSpec {
  readonly method?: 'GET' | 'POST';
  readonly body?: unknown;
  /** undefined: no Authorization header. */
  readonly apiKey?: string | undefined;
  readonly timeoutMs: number;
}

function headersFor(spec: RequestSpec): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json, text/event-stream' };
  if (spec.body !== undefined) headers['content-type'] = 'application/json';
  if (spec.apiKey !== undefined) headers.authorization = `Bearer ${spec.apiKey}`;
  return headers;
}

interface ErrorLike {
  readonly name?: unknown;
  readonly message: string;
  readonly code?: unknown;
  readonly cause?: unknown;
}

/** Errors are matched by shape, not instanceof: fetch's errors may come from another realm (jest, vm). */
function isErrorLike(value: unknown): value is ErrorLike {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

/** "fetch failed: connect ECONNREFUSED 127.0.0.1:9" rather than undici's bare "fetch failed". */
export function describeError(error: unknown): string {
  if (!isErrorLike(error)) return String(error);
  if (error.name === 'TimeoutError') return 'no response before the deadline (timed out)';
  const cause = error.cause;
  if (!isErrorLike(cause)) return error.message;
  const code = typeof cause.code === 'string' && !cause.message.includes(cause.code) ? `${cause.code} ` : '';
  return `${error.message}: ${code}${cause.message}`;
}

/** A response body cut to a length that fits a failure message. */
export function excerpt(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

/** Sends one request; a network error or timeout becomes a CheckFailure naming what was expected. */
export async function request(url: string, spec: RequestSpec, expected: string): Promise<HttpResponse> {
  try {
    const response = await fetch(url, {
      method: spec.method ?? 'GET',
      headers: headersFor(spec),
      body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
      signal: AbortSignal.timeout(spec.timeoutMs),
    });
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
  } catch (error) {
    throw new CheckFailure(expected, `${describeError(error)} (${spec.method ?? 'GET'} ${url})`);
  }
}

export interface EventStream {
  readonly status: number;
  readonly contentType: string;
  /** The `data:` payloads in order, `[DONE]` included; the body text instead when status is not 200. */
  readonly events: string[];
  readonly errorBody: string;
  /** Milliseconds from sending the request to the first event. */
  readonly firstEventMs: number | undefined;
}

/** Reads a server-sent event stream to its end (or the deadline); only `data:` lines carry payloads. */
export async function readEventStream(url: string, spec: RequestSpec, expected: string): Promise<EventStream> {
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: headersFor(spec),
      body: JSON.stringify(spec.body),
      signal: AbortSignal.timeout(spec.timeoutMs),
    });
    const contentType = response.headers.get('content-type') ?? '';
    if (response.status !== 200 || response.body === null) {
      return { status: response.status, contentType, events: [], errorBody: await response.text(), firstEventMs: undefined };
    }
    const events: string[] = [];
    let firstEventMs: number | undefined;
    let buffered = '';
    const decoder = new TextDecoder();
    for await (const bytes of response.body) {
      buffered += decoder.decode(bytes, { stream: true });
      // Events are separated by a blank line; a partial event stays buffered for the next read.
      const blocks = buffered.split(/\r?\n\r?\n/);
      buffered = blocks.pop() ?? '';
      for (const block of blocks) {
        const data = block
          .split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (data === '') continue;
        firstEventMs ??= performance.now() - started;
        events.push(data);
      }
    }
    return { status: response.status, contentType, events, errorBody: '', firstEventMs };
  } catch (error) {
    throw new CheckFailure(expected, `${describeError(error)} (POST ${url})`);
  }
}
