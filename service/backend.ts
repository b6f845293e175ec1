// The one interface between the HTTP surface (service/http) and what answers requests:
// the local GPT-2 engine (service/inference) or an OpenAI-compatible upstream (service/proxy).
// The HTTP layer validates bodies, authenticates, frames JSON/SSE and maps ApiError; a backend
// turns a validated request into an OpenAI-shaped response or stream of chunks.
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { Completion, CompletionChoice } from 'openai/resources/completions';
import type { Model } from 'openai/resources/models';
import type { Logger } from 'pino';
import type {
  ChatCompletionRequest,
  CompletionRequest,
  DetokenizeRequest,
  TokenizeRequest,
} from './http/schemas';

/** Who is calling, once the HTTP layer has checked the bearer key. */
export interface ClientIdentity {
  /** The key's configured name (never the key itself); used in logs, limits and metric labels. */
  readonly name: string;
}

export interface RequestContext {
  readonly requestId: string;
  /** Aborted when the client disconnects or the request times out. */
  readonly signal: AbortSignal;
  /** Undefined when the service runs without client keys. */
  readonly client: ClientIdentity | undefined;
  readonly log: Logger;
  /** Headers to add to a successful response (e.g. x-ratelimit-* from the proxy). */
  setHeader(name: string, value: string): void;
}

/** A streamed completions chunk: like `Completion`, but `finish_reason` is null until a choice ends. */
export type CompletionChunk = Omit<Completion, 'choices'> & {
  choices: Array<Omit<CompletionChoice, 'finish_reason'> & { finish_reason: CompletionChoice['finish_reason'] | null }>;
};

/** Either a whole response, or chunks to send as server-sent events (followed by `[DONE]`). */
export type BackendResult<TBody, TChunk> =
  | { readonly stream: false; readonly body: TBody }
  | { readonly stream: true; readonly chunks: AsyncIterable<TChunk> };

export interface TokenizeResult {
  readonly tokens: number[];
  readonly count: number;
  readonly max_model_len: number;
}

export interface Backend {
  readonly variant: 'inference' | 'proxy';
  /** Readiness: the model is loaded and warmed (inference) or the configuration is valid (proxy). */
  isReady(): boolean;
  listModels(ctx: RequestContext): Promise<Model[]>;
  /** Throws ApiError (404 model_not_found, 400, 429, ...) before any chunk is produced. */
  createCompletion(request: CompletionRequest, ctx: RequestContext): Promise<BackendResult<Completion, CompletionChunk>>;
  createChatCompletion(
    request: ChatCompletionRequest,
    ctx: RequestContext,
  ): Promise<BackendResult<ChatCompletion, ChatCompletionChunk>>;
  /** Only backends that own a tokenizer implement these; the HTTP layer answers 404 otherwise. */
  tokenize?(request: TokenizeRequest, ctx: RequestContext): Promise<TokenizeResult>;
  detokenize?(request: DetokenizeRequest, ctx: RequestContext): Promise<{ prompt: string }>;
  /** Finishes in-flight work (bounded by the caller's drain timeout) and releases resources. */
  close(): Promise<void>;
}
