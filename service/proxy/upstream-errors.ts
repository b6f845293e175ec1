// What one failed upstream attempt means: whether another attempt may help (on this upstream or only
// another), how long the upstream asked us to wait, whether it counts towards the upstream's
// cooldown, and what the client gets if it was the last attempt: the upstream's own error body
// (redacted), or the proxy's envelope when the upstream gave none or the failure was the proxy's
// credentials (a 401/403 upstream is the operator's problem, not the caller's).
import { ApiError } from '../http/api-error';

/** Why the proxy aborted an upstream attempt (the AbortSignal's reason). */
export type AbortCause = 'client' | 'total_timeout' | 'first_byte_timeout' | 'stream_idle_timeout' | 'closed';

export class UpstreamAbort extends Error {
  override readonly name = 'UpstreamAbort';
  constructor(readonly abortCause: AbortCause) {
    super(`upstream request aborted: ${abortCause}`);
  }
}

type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** The upstream answered with a status outside 2xx; `body` is its text (cut at a limit), `error` its envelope's error object. */
export class UpstreamStatusError extends Error {
  override readonly name = 'UpstreamStatusError';
  constructor(
    readonly status: number,
    readonly headers: ResponseHeaders,
    readonly body: string,
    readonly error: Readonly<Record<string, unknown>> | undefined,
  ) {
    super(`upstream answered HTTP ${status}`);
  }
}

/** The upstream's stream carried an error event instead of a chunk; the message is redacted. */
export class UpstreamStreamError extends Error {
  override readonly name = 'UpstreamStreamError';
}

/** The upstream answered 2xx with something that is not an OpenAI response (bad JSON, no events). */
export class InvalidUpstreamResponse extends Error {
  override readonly name = 'InvalidUpstreamResponse';
}

/** An upstream error response passed on to the client as the upstream wrote it (ids redacted). */
export class RelayedUpstreamError extends Error {
  override readonly name = 'RelayedUpstreamError';
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Readonly<Record<string, string>>,
  ) {
    super(`relayed upstream HTTP ${status}`);
  }
}

/** What the client gets when the proxy stops trying. */
export type FinalError = ApiError | RelayedUpstreamError;

export function withHeaders(error: FinalError, headers: Readonly<Record<string, string>>): FinalError {
  if (error instanceof RelayedUpstreamError) return new RelayedUpstreamError(error.status, error.body, { ...error.headers, ...headers });
  return new ApiError({ status: error.status, type: error.type, code: error.code, param: error.param, message: error.message, headers: { ...error.headers, ...headers } });
}

export interface AttemptFailure {
  /** `retry`: again, here or elsewhere; `elsewhere`: only on another upstream; `final`: no other attempt helps. */
  readonly next: 'retry' | 'elsewhere' | 'final';
  /** From the upstream's retry-after-ms / Retry-After headers. */
  readonly retryAfterMs: number | undefined;
  /** Counts towards taking the upstream out of rotation (its fault, not the request's). */
  readonly upstreamFault: boolean;
  /** The proxy_upstream_errors_total label: the upstream status, or network/timeout/invalid_response/aborted. */
  readonly metricStatus: string;
  readonly error: FinalError;
}

const RETRYABLE_STATUSES = new Set([408, 409, 429]);
/** Headers of an upstream 429 that tell the client which limit it hit and when to come back. */
const RATE_LIMIT_HEADER = /^(?:x-ratelimit-|retry-after)/;
/** Anything shaped like an OpenAI key, organization, project or key id. */
const OPENAI_IDS = /\b(?:sk-[A-Za-z0-9_*.-]{4,}|org-[A-Za-z0-9]{8,}|proj_[A-Za-z0-9]{8,}|key_[A-Za-z0-9]{8,})/g;

function header(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** From undici's lower-cased response headers. */
export function parseRetryAfterMs(headers: ResponseHeaders, now = Date.now()): number | undefined {
  const milliseconds = Number.parseFloat(header(headers, 'retry-after-ms') ?? '');
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return milliseconds;
  const value = header(headers, 'retry-after');
  if (value == null) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Removes the upstream keys and anything shaped like an OpenAI key, organization, project or key id from text bound for a client or a log. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) if (secret.length > 0 && result.includes(secret)) result = result.split(secret).join('[redacted]');
  return result.replace(OPENAI_IDS, '[redacted]');
}

/** The upstream's request id (OpenAI's x-request-id; Azure's apim-request-id). */
export function upstreamRequestId(headers: ResponseHeaders): string | undefined {
  return header(headers, 'x-request-id') ?? header(headers, 'apim-request-id');
}

function relayedHeaders(error: UpstreamStatusError): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (error.status !== 429) return headers;
  for (const [name, value] of Object.entries(error.headers)) {
    const text = Array.isArray(value) ? value[0] : value;
    if (text !== undefined && RATE_LIMIT_HEADER.test(name)) headers[name] = text;
  }
  return headers;
}

function fromStatus(error: UpstreamStatusError, secrets: readonly string[]): AttemptFailure {
  const status = error.status;
  const retryAfterMs = parseRetryAfterMs(error.headers);
  const base = { retryAfterMs, metricStatus: String(status) };
  if (status === 401 || status === 403) {
    return {
      ...base,
      next: 'elsewhere',
      upstreamFault: true,
      error: new ApiError({
        status: 502,
        type: 'server_error',
        code: status === 401 ? 'upstream_authentication_failed' : 'upstream_permission_denied',
        message: `The upstream refused the proxy's credentials (HTTP ${status}). Your key is fine; the operator must check the proxy's upstream key.`,
      }),
    };
  }
  const code = error.error?.code;
  // An exhausted upstream quota does not come back in seconds: retrying only adds latency.
  const transient = (RETRYABLE_STATUSES.has(status) || status >= 500) && code !== 'insufficient_quota';
  const clientStatus = status >= 400 && status <= 599 ? status : 502;
  const relayed =
    error.error !== undefined
      ? new RelayedUpstreamError(clientStatus, redact(error.body, secrets), relayedHeaders(error))
      : new ApiError({
          status: clientStatus,
          type: status >= 500 || clientStatus === 502 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error',
          code: 'upstream_error',
          message: `The upstream answered HTTP ${status} without an OpenAI error body.`,
          headers: relayedHeaders(error),
        });
  return { ...base, next: transient ? 'retry' : 'final', upstreamFault: transient || code === 'insufficient_quota', error: relayed };
}

const timeoutError = (which: string) =>
  new ApiError({
    status: 504,
    type: 'server_error',
    code: 'upstream_timeout',
    message: `The upstream did not answer within the proxy's ${which} timeout. Retry later, or ask for fewer tokens.`,
  });

/** Classifies a failed attempt; `abortCause` is the reason the proxy aborted it, if it did. */
export function classifyFailure(error: unknown, abortCause: AbortCause | undefined, secrets: readonly string[]): AttemptFailure {
  const none = { retryAfterMs: undefined };
  if (abortCause === 'client' || abortCause === 'closed') {
    const message = abortCause === 'client' ? 'The client closed the request.' : 'The proxy is shutting down.';
    return {
      ...none,
      next: 'final',
      upstreamFault: false,
      metricStatus: 'aborted',
      error: new ApiError({ status: abortCause === 'client' ? 499 : 503, type: 'service_unavailable', code: 'request_aborted', message }),
    };
  }
  // A generation the total timeout stopped would only be run again: not retried.
  if (abortCause === 'total_timeout') return { ...none, next: 'final', upstreamFault: true, metricStatus: 'timeout', error: timeoutError('total') };
  if (abortCause === 'first_byte_timeout') return { ...none, next: 'retry', upstreamFault: true, metricStatus: 'timeout', error: timeoutError('first-byte') };
  if (abortCause === 'stream_idle_timeout') return { ...none, next: 'final', upstreamFault: true, metricStatus: 'timeout', error: timeoutError('stream idle') };
  // By name: a JSON.parse inside Node's own Response comes from another realm under jest's vm.
  if (error instanceof InvalidUpstreamResponse || (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'SyntaxError')) {
    return {
      ...none,
      next: 'final',
      upstreamFault: true,
      metricStatus: 'invalid_response',
      error: new ApiError({
        status: 502,
        type: 'server_error',
        code: 'upstream_invalid_response',
        message: 'The upstream answered with a body that is not a valid OpenAI response.',
      }),
    };
  }
  if (error instanceof UpstreamStatusError) return fromStatus(error, secrets);
  // Anything else: refused/reset connections, undici's connect timeout, an error event before the first chunk.
  return {
    ...none,
    next: 'retry',
    upstreamFault: true,
    metricStatus: error instanceof UpstreamStreamError ? 'error_event' : 'network',
    error: new ApiError({
      status: 502,
      type: 'server_error',
      code: 'upstream_unreachable',
      message: 'The proxy could not reach the upstream (connection failed or was reset). Retry later.',
    }),
  };
}
