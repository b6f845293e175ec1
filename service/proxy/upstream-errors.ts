// What one failed upstream attempt means: whether to retry it, how long the upstream asked us to
// wait, and the ApiError the client gets if it was the last attempt. Upstream key and auth details
// never reach the client: a 401/403 upstream is the proxy's fault, not the caller's.
import { ApiError, type ApiErrorType } from '../http/api-error';

/** Why the proxy aborted an upstream attempt (the AbortSignal's reason). */
export type AbortCause = 'client' | 'total_timeout' | 'first_byte_timeout' | 'closed';

export class UpstreamAbort extends Error {
  override readonly name = 'UpstreamAbort';
  constructor(readonly abortCause: AbortCause) {
    super(`upstream request aborted: ${abortCause}`);
  }
}

/** The upstream answered with a status outside 2xx; `error` is the `error` object of its JSON body, if it had one. */
export class UpstreamStatusError extends Error {
  override readonly name = 'UpstreamStatusError';
  constructor(
    readonly status: number,
    readonly headers: Readonly<Record<string, string | string[] | undefined>>,
    readonly error: Readonly<Record<string, unknown>> | undefined,
  ) {
    super(`upstream answered HTTP ${status}`);
  }
}

/** The upstream's stream carried an error event instead of a chunk. */
export class UpstreamStreamError extends Error {
  override readonly name = 'UpstreamStreamError';
}

/** The upstream answered 2xx with something that is not the OpenAI shape (bad JSON, missing fields). */
export class InvalidUpstreamResponse extends Error {
  override readonly name = 'InvalidUpstreamResponse';
}

export interface AttemptFailure {
  readonly retryable: boolean;
  /** From the upstream's retry-after-ms / Retry-After headers. */
  readonly retryAfterMs: number | undefined;
  /** The proxy_upstream_errors_total label: the upstream status, or network/timeout/invalid_response/aborted. */
  readonly metricStatus: string;
  readonly error: ApiError;
}

const RETRYABLE_STATUSES = new Set([408, 409, 429]);
const API_ERROR_TYPES: ReadonlySet<string> = new Set<ApiErrorType>([
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'rate_limit_error',
  'server_error',
  'service_unavailable',
]);

type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

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

/** Removes the upstream key (and anything shaped like an OpenAI key) from text bound for a client or a log. */
export function redact(text: string, secret: string | null): string {
  const withoutSecret = secret ? text.split(secret).join('[redacted]') : text;
  return withoutSecret.replace(/\bsk-[A-Za-z0-9_*.-]{4,}/g, '[redacted]');
}

function typeFor(status: number, upstreamType: unknown): ApiErrorType {
  if (typeof upstreamType === 'string' && API_ERROR_TYPES.has(upstreamType)) return upstreamType as ApiErrorType;
  if (status === 429) return 'rate_limit_error';
  if (status === 404) return 'not_found_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

function fromStatus(error: UpstreamStatusError, secret: string | null): AttemptFailure {
  const status = error.status;
  const retryAfterMs = parseRetryAfterMs(error.headers);
  const base = { retryAfterMs, metricStatus: String(status) };
  if (status === 401 || status === 403) {
    return {
      ...base,
      retryable: false,
      error: new ApiError({
        status: 502,
        type: 'server_error',
        code: status === 401 ? 'upstream_authentication_failed' : 'upstream_permission_denied',
        message: `The upstream refused the proxy's credentials (HTTP ${status}). Your key is fine; the operator must check the proxy's upstream key.`,
      }),
    };
  }
  const body = error.error ?? {};
  const message = typeof body.message === 'string' && body.message.length > 0 ? body.message : `Upstream returned HTTP ${status}.`;
  const headers: Record<string, string> = {};
  if (status === 429 && retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  return {
    ...base,
    // An exhausted upstream quota does not come back in seconds: retrying only adds latency.
    retryable: (RETRYABLE_STATUSES.has(status) || status >= 500) && body.code !== 'insufficient_quota',
    error: new ApiError({
      status: status >= 400 && status <= 599 ? status : 502,
      type: typeFor(status, body.type),
      code: typeof body.code === 'string' ? redact(body.code, secret) : null,
      param: typeof body.param === 'string' ? body.param : null,
      message: redact(message, secret),
      headers,
    }),
  };
}

const timeoutError = (which: string) =>
  new ApiError({
    status: 504,
    type: 'server_error',
    code: 'upstream_timeout',
    message: `The upstream did not answer within the proxy's ${which} timeout. Retry later, or ask for fewer tokens.`,
  });

/** Classifies a failed attempt; `abortCause` is the reason the proxy aborted it, if it did. */
export function classifyFailure(error: unknown, abortCause: AbortCause | undefined, secret: string | null): AttemptFailure {
  const none = { retryAfterMs: undefined };
  if (abortCause === 'client' || abortCause === 'closed') {
    const message = abortCause === 'client' ? 'The client closed the request.' : 'The proxy is shutting down.';
    return {
      ...none,
      retryable: false,
      metricStatus: 'aborted',
      error: new ApiError({ status: abortCause === 'client' ? 499 : 503, type: 'service_unavailable', code: `request_aborted`, message }),
    };
  }
  if (abortCause === 'total_timeout') return { ...none, retryable: false, metricStatus: 'timeout', error: timeoutError('total') };
  if (abortCause === 'first_byte_timeout') return { ...none, retryable: true, metricStatus: 'timeout', error: timeoutError('first-byte') };
  // By name: a JSON.parse inside Node's own Response comes from another realm under jest's vm.
  if (error instanceof InvalidUpstreamResponse || (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'SyntaxError')) {
    return {
      ...none,
      retryable: false,
      metricStatus: 'invalid_response',
      error: new ApiError({
        status: 502,
        type: 'server_error',
        code: 'upstream_invalid_response',
        message: 'The upstream answered with a body that is not a valid OpenAI response.',
      }),
    };
  }
  // Anything but a status: refused/reset connections, undici's connect timeout, an error event in the stream.
  if (!(error instanceof UpstreamStatusError)) {
    return {
      ...none,
      retryable: true,
      metricStatus: 'network',
      error: new ApiError({
        status: 502,
        type: 'server_error',
        code: 'upstream_unreachable',
        message: 'The proxy could not reach the upstream (connection failed or was reset). Retry later.',
      }),
    };
  }
  return fromStatus(error, secret);
}
