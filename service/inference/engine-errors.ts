// Maps the engine's typed errors to OpenAI error envelopes (status, type, code, param).
import {
  ContextLengthExceededError,
  EngineClosedError,
  EngineOverloadedError,
  EngineUnavailableError,
  InvalidParameterError,
} from '../engine/errors';
import { ApiError } from '../http/api-error';

/** `promptParam` names the field a context error blames: `prompt` or `messages`. */
export function toApiError(error: unknown, promptParam: 'prompt' | 'messages'): unknown {
  if (error instanceof InvalidParameterError) {
    return new ApiError({ status: 400, type: 'invalid_request_error', code: 'invalid_value', param: error.param, message: error.message });
  }
  if (error instanceof ContextLengthExceededError) {
    return new ApiError({ status: 400, type: 'invalid_request_error', code: 'context_length_exceeded', param: promptParam, message: error.message });
  }
  if (error instanceof EngineOverloadedError) {
    return new ApiError({
      status: 429,
      type: 'rate_limit_error',
      code: 'server_overloaded',
      message: error.message,
      headers: { 'retry-after': String(Math.max(1, Math.ceil(error.retryAfterSeconds))) },
    });
  }
  if (error instanceof EngineClosedError) {
    return new ApiError({ status: 503, type: 'service_unavailable', code: 'shutting_down', message: 'The server is shutting down; retry on another replica.' });
  }
  if (error instanceof EngineUnavailableError) {
    return new ApiError({
      status: 503,
      type: 'service_unavailable',
      code: 'engine_unavailable',
      message: `${error.message} Retry the request; this replica serves again once GET /ready is 200.`,
      headers: { 'retry-after': '1' },
    });
  }
  return error;
}
