// The contract every logits processor implements: one in-place transformation of one row of
// logits, given the sequence so far (transformers.js `LogitsProcessor` style).

/** The token ids a processor may look at: the prompt and what this choice generated so far. */
export interface LogitsContext {
  readonly promptIds: readonly number[];
  readonly generatedIds: readonly number[];
}

export interface LogitsProcessor {
  /** The OpenAI/vLLM parameter it implements, for logs and tests. */
  readonly name: string;
  /** Transforms `logits` (one vocabulary row) in place; masked tokens become -Infinity. */
  process(logits: Float32Array, context: LogitsContext): void;
}
