// Engine errors across the process boundary: sent by name with the fields their constructors take,
// and rebuilt on the main thread as the same classes, so the HTTP mapping (429, 400, 503) is unchanged.
import {
  ContextLengthExceededError,
  EngineClosedError,
  EngineOverloadedError,
  EngineUnavailableError,
  InvalidParameterError,
  ModelLoadError,
} from '../errors';

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  /** Constructor fields of the typed engine errors. */
  readonly param?: string;
  readonly promptTokens?: number;
  readonly maxTokens?: number;
  readonly contextLength?: number;
  readonly retryAfterSeconds?: number;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const base = { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  if (error instanceof InvalidParameterError) return { ...base, param: error.param };
  if (error instanceof ContextLengthExceededError) {
    return { ...base, promptTokens: error.promptTokens, maxTokens: error.maxTokens, contextLength: error.contextLength };
  }
  if (error instanceof EngineOverloadedError) return { ...base, retryAfterSeconds: error.retryAfterSeconds };
  return base;
}

/** The same class as was thrown in the worker (a plain Error named like it for anything else). */
export function rebuildError(error: SerializedError): Error {
  const rebuilt = construct(error);
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}

function construct(error: SerializedError): Error {
  switch (error.name) {
    case 'InvalidParameterError':
      return new InvalidParameterError(error.param ?? 'unknown', error.message);
    case 'ContextLengthExceededError':
      return new ContextLengthExceededError(error.promptTokens ?? 0, error.maxTokens ?? 0, error.contextLength ?? 0);
    case 'EngineOverloadedError':
      return new EngineOverloadedError(error.retryAfterSeconds ?? 1, error.message);
    case 'EngineClosedError':
      return new EngineClosedError(error.message);
    case 'EngineUnavailableError':
      return new EngineUnavailableError(error.message);
    case 'ModelLoadError':
      return new ModelLoadError(error.message);
    default: {
      const plain = new Error(error.message);
      plain.name = error.name;
      return plain;
    }
  }
}
