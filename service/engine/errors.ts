// Typed errors the engine throws; the inference backend maps each to an OpenAI error envelope.

export class EngineError extends Error {
  override readonly name: string = 'EngineError';
}

/** A sampling parameter is out of range or of the wrong kind. `param` uses the OpenAI field name. */
export class InvalidParameterError extends EngineError {
  override readonly name = 'InvalidParameterError';
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

/** prompt + max_tokens does not fit in the model's context window. */
export class ContextLengthExceededError extends EngineError {
  override readonly name = 'ContextLengthExceededError';
  constructor(
    readonly promptTokens: number,
    readonly maxTokens: number,
    readonly contextLength: number,
  ) {
    super(
      `This model's maximum context length is ${contextLength} tokens. However, you requested ` +
        `${promptTokens + maxTokens} tokens (${promptTokens} in the prompt, ${maxTokens} for the completion). ` +
        'Please reduce the prompt or max_tokens.',
    );
  }
}

/** The batch and the waiting queue are full; the caller should retry after `retryAfterSeconds`. */
export class EngineOverloadedError extends EngineError {
  override readonly name = 'EngineOverloadedError';
  constructor(
    readonly retryAfterSeconds: number,
    message = 'The engine is at capacity (batch and queue full). Retry later.',
  ) {
    super(message);
  }
}

/** The engine is closing or closed and takes no new requests. */
export class EngineClosedError extends EngineError {
  override readonly name = 'EngineClosedError';
}

/**
 * The engine failed under a request (its worker process crashed or hung) or is restarting after
 * such a failure; the request can be retried once /ready is 200 again.
 */
export class EngineUnavailableError extends EngineError {
  override readonly name = 'EngineUnavailableError';
}

/** A model directory is missing files or its ONNX graph does not have the expected signature. */
export class ModelLoadError extends EngineError {
  override readonly name = 'ModelLoadError';
}
