// The engine's public contract: what a caller (the inference backend) hands in and gets back.
// Everything here is plain data; the scheduler, sampler and model live behind `Engine`.

/** Validated, immutable sampling and stopping parameters of one request (see params.ts). */
export interface SamplingParams {
  /** Tokens to generate at most per choice (>= 1). */
  readonly maxTokens: number;
  /** 0 means greedy. */
  readonly temperature: number;
  /** 0 disables top-k. */
  readonly topK: number;
  /** 1 disables nucleus sampling. */
  readonly topP: number;
  /** 0 disables min-p. */
  readonly minP: number;
  /** 1 disables the multiplicative (CTRL-style) repetition penalty. */
  readonly repetitionPenalty: number;
  /** OpenAI-style additive penalties on generated tokens, -2..2. */
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  /** Token id -> bias added to its logit (-100..100; -100 bans, 100 forces). */
  readonly logitBias: ReadonlyMap<number, number>;
  /** Same seed and same request -> same output. Undefined: nondeterministic. */
  readonly seed: number | undefined;
  /** Independent choices to return (>= 1). */
  readonly n: number;
  /** 1 disables beam search. With beams, the best `n` beams are the choices. */
  readonly numBeams: number;
  readonly lengthPenalty: number;
  /** Up to 4 strings; matched across token boundaries and never emitted. */
  readonly stop: readonly string[];
  /** Stop on the model's EOS token (false for benchmarks that need a fixed length). */
  readonly stopOnEos: boolean;
  /** Number of top alternatives to report per generated token (0..20); undefined: no logprobs. */
  readonly logprobs: number | undefined;
  /** Also report logprobs of the prompt tokens (for `echo` with `logprobs`). */
  readonly promptLogprobs: boolean;
}

/** Input of `createSamplingParams`: every field optional, OpenAI-like defaults applied there. */
export type SamplingParamsInput = Partial<Omit<SamplingParams, 'logitBias' | 'stop'>> & {
  logitBias?: ReadonlyMap<number, number> | Record<string, number>;
  stop?: string | readonly string[] | null;
};

export interface TopLogprob {
  readonly tokenId: number;
  readonly text: string;
  readonly logprob: number;
}

/** One token as generated (or, for prompt logprobs, as read). */
export interface TokenInfo {
  readonly tokenId: number;
  /** The token's own decoded text (may be a partial UTF-8 sequence rendered as bytes, like OpenAI's `bytes:` tokens). */
  readonly text: string;
  /** Undefined unless logprobs were asked for; null for the first prompt token. */
  readonly logprob?: number | null;
  readonly topLogprobs?: readonly TopLogprob[];
}

export type FinishReason = 'stop' | 'length';

/**
 * Where a choice's time went inside the engine, as vLLM splits it (docs/design/metrics.md): measured
 * with the scheduler's own monotonic clock, so the intervals are valid across the worker boundary.
 */
export interface ChoiceTimings {
  /** Arrival at the scheduler -> its first prefill run (WAITING). */
  readonly queueSeconds: number;
  /** First prefill run -> first generated token (PREFILL). */
  readonly prefillSeconds: number;
  /** First -> last generated token of this choice (DECODE). */
  readonly decodeSeconds: number;
}

/**
 * What `Engine.generate` yields. `delta` events carry text that is final (stop-sequence safe and
 * whole UTF-8 characters) together with the tokens that produced it; each choice ends with one
 * `finish` event. With beam search the text of a choice arrives in one delta at the end.
 */
export type GenerationEvent =
  | { readonly type: 'prompt'; readonly tokens: readonly TokenInfo[] }
  | { readonly type: 'delta'; readonly choice: number; readonly text: string; readonly tokens: readonly TokenInfo[] }
  | {
      readonly type: 'finish';
      readonly choice: number;
      readonly reason: FinishReason;
      /** Tokens generated for this choice (counted for usage even when a stop string cut text). */
      readonly completionTokens: number;
      /** Set by the scheduler; absent for events made elsewhere (tests, other engines). */
      readonly timings?: ChoiceTimings;
    };

export interface GenerationRequest {
  readonly promptIds: readonly number[];
  readonly params: SamplingParams;
  /** Aborting frees the request's batch slots at the next step; the iterator then ends. */
  readonly signal?: AbortSignal;
}

/**
 * Running totals of what crossed between host memory and the execution provider (see
 * BatchModel.transfers), and of forward passes, so that a dashboard divides one by the other.
 */
export interface HostDeviceTransfers {
  readonly toDevice: number;
  readonly toHost: number;
  readonly passes: number;
}

/** Counters the HTTP layer exports as metrics; read on scrape. */
export interface EngineStats {
  readonly running: number;
  readonly waiting: number;
  /** Absent from engines that run no model (test fakes). */
  readonly transfers?: HostDeviceTransfers;
}

/** Turns one sequence's token ids, as they arrive, into text deltas that never split a character. */
export interface StreamDecoder {
  /** Adds the next token and returns the text it completes (often all of it, sometimes ''). */
  push(tokenId: number): string;
  /** Ends the sequence: returns what is still held back (U+FFFD for a character never completed). */
  flush(): string;
}

/**
 * The model's tokenizer, made from its folder by `loadTokenizer` (GPT-2's byte-level BPE on a fast
 * path, any other tokenizer.json through a maintained library); everything text-shaped goes through it.
 */
export interface Tokenizer {
  /** User text -> ids, without added special tokens (BOS/CLS/SEP are never prepended or appended). */
  encode(text: string): number[];
  /** Text rendered from the model's chat template -> ids: its special-token strings become their ids. */
  encodeWithSpecialTokens(text: string): number[];
  decode(ids: readonly number[]): string;
  /** One token's text as OpenAI reports it in logprobs (`bytes:\xNN...` when it is part of a character). */
  tokenText(id: number): string;
  /** One token's raw UTF-8 bytes (chat logprobs' `bytes`). */
  tokenBytes(id: number): Uint8Array;
  /** A fresh decoder for one streamed sequence; `prompt` (its ids) gives the decoder its context. */
  createDecoder(prompt?: readonly number[]): StreamDecoder;
  readonly eosTokenId: number;
  /** The model's vocabulary (its logits' width): valid ids are 0..vocabSize-1. */
  readonly vocabSize: number;
  /** The model's Jinja chat template (tokenizer_config.json `chat_template` or chat_template.jinja), if it has one. */
  readonly chatTemplate: string | undefined;
  /** Named special tokens of tokenizer_config.json (`bos_token`, `eos_token`, ...), for the chat template. */
  readonly specialTokens: Readonly<Record<string, string>>;
  /** `gpt2-bpe` (the fast byte-level path) or the tokenizer.json model type (`WordPiece`, `BPE`, `Unigram`). */
  readonly kind: string;
}

export interface Engine {
  /** Model id as served (e.g. `gpt2`). */
  readonly modelId: string;
  /** Maximum prompt + generated tokens (1024 for GPT-2). */
  readonly contextLength: number;
  readonly tokenizer: Tokenizer;
  /**
   * Starts a request: validates the prompt against the context (ContextLengthExceededError) and
   * the queue bound (EngineOverloadedError) synchronously, then yields events as steps run.
   */
  generate(request: GenerationRequest): AsyncIterable<GenerationEvent>;
  stats(): EngineStats;
  /** False while the engine cannot serve (closing, or restarting after its worker failed). */
  isReady(): boolean;
  /** Stops taking requests, lets running ones finish, then releases the session. */
  close(): Promise<void>;
}
