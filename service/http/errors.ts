// Turns whatever went wrong (fastify's parser errors, zod issues, backend ApiErrors, bugs) into an
// ApiError, so every error response has OpenAI's envelope and a string code.
import type { z } from 'zod';
import { ApiError } from './api-error';

/** Errors fastify raises before a handler runs (body parsing, limits), by their `code`. */
const FRAMEWORK_ERRORS: Readonly<Record<string, (error: Error) => ApiError>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () =>
    new ApiError({
      status: 413,
      type: 'invalid_request_error',
      code: 'request_too_large',
      message: 'The request body is larger than this server accepts; send a smaller prompt or split the request.',
    }),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => unsupportedMediaType(),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => invalidJson('The request body is empty; send a JSON object.'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => invalidJson(),
  FST_ERR_BAD_URL: () =>
    new ApiError({
      status: 400,
      type: 'invalid_request_error',
      code: 'invalid_url',
      message: 'The URL is not valid: check its percent-encoding (e.g. a model id with special characters).',
    }),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    new ApiError({
      status: 400,
      type: 'invalid_request_error',
      code: 'invalid_content_length',
      message: 'The Content-Length header does not match the body that was sent.',
    }),
};

export function invalidJson(
  message = 'We could not parse the JSON body of your request: send valid UTF-8 JSON (keys "__proto__" and "constructor" are refused).',
): ApiError {
  return new ApiError({ status: 400, type: 'invalid_request_error', code: 'invalid_json', message });
}

export function unsupportedMediaType(): ApiError {
  return new ApiError({
    status: 415,
    type: 'invalid_request_error',
    code: 'unsupported_media_type',
    message: 'Unsupported Content-Type: send the body as application/json.',
  });
}

/** For a request no route serves; the message names its method and path (without the query). */
export function unknownUrl(request: { readonly method: string; readonly url: string }): ApiError {
  const path = request.url.split('?')[0] ?? request.url;
  return new ApiError({
    status: 404,
    type: 'invalid_request_error',
    code: 'unknown_url',
    message: `Invalid URL (${request.method} ${path}): see GET /v1/models and the README's API section for the endpoints.`,
  });
}

export function modelNotFound(model: string): ApiError {
  return new ApiError({
    status: 404,
    type: 'invalid_request_error',
    code: 'model_not_found',
    param: 'model',
    message: `The model '${model}' does not exist: GET /v1/models lists the models served here.`,
  });
}

export function unavailable(code: 'not_ready' | 'draining'): ApiError {
  const message =
    code === 'draining'
      ? 'The server is shutting down and takes no new requests; retry on another instance.'
      : 'The server is still loading; retry shortly (GET /ready turns 200 when it can serve).';
  return new ApiError({ status: 503, type: 'service_unavailable', code, message, headers: { 'retry-after': '1' } });
}

export function invalidApiKey(present: boolean): ApiError {
  return new ApiError({
    status: 401,
    type: 'authentication_error',
    code: 'invalid_api_key',
    message: present
      ? 'Incorrect API key provided: check the key sent in the Authorization header.'
      : "You didn't provide an API key: send it as 'Authorization: Bearer YOUR_KEY'.",
    headers: { 'www-authenticate': 'Bearer' },
  });
}

/** zod issues -> one 400 naming the first offending field (zod path) and what was expected. */
export function validationError(error: z.ZodError, body: unknown): ApiError {
  const issue = error.issues[0];
  if (issue === undefined) return invalidJson();
  const param = issue.path.length > 0 ? formatPath(issue.path) : null;
  if (param !== null && isMissing(body, issue.path)) {
    return new ApiError({
      status: 400,
      type: 'invalid_request_error',
      code: 'missing_required_parameter',
      param,
      message: `Missing required parameter: '${param}'.`,
    });
  }
  const where = param === null ? 'the request body' : `'${param}'`;
  return new ApiError({
    status: 400,
    type: 'invalid_request_error',
    code: issue.code === 'invalid_type' || isUnionTypeMismatch(issue) ? 'invalid_type' : 'invalid_value',
    param,
    message: `Invalid ${where}: ${describeIssue(issue)}`,
  });
}

/** The ApiError for anything thrown while serving a request; `internal` is true for bugs (500). */
export function toApiError(error: unknown): { apiError: ApiError; internal: boolean } {
  if (error instanceof ApiError) return { apiError: error, internal: error.status >= 500 };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const mapped = typeof code === 'string' ? FRAMEWORK_ERRORS[code] : undefined;
    if (mapped !== undefined) return { apiError: mapped(error), internal: false };
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return {
        apiError: new ApiError({ status, type: 'invalid_request_error', code: 'invalid_request', message: error.message }),
        internal: false,
      };
    }
  }
  return {
    apiError: new ApiError({
      status: 500,
      type: 'server_error',
      code: 'internal_error',
      message: 'The server had an error while processing your request; retry, and report the x-request-id if it persists.',
    }),
    internal: true,
  };
}

/** `messages[0].content`: the zod path in the notation clients write. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => {
    if (typeof key === 'number') return `${text}[${key}]`;
    const name = String(key);
    return text === '' ? name : `${text}.${name}`;
  }, '');
}

function isMissing(body: unknown, path: readonly PropertyKey[]): boolean {
  let value: unknown = body;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return false;
    if (!Object.prototype.hasOwnProperty.call(value, key)) return true;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value === undefined;
}

/** A union failed only because the value's type matched none of the branches. */
function isUnionTypeMismatch(issue: z.core.$ZodIssue): boolean {
  return (
    issue.code === 'invalid_union' &&
    issue.errors.length > 0 &&
    issue.errors.every((branch) => branch.every((inner) => inner.code === 'invalid_type' && inner.path.length === 0))
  );
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue.message;
  // A union failed: when every branch only disagreed on the type, say which types are accepted;
  // otherwise report the branch that got furthest (its issue has the longest path).
  const inners = issue.errors.flat();
  if (isUnionTypeMismatch(issue)) {
    const expected = new Set(inners.map((inner) => (inner.code === 'invalid_type' ? inner.expected : '')));
    const received = inners.map((inner) => /received (\w+)/.exec(inner.message)?.[1]).find((kind) => kind !== undefined);
    return `expected ${[...expected].join(' or ')}${received === undefined ? '' : `, received ${received}`}`;
  }
  let furthest: z.core.$ZodIssue | undefined;
  for (const inner of inners) if (furthest === undefined || inner.path.length > furthest.path.length) furthest = inner;
  if (furthest === undefined) return issue.message;
  return furthest.path.length > 0 ? `at ${formatPath(furthest.path)}: ${describeIssue(furthest)}` : describeIssue(furthest);
}
