// The one error type the HTTP surface turns into OpenAI's envelope {"error":{message,type,param,code}}.
// Backends throw it (or errors their adapters map to it); anything else becomes a 500.

export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  /** OpenAI's type for a 429 of a spent quota (the proxy's key budgets). */
  | 'insufficient_quota'
  | 'server_error'
  | 'service_unavailable';

export interface ApiErrorOptions {
  readonly status: number;
  readonly message: string;
  readonly type: ApiErrorType;
  readonly code?: string | null;
  readonly param?: string | null;
  /** Extra response headers, e.g. Retry-After and x-ratelimit-* on 429. */
  readonly headers?: Readonly<Record<string, string>>;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly type: ApiErrorType;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Readonly<Record<string, string>>;

  constructor(options: ApiErrorOptions) {
    super(options.message);
    this.status = options.status;
    this.type = options.type;
    this.code = options.code ?? null;
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
  }

  toEnvelope(): { error: { message: string; type: ApiErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}
