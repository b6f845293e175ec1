// What the inference variant's routes call: validated OpenAI requests in, OpenAI-shaped bodies or
// chunks out. The engine-backed backend, the loading stand-in and test doubles implement it.
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { Completion, CompletionChoice } from 'openai/resources/completions';
import type { Model } from 'openai/resources/models';
import type { Backend, RequestContext } from '../backend';
import type { ChatCompletionRequest, CompletionRequest, DetokenizeRequest, TokenizeRequest } from './schemas';

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

export interface InferenceApi {
  listModels(ctx: RequestContext): Promise<Model[]>;
  /** Throws ApiError (404 model_not_found, 400, 429, ...) before any chunk is produced. */
  createCompletion(request: CompletionRequest, ctx: RequestContext): Promise<BackendResult<Completion, CompletionChunk>>;
  createChatCompletion(
    request: ChatCompletionRequest,
    ctx: RequestContext,
  ): Promise<BackendResult<ChatCompletion, ChatCompletionChunk>>;
  /** Only backends that own a tokenizer implement these; the routes answer 404 otherwise. */
  tokenize?(request: TokenizeRequest, ctx: RequestContext): Promise<TokenizeResult>;
  detokenize?(request: DetokenizeRequest, ctx: RequestContext): Promise<{ prompt: string }>;
}

/** The inference variant: its API, served by the routes in ./routes. */
export interface InferenceBackend extends Backend, InferenceApi {
  readonly variant: 'inference';
}
